import { ngramCounts } from "./tokenize";

/** Python's `sys.float_info.min`: NLTK stands it in for a zero n-gram precision (method0, no smoothing). */
const FLOAT_MIN = 2.2250738585072014e-308;

/**
 * NLTK 3.8 `sentence_bleu([reference], hypothesis)` with its defaults: weights (0.25, 0.25, 0.25, 0.25),
 * no smoothing (SmoothingFunction.method0), no auto-reweighing. A missing n-gram order makes the score
 * ~1e-77 or smaller, not exactly 0; no unigram match at all makes it exactly 0.
 */
export function sentenceBleu(reference: string[], hypothesis: string[], maxOrder = 4): number {
  const precisions: { num: number; den: number }[] = [];
  for (let n = 1; n <= maxOrder; n++) {
    const hyp = ngramCounts(hypothesis, n);
    const ref = ngramCounts(reference, n);
    let num = 0;
    let total = 0;
    for (const [gram, count] of hyp) {
      num += Math.min(count, ref.get(gram) ?? 0);
      total += count;
    }
    precisions.push({ num, den: Math.max(1, total) });
  }
  if (precisions[0]!.num === 0) return 0;
  const hypLen = hypothesis.length;
  const refLen = reference.length;
  const bp = hypLen > refLen ? 1 : hypLen === 0 ? 0 : Math.exp(1 - refLen / hypLen);
  let logSum = 0;
  for (const p of precisions) logSum += (1 / maxOrder) * Math.log(p.num === 0 ? FLOAT_MIN : p.num / p.den);
  return bp * Math.exp(logSum);
}
