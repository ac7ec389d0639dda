import * as z from "zod";
import { defineGraderType } from "../core/grader";
import { checkTemplate } from "../core/template";
import { clamp01, invalid } from "../core/types";
import { TEXT_METRICS, textSimilarity } from "../metrics";
import { renderOperand } from "./string-check";

/**
 * Longest input or reference scored, in UTF-16 units. fuzzy_match and rouge_l are quadratic (bit-parallel
 * LCS: ~0.25 s for two 30,000-character texts on one core here); a grader must answer within a sample's
 * deadline, so longer text is `valid: false` rather than a score that arrives too late.
 */
export const MAX_TEXT_LENGTH = 30_000;

export const TextSimilarityGraderConfig = z
  .object({
    type: z.literal("text_similarity"),
    name: z.string().min(1),
    input: z.string(),
    reference: z.string(),
    evaluation_metric: z.enum(TEXT_METRICS, {
      error: (issue) =>
        `evaluation_metric must be one of ${TEXT_METRICS.join(", ")}${issue.input === "cosine" ? ' ("cosine" needs an embedding model and is not supported)' : ""}`,
    }),
    pass_threshold: z.number().min(0).max(1).optional(),
  })
  .superRefine((cfg, ctx) => {
    checkTemplate(cfg.input, "input", ctx);
    checkTemplate(cfg.reference, "reference", ctx);
  });
export type TextSimilarityGraderConfig = z.infer<typeof TextSimilarityGraderConfig>;

const round = (x: number) => Math.round(x * 1e6) / 1e6;

/**
 * `{ type: "text_similarity", name, input, reference, evaluation_metric, pass_threshold? }` (OpenAI's
 * format): the similarity of the rendered input to the reference by the metric (docs/graders.md gives
 * each definition). With `pass_threshold` the score is 1 when similarity >= threshold, else 0; the raw
 * similarity is always in `metrics[evaluation_metric]`.
 */
export const textSimilarityGrader = defineGraderType({
  type: "text_similarity",
  description:
    "Similarity of the rendered input to the reference: fuzzy_match, bleu, gleu, meteor, rouge_1..rouge_5, rouge_l; optional pass_threshold makes it 0/1.",
  config: TextSimilarityGraderConfig,
  build(cfg) {
    const metric = cfg.evaluation_metric;
    return {
      ref: "text_similarity",
      score(sample) {
        const input = renderOperand(cfg.input, sample, "input");
        if (!input.ok) return input.result;
        const reference = renderOperand(cfg.reference, sample, "reference");
        if (!reference.ok) return reference.result;
        for (const [field, text] of [
          ["input", input.text],
          ["reference", reference.text],
        ] as const) {
          if (text.length > MAX_TEXT_LENGTH) {
            return invalid(
              "INVALID_INPUT",
              `${field} is ${text.length} characters; text_similarity scores at most ${MAX_TEXT_LENGTH}`,
            );
          }
        }
        const similarity = clamp01(textSimilarity(metric, input.text, reference.text));
        const metrics = { [metric]: { score: similarity } };
        if (cfg.pass_threshold === undefined) {
          return { score: similarity, valid: true, reason: `${metric} = ${round(similarity)}`, metrics };
        }
        const pass = similarity >= cfg.pass_threshold;
        return {
          score: pass ? 1 : 0,
          valid: true,
          reason: `${metric} = ${round(similarity)} ${pass ? ">=" : "<"} pass_threshold ${cfg.pass_threshold}`,
          metrics,
        };
      },
    };
  },
});
