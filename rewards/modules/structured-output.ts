import * as z from "zod";
import { defineReward } from "../core/define-reward";
import { extractJson } from "../core/extract-json";
import { compileSchemaSync, SchemaError } from "../verifiers/json-schema/compile";
import { pickDraft } from "../verifiers/json-schema/draft";
import { type Failure, PartialBudgetExceeded, partialCredit } from "../verifiers/json-schema/partial";

/**
 * Scoring. F is the set of graded fields: the keys of item.expected when the row has one, else the schema's
 * required properties plus any other declared property the output contains. A field earns credit when it is
 * present, satisfies its part of the schema and, when item.expected gives a value, matches it.
 *
 *   fields = (fields with credit) / |F|          (1 when F is empty)
 *   score  = SCHEMA_WEIGHT * (document valid ? 1 : 0) + (1 - SCHEMA_WEIGHT) * fields
 *
 * So a fully valid, fully correct object scores 1; a valid object with half its fields wrong 0.6; an object
 * with every field right but one extra property the schema forbids 0.8; no JSON object at all 0.
 * Values match as JSON, except that numbers compare with a relative tolerance of 1e-9 and strings ignoring
 * case, surrounding spaces and repeated spaces.
 */
export const SCHEMA_WEIGHT = 0.2;

const JsonObject = z.record(z.string(), z.unknown());

/** A schema given as an object, or as JSON text (rows often carry it as a string). */
const SchemaInput = z.union([
  JsonObject,
  z.string().transform((text, ctx) => {
    try {
      const value = JSON.parse(text);
      if (value !== null && typeof value === "object" && !Array.isArray(value)) return value as Record<string, unknown>;
    } catch {}
    ctx.addIssue({ code: "custom", message: "schema must be a JSON object, or JSON text of one" });
    return z.NEVER;
  }),
]);

/** The top-level property a failure is about (`/a%20b/0` → "a b"), or null for the document itself. */
function fieldOf(failure: Failure): string | null {
  if (!failure.instancePath) return null;
  const first = failure.instancePath.slice(1).split("/")[0]!;
  return decodeURIComponent(first).replace(/~1/g, "/").replace(/~0/g, "~");
}

const normText = (s: string) => s.trim().replace(/\s+/g, " ").toLowerCase();

export function sameValue(given: unknown, expected: unknown): boolean {
  if (typeof given === "number" && typeof expected === "number") {
    return Math.abs(given - expected) <= 1e-9 * Math.max(1, Math.abs(expected));
  }
  if (typeof given === "string" && typeof expected === "string") return normText(given) === normText(expected);
  if (Array.isArray(given) && Array.isArray(expected)) {
    return given.length === expected.length && given.every((g, i) => sameValue(g, expected[i]));
  }
  if (given && expected && typeof given === "object" && typeof expected === "object") {
    if (Array.isArray(given) || Array.isArray(expected)) return false;
    const gk = Object.keys(given);
    const ek = Object.keys(expected);
    return (
      gk.length === ek.length &&
      ek.every(
        (k) =>
          Object.hasOwn(given, k) &&
          sameValue((given as Record<string, unknown>)[k], (expected as Record<string, unknown>)[k]),
      )
    );
  }
  return given === expected;
}

const show = (v: unknown) => {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 60 ? `${s.slice(0, 59)}…` : s;
};

export const structuredOutput = defineReward({
  name: "structured-output",
  description:
    "JSON output that must match item.schema, with field-level partial credit: each graded field earns credit " +
    "when present, valid and (if item.expected gives it) equal to the expected value; schema validity of the " +
    `whole document is worth ${SCHEMA_WEIGHT}.`,
  input: z.object({
    schema: SchemaInput,
    expected: JsonObject.optional(),
  }),
  score({ completion, item }) {
    const extracted = extractJson(completion);
    if (!extracted.ok) return { score: 0, valid: true, reason: extracted.reason, metrics: { json: { score: 0 } } };
    const doc = extracted.value;
    if (doc === null || typeof doc !== "object" || Array.isArray(doc)) {
      return { score: 0, valid: true, reason: "expected a JSON object", metrics: { json: { score: 0 } } };
    }
    const output = doc as Record<string, unknown>;

    let valid: boolean;
    let failures: Failure[] | null;
    try {
      // The JSON Schema verifier's compiler: a broken schema, or a $ref to one nobody registered, throws.
      const compiled = compileSchemaSync(item.schema, { draft: pickDraft(item.schema) });
      valid = compiled.validate(output).valid;
      try {
        failures = valid ? [] : partialCredit(compiled, output).failures;
      } catch (err) {
        // Too big to attribute failures to fields: the document still gets its schema verdict.
        if (!(err instanceof PartialBudgetExceeded)) throw err;
        failures = null;
      }
    } catch (err) {
      if (!(err instanceof SchemaError)) throw err;
      return { score: 0, valid: false, error: { code: "INVALID_INPUT", message: `item.schema: ${err.message}` } };
    }
    const fieldErrors = new Map<string, string>();
    for (const f of failures ?? []) {
      const field = fieldOf(f);
      if (field !== null && !fieldErrors.has(field)) fieldErrors.set(field, f.message);
    }
    const detail = failures?.[0];

    const properties = JsonObject.safeParse(item.schema.properties).data ?? {};
    const required = Array.isArray(item.schema.required) ? item.schema.required.map(String) : [];
    const fields = item.expected
      ? Object.keys(item.expected)
      : [...new Set([...required, ...Object.keys(properties).filter((k) => Object.hasOwn(output, k))])];

    const metrics: Record<string, { score: number; reason?: string }> = {
      json: { score: 1 },
      schema: valid
        ? { score: 1 }
        : {
            score: 0,
            reason: detail ? `${detail.instancePath || "/"}: ${detail.message}` : "does not match the schema",
          },
    };
    let credited = 0;
    for (const f of fields) {
      let problem: string | null = null;
      if (!Object.hasOwn(output, f)) problem = "missing";
      else if (failures === null && !valid) problem = "not checked: the document is too large for field-level credit";
      else if (fieldErrors.has(f)) problem = fieldErrors.get(f)!;
      else if (item.expected && !sameValue(output[f], item.expected[f])) {
        problem = `expected ${show(item.expected[f])}, got ${show(output[f])}`;
      }
      if (!problem) credited++;
      metrics[`field.${f}`] = problem ? { score: 0, reason: problem } : { score: 1 };
    }
    const fieldScore = fields.length ? credited / fields.length : 1;
    const score = SCHEMA_WEIGHT * (valid ? 1 : 0) + (1 - SCHEMA_WEIGHT) * fieldScore;
    const reason = `${valid ? "schema valid" : "schema invalid"}; ${credited}/${fields.length} fields right`;
    return { score, valid: true, reason, metrics };
  },
});
