import * as z from "zod";
import { defineGraderType } from "../core/grader";
import { checkTemplate, tryRender } from "../core/template";
import { invalid, type RewardResult, type Sample } from "../core/types";

/**
 * Renders a grader's text operand. A missing `{{item.…}}` is the evaluator's problem (the dataset row
 * lacks the field): `valid: false`. A missing `{{sample.output_json.…}}` is the model's (no such JSON in
 * its completion): a valid score of 0.
 */
export function renderOperand(
  template: string,
  sample: Sample,
  field: string,
): { ok: true; text: string } | { ok: false; result: RewardResult } {
  const r = tryRender(template, sample);
  if (r.ok) return { ok: true, text: typeof r.value === "string" ? r.value : JSON.stringify(r.value) };
  if (r.blame === "model") {
    const reason = `${field} ${template}: the completion has no such JSON value`;
    return { ok: false, result: { score: 0, valid: true, reason } };
  }
  return { ok: false, result: invalid("INVALID_INPUT", `${field}: ${r.message}`) };
}

/** Shortens a value for a reason line. */
export function quote(s: string, max = 80): string {
  const q = JSON.stringify(s.length > max ? `${s.slice(0, max)}…` : s);
  return s.length > max ? `${q} (${s.length} chars)` : q;
}

export const StringCheckGraderConfig = z
  .object({
    type: z.literal("string_check"),
    name: z.string().min(1),
    input: z.string(),
    reference: z.string(),
    operation: z.enum(["eq", "ne", "like", "ilike"]),
  })
  .superRefine((cfg, ctx) => {
    checkTemplate(cfg.input, "input", ctx);
    checkTemplate(cfg.reference, "reference", ctx);
  });
export type StringCheckGraderConfig = z.infer<typeof StringCheckGraderConfig>;

const VERBS = {
  eq: ["equals", "does not equal"],
  ne: ["differs from", "does not differ from"],
  like: ["contains", "does not contain"],
  ilike: ["contains (ignoring case)", "does not contain (ignoring case)"],
} as const;

/**
 * `{ type: "string_check", name, input, reference, operation }` (OpenAI's format): 1 when the rendered
 * input and reference satisfy the operation, else 0. `eq`/`ne` compare exactly (no trimming);
 * `like`: the input contains the reference; `ilike`: the same after lowercasing both.
 */
export const stringCheckGrader = defineGraderType({
  type: "string_check",
  description:
    "Compares the rendered input with the reference: eq, ne, like (contains), ilike (contains, ignoring case).",
  config: StringCheckGraderConfig,
  build(cfg) {
    return {
      ref: "string_check",
      score(sample) {
        const input = renderOperand(cfg.input, sample, "input");
        if (!input.ok) return input.result;
        const reference = renderOperand(cfg.reference, sample, "reference");
        if (!reference.ok) return reference.result;
        const a = input.text;
        const b = reference.text;
        let pass: boolean;
        switch (cfg.operation) {
          case "eq":
            pass = a === b;
            break;
          case "ne":
            pass = a !== b;
            break;
          case "like":
            pass = a.includes(b);
            break;
          case "ilike":
            pass = a.toLowerCase().includes(b.toLowerCase());
            break;
        }
        const verb = VERBS[cfg.operation][pass ? 0 : 1];
        return {
          score: pass ? 1 : 0,
          valid: true,
          reason: `${cfg.operation}: input ${quote(a)} ${verb} reference ${quote(b)}`,
        };
      },
    };
  },
});
