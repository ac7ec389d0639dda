import { ascending, percentile, scoreGroups, zeroVarianceGroups } from "./stats";
import type { RewardResult, Sample } from "./types";

/** Limits a pre-flight check holds a grader to. Each can be overridden per request. */
export interface PreflightThresholds {
  /** Largest share of samples whose two scorings may differ: 0, since a reward must be deterministic. */
  maxNondeterministic: number;
  /** Largest share of invalid results (the evaluator failed). */
  maxInvalidRate: number;
  /** Largest p99 latency per sample, ms: above it the trainer would wait on the verifier. */
  maxP99Ms: number;
  /** Largest share of GRPO groups whose rewards do not vary (no learning signal). */
  maxZeroVarianceGroups: number;
  /** Largest |Pearson r| between score and completion length (a reward-hacking smell). */
  maxLengthCorrelation: number;
  /** Fewest samples a certificate is issued on. */
  minSamples: number;
}

export const DEFAULT_THRESHOLDS: PreflightThresholds = {
  maxNondeterministic: 0,
  maxInvalidRate: 0.05,
  maxP99Ms: 2_000,
  maxZeroVarianceGroups: 0.5,
  maxLengthCorrelation: 0.5,
  minSamples: 8,
};

export interface PreflightCheck {
  name: string;
  passed: boolean;
  value: number | null;
  limit: number | null;
  detail: string;
}

export interface PreflightReport {
  verdict: "pass" | "fail";
  reasons: string[];
  checks: PreflightCheck[];
  samples: number;
  determinism: { mismatches: number; rate: number; examples: number[] };
  oneResultPerSample: boolean;
  invalidRate: number;
  latencyMs: { p50: number; p99: number };
  groups: { count: number; zeroVariance: number; share: number | null };
  lengthCorrelation: number | null;
  meanScore: number | null;
}

const same = (a: RewardResult, b: RewardResult) =>
  a.valid === b.valid && (a.score === b.score || Math.abs(a.score - b.score) <= 1e-12);

/** Pearson correlation; null when either side does not vary or there are fewer than 3 points. */
export function pearson(xs: number[], ys: number[]): number | null {
  const n = xs.length;
  if (n < 3) return null;
  const mx = xs.reduce((s, x) => s + x, 0) / n;
  const my = ys.reduce((s, y) => s + y, 0) / n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = xs[i]! - mx;
    const dy = ys[i]! - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  if (sxx === 0 || syy === 0) return null;
  return sxy / Math.sqrt(sxx * syy);
}

const r4 = (x: number) => Math.round(x * 1e4) / 1e4;

/**
 * Judges a grader from two scorings of the same pilot samples. Pure: the caller runs the grader.
 * A check with nothing to measure (no groups, too few valid samples for a correlation) passes and says so.
 */
export function certify(
  samples: Sample[],
  first: RewardResult[],
  second: RewardResult[],
  latencies: number[],
  thresholds: PreflightThresholds = DEFAULT_THRESHOLDS,
): PreflightReport {
  const n = samples.length;
  const checks: PreflightCheck[] = [];
  const oneResultPerSample = first.length === n && second.length === n;
  checks.push({
    name: "one_result_per_sample",
    passed: oneResultPerSample,
    value: first.length,
    limit: n,
    detail: oneResultPerSample ? `${n} results for ${n} samples` : `${first.length} results for ${n} samples`,
  });
  checks.push({
    name: "sample_count",
    passed: n >= thresholds.minSamples,
    value: n,
    limit: thresholds.minSamples,
    detail: `${n} pilot samples (at least ${thresholds.minSamples} needed)`,
  });

  const mismatched: number[] = [];
  for (let i = 0; i < n; i++) if (!first[i] || !second[i] || !same(first[i]!, second[i]!)) mismatched.push(i);
  const nondet = n ? mismatched.length / n : 0;
  checks.push({
    name: "determinism",
    passed: nondet <= thresholds.maxNondeterministic,
    value: r4(nondet),
    limit: thresholds.maxNondeterministic,
    detail: mismatched.length
      ? `${mismatched.length} of ${n} samples scored differently on the second pass (first: samples ${mismatched.slice(0, 5).join(", ")})`
      : "both passes agree on every sample",
  });

  const invalid = first.filter((r) => !r.valid).length;
  const invalidRate = n ? invalid / n : 0;
  checks.push({
    name: "invalid_rate",
    passed: invalidRate <= thresholds.maxInvalidRate,
    value: r4(invalidRate),
    limit: thresholds.maxInvalidRate,
    detail: `${invalid} of ${n} results are invalid (the evaluator failed)`,
  });

  const sorted = ascending(latencies);
  const p50 = percentile(sorted, 50);
  const p99 = percentile(sorted, 99);
  checks.push({
    name: "latency_p99",
    passed: p99 <= thresholds.maxP99Ms,
    value: r4(p99),
    limit: thresholds.maxP99Ms,
    detail: `p50 ${p50.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms per sample`,
  });

  const groups = scoreGroups(samples, first);
  const zeroVar = zeroVarianceGroups(groups);
  const share = groups.length ? zeroVar / groups.length : null;
  checks.push({
    name: "zero_variance_groups",
    passed: share === null || share <= thresholds.maxZeroVarianceGroups,
    value: share === null ? null : r4(share),
    limit: thresholds.maxZeroVarianceGroups,
    detail:
      share === null
        ? "no GRPO groups of 2 or more valid samples: give samples a `group` to measure the learning signal"
        : `${zeroVar} of ${groups.length} groups give every completion the same reward (no learning signal)`,
  });

  const validIdx = first.map((r, i) => (r.valid ? i : -1)).filter((i) => i >= 0);
  const corr = pearson(
    validIdx.map((i) => first[i]!.score),
    validIdx.map((i) => samples[i]!.completion.length),
  );
  checks.push({
    name: "length_correlation",
    passed: corr === null || Math.abs(corr) <= thresholds.maxLengthCorrelation,
    value: corr === null ? null : r4(corr),
    limit: thresholds.maxLengthCorrelation,
    detail:
      corr === null
        ? "scores or lengths do not vary: correlation undefined"
        : `Pearson r between score and completion length is ${corr.toFixed(3)}${Math.abs(corr) > thresholds.maxLengthCorrelation ? ": the reward may be paying for length" : ""}`,
  });

  const failed = checks.filter((c) => !c.passed);
  const valid = first.filter((r) => r.valid);
  return {
    verdict: failed.length ? "fail" : "pass",
    reasons: failed.length
      ? failed.map((c) => `${c.name}: ${c.detail}`)
      : [`all ${checks.length} checks passed on ${n} samples`],
    checks,
    samples: n,
    determinism: { mismatches: mismatched.length, rate: r4(nondet), examples: mismatched.slice(0, 20) },
    oneResultPerSample,
    invalidRate: r4(invalidRate),
    latencyMs: { p50: r4(p50), p99: r4(p99) },
    groups: { count: groups.length, zeroVariance: zeroVar, share: share === null ? null : r4(share) },
    lengthCorrelation: corr === null ? null : r4(corr),
    meanScore: valid.length ? r4(valid.reduce((s, r) => s + r.score, 0) / valid.length) : null,
  };
}
