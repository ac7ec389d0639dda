// functions/lib/stats.ts against SciPy: reference vectors written by scripts/compare-reference.py (committed
// under tests/fixtures/compare), so npm test needs no SciPy.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ComparisonError, comparePaired, tCdf, tQuantile, tSurvival } from "../../functions/lib/stats";

const DIR = join(__dirname, "../fixtures/compare");
const load = (name: string) => JSON.parse(readFileSync(join(DIR, name), "utf8"));
const T = load("t-distribution.json") as {
  cdf: { df: number; t: number; cdf: number; sf: number }[];
  quantile: { df: number; p: number; q: number }[];
};
const PAIRED = load("paired.json") as {
  cases: {
    a: number[];
    b: number[];
    clusters?: string[];
    confidence: number;
    margin: number;
    expected: Record<string, number | null>;
  }[];
};

/** Relative agreement to 1e-9, or absolute 1e-300 for values that underflow. */
function close(actual: number, expected: number, rel = 1e-9) {
  if (Math.abs(expected) < 1e-300) return Math.abs(actual) < 1e-290;
  return Math.abs(actual - expected) <= rel * Math.abs(expected);
}

describe("Student's t distribution", () => {
  it(`matches SciPy's cdf and survival function at ${T.cdf.length} points to 1e-9 relative`, () => {
    const off = T.cdf
      .map((c) => ({ ...c, gotCdf: tCdf(c.t, c.df), gotSf: tSurvival(c.t, c.df) }))
      .filter((c) => !close(c.gotCdf, c.cdf) || !close(c.gotSf, c.sf));
    expect(off).toEqual([]);
  });

  it(`matches SciPy's quantile function at ${T.quantile.length} points to 1e-9 relative`, () => {
    const off = T.quantile.map((c) => ({ ...c, got: tQuantile(c.p, c.df) })).filter((c) => !close(c.got, c.q, 1e-9));
    expect(off).toEqual([]);
  });

  it("answers the edges: p of 0 and 1, t of ±∞", () => {
    expect([tQuantile(0, 5), tQuantile(1, 5), tQuantile(0.5, 5)]).toEqual([
      Number.NEGATIVE_INFINITY,
      Number.POSITIVE_INFINITY,
      0,
    ]);
    expect([tSurvival(Number.POSITIVE_INFINITY, 3), tSurvival(Number.NEGATIVE_INFINITY, 3)]).toEqual([0, 1]);
  });
});

describe("the paired comparison", () => {
  for (const [i, c] of PAIRED.cases.entries()) {
    const label = `${c.clusters ? "clustered " : ""}case ${i} (n ${c.a.length}, confidence ${c.confidence}, margin ${c.margin})`;
    it(`matches SciPy on ${label}`, () => {
      const got = comparePaired(c.a, c.b, { confidence: c.confidence, margin: c.margin, clusters: c.clusters });
      const mismatched = Object.entries(c.expected).filter(([k, v]) => {
        const g = (got as unknown as Record<string, number | null>)[k];
        if (v === null || g === null) return v !== g;
        return !close(g as number, v, 1e-9);
      });
      expect(mismatched.map(([k, v]) => ({ k, expected: v, got: (got as never)[k] }))).toEqual([]);
      const q = got.better;
      expect(q).toBe(
        (c.expected.ciLow as number) > c.margin ? "b" : (c.expected.ciHigh as number) < -c.margin ? "a" : "neither",
      );
    });
  }

  it("calls a planted tie neither, with p = 1 and a zero standard error", () => {
    const a = Array.from({ length: 80 }, (_, i) => (i % 3 === 0 ? 1 : 0));
    const got = comparePaired(a, [...a]);
    expect(got).toMatchObject({ n: 80, meanDiff: 0, se: 0, pValue: 1, ciLow: 0, ciHigh: 0, better: "neither" });
    expect(got.correlation).toBeCloseTo(1, 12);
  });

  it("refuses fewer than two pairs, unequal lengths, one cluster and non-finite scores", () => {
    expect(() => comparePaired([1], [0])).toThrow(ComparisonError);
    expect(() => comparePaired([1, 0], [0])).toThrow(/a has 2 scores but b has 1/);
    expect(() => comparePaired([1, 0, 1], [0, 0, 1], { clusters: ["x", "x", "x"] })).toThrow(/at least 2 clusters/);
    expect(() => comparePaired([1, Number.NaN], [0, 1])).toThrow(/finite/);
  });
});
