import { lcsLength } from "./lcs";
import { ngramCounts } from "./tokenize";

/**
 * Google's rouge-score tokenizer with its defaults (no stemmer): lowercase, every run of characters
 * other than a-z and 0-9 becomes a separator. Non-ASCII letters are therefore dropped entirely.
 */
export function rougeTokens(text: string): string[] {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, " ")
    .split(" ")
    .filter((t) => t.length > 0);
}

const fmeasure = (p: number, r: number) => (p + r > 0 ? (2 * p * r) / (p + r) : 0);

/** rouge-score `RougeScorer(["rougeN"]).score(reference, candidate)["rougeN"].fmeasure`. */
export function rougeN(reference: string, candidate: string, n: number): number {
  const target = ngramCounts(rougeTokens(reference), n);
  const prediction = ngramCounts(rougeTokens(candidate), n);
  let overlap = 0;
  let targetCount = 0;
  let predictionCount = 0;
  for (const [gram, count] of target) {
    overlap += Math.min(count, prediction.get(gram) ?? 0);
    targetCount += count;
  }
  for (const count of prediction.values()) predictionCount += count;
  return fmeasure(overlap / Math.max(predictionCount, 1), overlap / Math.max(targetCount, 1));
}

/** rouge-score `RougeScorer(["rougeL"]).score(reference, candidate)["rougeL"].fmeasure` (sentence-level LCS). */
export function rougeL(reference: string, candidate: string): number {
  const target = rougeTokens(reference);
  const prediction = rougeTokens(candidate);
  if (target.length === 0 || prediction.length === 0) return 0;
  const lcs = lcsLength(target, prediction);
  return fmeasure(lcs / prediction.length, lcs / target.length);
}
