import { describe, expect, it } from "vitest";
import { compareDrift, type DriftInput } from "../../functions/lib/drift";
import { HASH_DIMENSION, HashedEmbedder } from "../../functions/lib/drift-embedding";
import {
  chiSquareSurvival,
  jsDistance,
  normalSurvival,
  psi,
  rocAuc,
  seededRandom,
} from "../../functions/lib/drift-stats";
import { generate } from "../lib/drift-generator";

const SEEDS = 20;

/** Alarm rate over SEEDS independent pairs of samples (reference seeds and current seeds never overlap). */
function alarmRate(n: number, shift: number) {
  let alarms = 0;
  const byFeature: Record<string, number> = {};
  for (let s = 0; s < SEEDS; s++) {
    const report = compareDrift(generate(n, 10_000 + s), generate(n, 20_000 + s, shift), { seed: s + 1 });
    if (report.drifted) alarms++;
    for (const f of report.features)
      if (f.drifted) byFeature[`${f.name}/${f.statistic}`] = (byFeature[`${f.name}/${f.statistic}`] ?? 0) + 1;
  }
  const rate = alarms / SEEDS;
  console.log(
    `drift n=${n} per side, shift=${shift}: alarm rate ${rate} (${alarms}/${SEEDS}) by feature ${JSON.stringify(byFeature)}`,
  );
  return rate;
}

describe("drift statistics", () => {
  it("matches reference values of the chi-square and normal tails", () => {
    // scipy.stats.chi2.sf(3.841458820694124, 1) = 0.05, chi2.sf(18.307038053275146, 10) = 0.05,
    // chi2.sf(20, 2) = exp(-10) exactly, norm.sf(1.959963984540054) = 0.025
    expect(chiSquareSurvival(3.841458820694124, 1)).toBeCloseTo(0.05, 6);
    expect(chiSquareSurvival(18.307038053275146, 10)).toBeCloseTo(0.05, 6);
    expect(chiSquareSurvival(20, 2) / Math.exp(-10)).toBeCloseTo(1, 9);
    expect(normalSurvival(1.959963984540054)).toBeCloseTo(0.025, 6);
    expect(normalSurvival(-1.959963984540054)).toBeCloseTo(0.975, 6);
  });

  it("gives JS distance 0 for equal shares and 1 for disjoint ones, and PSI 0 for equal shares", () => {
    expect(jsDistance([10, 20, 30], [1, 2, 3])).toBeCloseTo(0, 12);
    expect(jsDistance([10, 0], [0, 7])).toBeCloseTo(1, 12);
    expect(psi([10, 20, 30], [20, 40, 60])).toBeCloseTo(0, 2);
    expect(psi([90, 10], [10, 90])).toBeGreaterThan(1);
  });

  it("computes ROC AUC with ties counted half", () => {
    expect(rocAuc(Float64Array.of(3, 4), Float64Array.of(1, 2))).toBe(1);
    expect(rocAuc(Float64Array.of(1, 2), Float64Array.of(3, 4))).toBe(0);
    expect(rocAuc(Float64Array.of(1, 1), Float64Array.of(1, 1))).toBe(0.5);
    expect(rocAuc(Float64Array.of(2, 0), Float64Array.of(1))).toBe(0.5);
  });

  it("draws the same sequence from the same seed", () => {
    const a = seededRandom(42);
    const b = seededRandom(42);
    const xs = Array.from({ length: 5 }, () => a());
    expect(Array.from({ length: 5 }, () => b())).toEqual(xs);
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
  });
});

describe("hashed embedding", () => {
  it("is L2-normalised, sparse and the same for the same text, ignoring case", () => {
    const e = new HashedEmbedder();
    const a = e.embed("The cat sat on the mat");
    const b = e.embed("the CAT sat on the mat");
    expect(Array.from(a.index)).toEqual(Array.from(b.index));
    expect(Array.from(a.value)).toEqual(Array.from(b.value));
    const norm = Math.sqrt(a.value.reduce((s, v) => s + v * v, 0));
    expect(norm).toBeCloseTo(1, 5);
    expect(a.index.length).toBeLessThan(HASH_DIMENSION);
    expect(Array.from(a.index).every((i, k, arr) => k === 0 || i > arr[k - 1]!)).toBe(true);
  });

  it("embeds an input with no words as the zero vector", () => {
    const v = new HashedEmbedder().embed("  ?!  ");
    expect(v.index.length).toBe(0);
  });
});

describe("drift detection", () => {
  it("gives the same report for the same inputs and seed", () => {
    const ref = generate(300, 1);
    const cur = generate(300, 2, 0.3);
    expect(compareDrift(ref, cur, { seed: 7 })).toEqual(compareDrift(ref, cur, { seed: 7 }));
  });

  it("reports every feature with its statistic, threshold, p-value and sample sizes", () => {
    const report = compareDrift(generate(500, 3), generate(400, 4), { seed: 1 });
    expect(report.features.map((f) => `${f.name}/${f.statistic}`)).toEqual([
      "length/js_distance",
      "length/psi",
      "rating/js_distance",
      "labels/js_distance",
      "embedding.components/mean_component_js_distance",
      "embedding/classifier_auc",
    ]);
    for (const f of report.features) {
      expect(f).toEqual({
        name: expect.any(String),
        statistic: f.statistic,
        value: expect.any(Number),
        threshold: expect.any(Number),
        drifted: f.value > f.threshold && f.pValue < f.alpha,
        pValue: expect.any(Number),
        alpha: 0.01 / 5,
        test: expect.any(String),
        n: expect.objectContaining({ reference: expect.any(Number), current: expect.any(Number) }),
      });
    }
    expect(report.embedding).toEqual({ kind: "hashed", dimension: HASH_DIMENSION, componentsCompared: HASH_DIMENSION });
    expect(report.features.find((f) => f.name === "rating")!.n).toEqual({
      reference: generate(500, 3).filter((x) => x.rating).length,
      current: generate(400, 4).filter((x) => x.rating).length,
    });
  });

  it("skips ratings and labels that too few inputs carry, and says why", () => {
    const bare = (xs: DriftInput[]) => xs.map((x) => ({ text: x.text }));
    const report = compareDrift(bare(generate(200, 5)), bare(generate(200, 6)), { seed: 1 });
    expect(report.skipped).toEqual([
      { name: "rating", reason: "needs 30 values on each side (reference 0, current 0)" },
      { name: "labels", reason: "needs 30 values on each side (reference 0, current 0)" },
    ]);
  });

  it("uses the events' own embeddings when every input on both sides has one of the same dimension", () => {
    const rand = seededRandom(9);
    const withEmb = (n: number, offset: number) =>
      Array.from({ length: n }, () => ({
        text: "x",
        embedding: Array.from({ length: 16 }, (_, d) => rand() + (d === 0 ? offset : 0)),
      }));
    const same = compareDrift(withEmb(600, 0), withEmb(600, 0), { seed: 1 });
    expect(same.embedding).toEqual({ kind: "provided", dimension: 16, componentsCompared: 16 });
    expect(same.drifted).toBe(false);
    const moved = compareDrift(withEmb(600, 0), withEmb(600, 1.5), { seed: 1 });
    expect(moved.features.find((f) => f.name === "embedding")!.drifted).toBe(true);
    const mixed = compareDrift([...withEmb(10, 0), { text: "no embedding" }], withEmb(10, 0), { seed: 1 });
    expect(mixed.embedding.kind).toBe("hashed");
  });

  for (const n of [500, 5000]) {
    it(`raises no alarm on two samples of one generator at n = ${n} per side (≤ 5% of ${SEEDS} seeds)`, () => {
      expect(alarmRate(n, 0)).toBeLessThanOrEqual(0.05);
    });
    it(`raises an alarm when 30% of inputs move to unseen vocabulary at n = ${n} per side (every seed)`, () => {
      expect(alarmRate(n, 0.3)).toBe(1);
    });
  }
});
