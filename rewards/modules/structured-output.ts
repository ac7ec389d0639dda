import { type OutputUnit, type SchemaDraft, Validator } from "@cfworker/json-schema";
import * as z from "zod";
import { defineReward } from "../core/define-reward";
import { extractJson } from "../core/extract-json";

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

const DRAFTS: [RegExp, SchemaDraft][] = [
  [/draft-04/, "4"],
  [/draft-07/, "7"],
  [/2019-09/, "2019-09"],
];

// Compiling a validator costs ~0.25 ms: rows of one dataset usually share a schema, so keep a few.
const validators = new Map<string, Validator>();
function validatorFor(schema: Record<string, unknown>): Validator {
  const key = JSON.stringify(schema);
  let v = validators.get(key);
  if (!v) {
    const uri = typeof schema.$schema === "string" ? schema.$schema : "";
    const draft = DRAFTS.find(([re]) => re.test(uri))?.[1] ?? "2020-12";
    v = new Validator(schema as never, draft, false);
    if (validators.size >= 64) validators.delete(validators.keys().next().value!);
    validators.set(key, v);
  }
  return v;
}

/** The top-level property an error is about (`#/a%20b/0` → "a b"), or null for the document itself. */
function fieldOf(error: OutputUnit): string | null {
  const loc = error.instanceLocation.replace(/^#\/?/, "");
  if (!loc) return null;
  const first = loc.split("/")[0]!;
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

    let verdict: { valid: boolean; errors: OutputUnit[] };
    try {
      verdict = validatorFor(item.schema).validate(output);
    } catch (err) {
      // An unresolvable $ref and the like: the row's schema is broken, which is not the model's fault.
      const message = err instanceof Error ? err.message.split("\n")[0]! : String(err);
      return {
        score: 0,
        valid: false,
        error: { code: "INVALID_INPUT", message: `item.schema is unusable: ${message}` },
      };
    }
    const fieldErrors = new Map<string, string>();
    for (const e of verdict.errors) {
      const f = fieldOf(e);
      // cfworker lists the enclosing keyword's error before the deeper one: keep the deepest, it says the most.
      if (f !== null) fieldErrors.set(f, e.error);
    }
    // The first error that is not just "a property does not match" (whose detail follows it).
    const detail =
      verdict.errors.find((e) => !(e.keyword === "properties" && fieldOf(e) === null)) ?? verdict.errors[0];

    const properties = JsonObject.safeParse(item.schema.properties).data ?? {};
    const required = Array.isArray(item.schema.required) ? item.schema.required.map(String) : [];
    const fields = item.expected
      ? Object.keys(item.expected)
      : [...new Set([...required, ...Object.keys(properties).filter((k) => Object.hasOwn(output, k))])];

    const metrics: Record<string, { score: number; reason?: string }> = {
      json: { score: 1 },
      schema: verdict.valid
        ? { score: 1 }
        : { score: 0, reason: detail ? `${detail.instanceLocation}: ${detail.error}` : "does not match the schema" },
    };
    let credited = 0;
    for (const f of fields) {
      let problem: string | null = null;
      if (!Object.hasOwn(output, f)) problem = "missing";
      else if (fieldErrors.has(f)) problem = fieldErrors.get(f)!;
      else if (item.expected && !sameValue(output[f], item.expected[f])) {
        problem = `expected ${show(item.expected[f])}, got ${show(output[f])}`;
      }
      if (!problem) credited++;
      metrics[`field.${f}`] = problem ? { score: 0, reason: problem } : { score: 1 };
    }
    const fieldScore = fields.length ? credited / fields.length : 1;
    const score = SCHEMA_WEIGHT * (verdict.valid ? 1 : 0) + (1 - SCHEMA_WEIGHT) * fieldScore;
    const reason = `${verdict.valid ? "schema valid" : "schema invalid"}; ${credited}/${fields.length} fields right`;
    return { score, valid: true, reason, metrics };
  },
});
