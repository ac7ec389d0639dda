import { ngramCounts } from "./tokenize";

/**
 * NLTK 3.8 `sentence_gleu([reference], hypothesis)` (min_len 1, max_len 4): matching n-grams of orders
 * 1..4 over the larger of the hypothesis' and the reference's n-gram counts, i.e. min(precision, recall).
 * 0 when both have no n-grams.
 */
export function sentenceGleu(reference: string[], hypothesis: string[], minLen = 1, maxLen = 4): number {
  let tp = 0;
  let hypTotal = 0;
  let refTotal = 0;
  for (let n = minLen; n <= maxLen; n++) {
    const hyp = ngramCounts(hypothesis, n);
    const ref = ngramCounts(reference, n);
    for (const [gram, count] of hyp) {
      hypTotal += count;
      tp += Math.min(count, ref.get(gram) ?? 0);
    }
    for (const count of ref.values()) refTotal += count;
  }
  const all = Math.max(hypTotal, refTotal);
  return all > 0 ? tp / all : 0;
}
