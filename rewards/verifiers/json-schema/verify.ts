import type { CompiledSchema, OutputUnit } from "./compile";
import { type Failure, PartialBudgetExceeded, partialCredit } from "./partial";

export interface Verdict {
  /** The document satisfies the schema (the validator's verdict). */
  valid: boolean;
  /** 1 when valid; otherwise the partial credit in [0, 1) or 0 when partial credit is off. */
  score: number;
  /** Partial credit even when it is off (0 when it could not be computed). */
  partial: number;
  failures: Failure[];
  checked: number;
  failed: number;
}

const APPLICATORS = new Set([
  "$ref",
  "$recursiveRef",
  "$dynamicRef",
  "allOf",
  "properties",
  "patternProperties",
  "items",
  "prefixItems",
  "if",
]);

/** The validator's leaf errors as failures, for when partial credit cannot speak. */
function fromValidator(errors: OutputUnit[]): Failure[] {
  const leaves = errors.filter((e) => !APPLICATORS.has(e.keyword));
  return (leaves.length ? leaves : errors).map((e) => ({
    instancePath: e.instanceLocation.replace(/^#/, ""),
    schemaPath: e.keywordLocation.replace(/^#/, ""),
    keyword: e.keyword,
    message: e.error,
  }));
}

/**
 * Validates a document and scores it. The verdict is always the validator's (the one the conformance
 * suite checks); partial credit only grades documents the validator rejects, and is kept below 1 for them.
 */
export function verifyDocument(compiled: CompiledSchema, instance: unknown, opts: { partialCredit: boolean }): Verdict {
  const v = compiled.validate(instance);
  if (v.valid) return { valid: true, score: 1, partial: 1, failures: [], checked: 0, failed: 0 };
  let p: ReturnType<typeof partialCredit>;
  try {
    p = partialCredit(compiled, instance);
  } catch (err) {
    if (!(err instanceof PartialBudgetExceeded)) throw err;
    return { valid: false, score: 0, partial: 0, failures: fromValidator(v.errors), checked: 0, failed: 0 };
  }
  let { score, failures } = p;
  if (failures.length === 0) {
    // The two disagree (a keyword the walker does not model): trust the validator, count one failed check.
    failures = fromValidator(v.errors);
    score = p.checked / (p.checked + 1);
  }
  const partial = Math.min(score, 1 - 1e-9);
  return {
    valid: false,
    score: opts.partialCredit ? partial : 0,
    partial,
    failures,
    checked: p.checked,
    failed: Math.max(p.failed, 1),
  };
}
