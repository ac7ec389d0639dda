import { lcsLength } from "./lcs";

/**
 * rapidfuzz's `fuzz.ratio(a, b) / 100`: the normalised Indel similarity over code points,
 * 1 - (|a| + |b| - 2·LCS) / (|a| + |b|) = 2·LCS / (|a| + |b|); 1 when both are empty (rapidfuzz 3).
 * No preprocessing: case and punctuation count.
 */
export function fuzzyRatio(a: string, b: string): number {
  const x = Array.from(a);
  const y = Array.from(b);
  const total = x.length + y.length;
  if (total === 0) return 1;
  return (2 * lcsLength(x, y)) / total;
}
