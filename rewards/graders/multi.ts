import * as z from "zod";
import { normalizeResult } from "../core/engine";
import { defineGraderType } from "../core/grader";
import { clamp01, invalid, type RewardResult, type SubMetric } from "../core/types";
import { ExpressionError, parseExpression } from "../expr";

interface Issue {
  path: (string | number)[];
  message: string;
}
type ValidateChild = (config: unknown, path: (string | number)[]) => { valid: boolean; errors: Issue[] };

let validateChild: ValidateChild | undefined;

/**
 * The registry (rewards/graders/index.ts) hands multi its validator once, so that validating a multi
 * config validates its sub-graders too (POST /v1/graders/validate reports their errors) without this
 * module importing the registry that lists it.
 */
export function setSubGraderValidator(validate: ValidateChild): void {
  validateChild = validate;
}

/** Sub-grader names are the variables of `calculate_output`. */
const GRADER_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** multi inside multi, at most this deep (validation recurses once per level). */
export const MAX_MULTI_DEPTH = 8;
/**
 * OpenAI documents graders as returning a grade in [0, 1] and says nothing of multi outputs beyond it, so
 * a formula that leaves [0, 1] is the grader's fault: `valid: false` (INVALID_SCORE), not a silent clamp.
 * Only floating-point dust (a weighted mean whose weights sum to 1 giving 1.0000000000000002) is snapped.
 */
const RANGE_TOLERANCE = 1e-9;

function multiDepth(config: unknown): number {
  let depth = 0;
  let level: unknown[] = [config];
  while (level.length) {
    const next: unknown[] = [];
    for (const c of level) {
      const g = c as { type?: unknown; graders?: unknown };
      if (g && g.type === "multi" && g.graders && typeof g.graders === "object") next.push(...Object.values(g.graders));
    }
    if (next.length === 0) break;
    depth++;
    if (depth > MAX_MULTI_DEPTH) break;
    level = next;
  }
  return depth;
}

export const MultiGraderConfig = z
  .object({
    type: z.literal("multi"),
    name: z.string().min(1).optional(),
    graders: z
      .record(z.string(), z.unknown())
      .refine((g) => Object.keys(g).length > 0, "graders must name at least one grader"),
    calculate_output: z.string().min(1),
  })
  .superRefine((cfg, ctx) => {
    if (multiDepth(cfg) > MAX_MULTI_DEPTH) {
      ctx.addIssue({
        code: "custom",
        path: ["graders"],
        message: `multi graders nest at most ${MAX_MULTI_DEPTH} deep`,
      });
      return;
    }
    const names = Object.keys(cfg.graders);
    for (const name of names) {
      if (!GRADER_NAME.test(name)) {
        ctx.addIssue({
          code: "custom",
          path: ["graders", name],
          message: `grader name ${JSON.stringify(name)} must be usable in calculate_output: letters, digits and _, not starting with a digit`,
        });
      }
      for (const issue of validateChild?.(cfg.graders[name], ["graders", name]).errors ?? []) {
        ctx.addIssue({ code: "custom", path: issue.path, message: issue.message });
      }
    }
    try {
      parseExpression(cfg.calculate_output, names);
    } catch (err) {
      if (!(err instanceof ExpressionError)) throw err;
      ctx.addIssue({ code: "custom", path: ["calculate_output"], message: err.message });
    }
  });
export type MultiGraderConfig = z.infer<typeof MultiGraderConfig>;

const round = (x: number) => Math.round(x * 1e6) / 1e6;

/**
 * `{ type: "multi", name?, graders: { <name>: GraderConfig }, calculate_output }` (OpenAI's format):
 * scores every sub-grader, then evaluates `calculate_output` (rewards/expr) with each name bound to its
 * sub-grader's score. Any sub-grader failing (`valid: false`) fails the whole result, naming it. Every
 * sub-grader's score is in `metrics[<name>]`, its own metrics in `metrics["<name>.<metric>"]`.
 *
 * @example
 * { "type": "multi", "graders": {
 *     "exact": { "type": "string_check", "name": "exact", "input": "{{sample.output_text}}", "reference": "{{item.answer}}", "operation": "eq" },
 *     "close": { "type": "text_similarity", "name": "close", "input": "{{sample.output_text}}", "reference": "{{item.answer}}", "evaluation_metric": "fuzzy_match" } },
 *   "calculate_output": "max(exact, 0.5 * close)" }
 */
export const multiGrader = defineGraderType({
  type: "multi",
  description: "Combines named sub-graders' scores with an arithmetic formula (calculate_output).",
  config: MultiGraderConfig,
  children: (cfg) => Object.entries(cfg.graders).map(([name, g]) => [["graders", name], g]),
  build(cfg, deps) {
    const names = Object.keys(cfg.graders);
    const children = names.map((name) => ({ name, grader: deps.build(cfg.graders[name]) }));
    const formula = parseExpression(cfg.calculate_output, names);
    return {
      ref: "multi",
      async score(sample, ctx) {
        const results = await Promise.all(
          children.map(async ({ grader }) => {
            try {
              return normalizeResult(await grader.score(sample, ctx));
            } catch (err) {
              return invalid(
                "EVALUATOR_ERROR",
                (err instanceof Error ? err.message : String(err)) || "evaluator threw",
              );
            }
          }),
        );
        const metrics: Record<string, SubMetric> = {};
        children.forEach(({ name }, i) => {
          const r = results[i]!;
          metrics[name] = r.reason === undefined ? { score: r.score } : { score: r.score, reason: r.reason };
          for (const [key, m] of Object.entries(r.metrics ?? {})) metrics[`${name}.${key}`] = m;
        });
        const failed = children.findIndex((_, i) => !results[i]!.valid);
        if (failed >= 0) {
          const r = results[failed]!;
          const message = `sub-grader ${JSON.stringify(children[failed]!.name)} failed: ${r.error?.message ?? r.reason ?? "evaluator failed"}`;
          return { ...invalid((r.error?.code ?? "EVALUATOR_ERROR") as "EVALUATOR_ERROR", message), metrics };
        }
        const vars: Record<string, number> = Object.create(null);
        children.forEach(({ name }, i) => {
          vars[name] = results[i]!.score;
        });
        const value = formula.evaluate(vars);
        const bound = names.map((n) => `${n}=${round(vars[n]!)}`).join(", ");
        if (!Number.isFinite(value)) {
          return {
            ...invalid("INVALID_SCORE", `calculate_output ${cfg.calculate_output} gave ${value} with ${bound}`),
            metrics,
          };
        }
        if (value < -RANGE_TOLERANCE || value > 1 + RANGE_TOLERANCE) {
          const message = `calculate_output ${cfg.calculate_output} gave ${value} with ${bound}, outside [0, 1]; bound it, e.g. clip(..., 0, 1)`;
          return { ...invalid("INVALID_SCORE", message), metrics };
        }
        const score = clamp01(value);
        const result: RewardResult = {
          score,
          valid: true,
          reason: `${cfg.calculate_output} = ${round(score)} with ${bound}`,
          metrics,
        };
        return result;
      },
    };
  },
});
