import { describe, expect, it } from "vitest";
import { certify, DEFAULT_THRESHOLDS, pearson } from "../../rewards/core/preflight";
import type { RewardResult, Sample } from "../../rewards/core/types";

const ok = (score: number): RewardResult => ({ score, valid: true });
const bad: RewardResult = { score: 0, valid: false, error: { code: "EVALUATOR_ERROR", message: "boom" } };

function samples(n: number, groupSize = 4, len = (i: number) => 10 + ((i * 7) % 13)): Sample[] {
  return Array.from({ length: n }, (_, i) => ({
    completion: "x".repeat(len(i)),
    item: {},
    group: Math.floor(i / groupSize),
  }));
}

describe("pre-flight certificate", () => {
  it("passes a deterministic, valid, fast grader with signal in every group", () => {
    const s = samples(16);
    const results = s.map((_, i) => ok(i % 2));
    const report = certify(
      s,
      results,
      results,
      s.map(() => 1),
    );
    expect(report.verdict).toBe("pass");
    expect(report.reasons).toEqual(["all 7 checks passed on 16 samples"]);
    expect(report.groups).toEqual({ count: 4, zeroVariance: 0, share: 0 });
    expect(report.determinism).toEqual({ mismatches: 0, rate: 0, examples: [] });
    expect(report.meanScore).toBe(0.5);
  });

  it("fails a grader whose second pass disagrees", () => {
    const s = samples(10, 4, () => 20);
    const first = s.map((_, i) => ok(i % 2));
    const second = first.map((r, i) => (i === 3 ? ok(0.5) : r));
    const report = certify(
      s,
      first,
      second,
      s.map(() => 1),
    );
    expect(report.verdict).toBe("fail");
    expect(report.determinism).toEqual({ mismatches: 1, rate: 0.1, examples: [3] });
    expect(report.reasons).toEqual([expect.stringMatching(/^determinism: 1 of 10 samples scored differently/)]);
  });

  it("fails on too many invalid results, slow scoring and groups without variance", () => {
    const s = samples(12);
    const results = s.map((_, i) => (i < 2 ? bad : ok(1)));
    const report = certify(
      s,
      results,
      results,
      s.map(() => 5_000),
    );
    expect(report.verdict).toBe("fail");
    expect(report.checks.filter((c) => !c.passed).map((c) => c.name)).toEqual([
      "invalid_rate",
      "latency_p99",
      "zero_variance_groups",
    ]);
    expect(report.invalidRate).toBeCloseTo(2 / 12, 4);
    expect(report.groups).toEqual({ count: 3, zeroVariance: 3, share: 1 });
  });

  it("flags a reward that pays for length", () => {
    const s = samples(20, 4, (i) => 10 * (i + 1));
    const results = s.map((_, i) => ok(i / 19));
    const report = certify(
      s,
      results,
      results,
      s.map(() => 1),
    );
    expect(report.lengthCorrelation).toBeCloseTo(1, 6);
    expect(report.checks.find((c) => c.name === "length_correlation")?.passed).toBe(false);
    expect(report.verdict).toBe("fail");
  });

  it("refuses to certify on fewer pilot samples than the minimum", () => {
    const s = samples(3);
    const results = s.map((_, i) => ok(i % 2));
    const report = certify(s, results, results, [1, 1, 1], { ...DEFAULT_THRESHOLDS, minSamples: 8 });
    expect(report.verdict).toBe("fail");
    expect(report.reasons).toContain("sample_count: 3 pilot samples (at least 8 needed)");
  });

  it("computes Pearson correlation and leaves it undefined when a side is constant", () => {
    expect(pearson([1, 2, 3, 4], [2, 4, 6, 8])).toBeCloseTo(1, 12);
    expect(pearson([1, 2, 3, 4], [8, 6, 4, 2])).toBeCloseTo(-1, 12);
    expect(pearson([1, 1, 1], [1, 2, 3])).toBeNull();
    expect(pearson([1, 2], [1, 2])).toBeNull();
  });
});
