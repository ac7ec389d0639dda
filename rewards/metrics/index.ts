import { sentenceBleu } from "./bleu";
import { fuzzyRatio } from "./fuzzy";
import { sentenceGleu } from "./gleu";
import { singleMeteor } from "./meteor";
import { rougeL, rougeN } from "./rouge";
import { whitespaceTokens } from "./tokenize";

export const TEXT_METRICS = [
  "fuzzy_match",
  "bleu",
  "gleu",
  "meteor",
  "rouge_1",
  "rouge_2",
  "rouge_3",
  "rouge_4",
  "rouge_5",
  "rouge_l",
] as const;
export type TextMetric = (typeof TEXT_METRICS)[number];

/**
 * Similarity in [0, 1] of `candidate` (the graded text) to `reference`, by the reference definition of
 * each metric (see docs/graders.md). BLEU, GLEU and METEOR tokenise on whitespace as Python's
 * `str.split()` does; ROUGE uses rouge-score's own tokenizer; fuzzy_match compares code points.
 */
export function textSimilarity(metric: TextMetric, candidate: string, reference: string): number {
  switch (metric) {
    case "fuzzy_match":
      return fuzzyRatio(candidate, reference);
    case "bleu":
      return sentenceBleu(whitespaceTokens(reference), whitespaceTokens(candidate));
    case "gleu":
      return sentenceGleu(whitespaceTokens(reference), whitespaceTokens(candidate));
    case "meteor":
      return singleMeteor(whitespaceTokens(reference), whitespaceTokens(candidate));
    case "rouge_l":
      return rougeL(reference, candidate);
    default:
      return rougeN(reference, candidate, Number(metric.slice("rouge_".length)));
  }
}
