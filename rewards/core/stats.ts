import type { RewardResult, Sample } from "./types";

/** The nearest-rank p-th percentile (0–100) of an ascending array; 0 for an empty one. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return 0;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx]!;
}

/** An ascending copy, for percentile(). */
export const ascending = (xs: Iterable<number>): number[] => [...xs].sort((a, b) => a - b);

/**
 * The scores of the valid results, grouped by their sample's `group` (GRPO: completions of one prompt),
 * keeping only groups of 2 or more, where a spread of rewards can be measured. A group `1` and a group
 * `"1"` are different groups.
 */
export function scoreGroups(samples: readonly Sample[], results: readonly RewardResult[]): number[][] {
  const byGroup = new Map<string, number[]>();
  results.forEach((r, i) => {
    const g = samples[i]?.group;
    if (g === undefined || !r.valid) return;
    const key = `${typeof g}:${g}`;
    const scores = byGroup.get(key);
    if (scores) scores.push(r.score);
    else byGroup.set(key, [r.score]);
  });
  return [...byGroup.values()].filter((scores) => scores.length >= 2);
}

/** How many groups give every completion the same reward: no learning signal for GRPO. */
export function zeroVarianceGroups(groups: readonly number[][]): number {
  return groups.filter((scores) => scores.every((s) => Math.abs(s - scores[0]!) <= 1e-12)).length;
}
