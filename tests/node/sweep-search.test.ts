import { describe, expect, it } from "vitest";
import { decideAtRung, rungReached, rungSteps, valueAtRung } from "../../gpu-jobs/asha";
import { type ParamSpace, type Point, randomPoint, rng } from "../../gpu-jobs/sweep";
import { type Observation, proposeTpe } from "../../gpu-jobs/tpe";

// A synthetic run's final metric as a function of its hyperparameters: a shifted quadratic in log10 of the
// learning rate (best at 2e-4, one unit lost per decade squared), a categorical effect and an integer one.
const SPACE: Record<string, ParamSpace> = {
  "hyperparams.learningRate": { min: 1e-7, max: 1e-1, scale: "log", integer: false },
  "hyperparams.loraRank": { min: 4, max: 64, scale: "linear", integer: true },
  "hyperparams.scheduler": ["constant", "linear", "cosine"],
};
function objective(p: Point): number {
  const lr = p["hyperparams.learningRate"] as number;
  const rank = p["hyperparams.loraRank"] as number;
  const bonus = p["hyperparams.scheduler"] === "cosine" ? 0 : -0.15;
  return 1 - (Math.log10(lr) - Math.log10(2e-4)) ** 2 + bonus - Math.abs(rank - 32) / 64;
}

function bayesBest(seed: number, budget: number): number {
  const history: Observation[] = [];
  for (let i = 0; i < budget; i++) {
    const point = proposeTpe(SPACE, history, { seed, index: i, startup: 5 });
    history.push({ point, value: objective(point) });
  }
  return Math.max(...history.map((h) => h.value));
}

function randomBest(seed: number, budget: number): number {
  const next = rng(seed);
  return Math.max(...Array.from({ length: budget }, () => objective(randomPoint(SPACE, next))));
}

describe("Bayesian search (TPE)", () => {
  it("finds a better point than random search with the same budget, on average over 10 seeds", () => {
    const budget = 24;
    const seeds = Array.from({ length: 10 }, (_, i) => i + 1);
    const bayes = seeds.map((s) => bayesBest(s, budget));
    const random = seeds.map((s) => randomBest(s, budget));
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    console.log(
      `best of ${budget} runs over 10 seeds: bayes mean ${mean(bayes).toFixed(4)}, random mean ${mean(random).toFixed(4)} (optimum 1)`,
    );
    expect(mean(bayes)).toBeGreaterThan(mean(random));
  });

  it("proposes the same point for the same seed, history and slot, and different points for other slots", () => {
    const history: Observation[] = Array.from({ length: 8 }, (_, i) => {
      const point = randomPoint(SPACE, rng(100 + i));
      return { point, value: objective(point) };
    });
    const a = proposeTpe(SPACE, history, { seed: 3, index: 8, startup: 5 });
    expect(proposeTpe(SPACE, history, { seed: 3, index: 8, startup: 5 })).toEqual(a);
    expect(proposeTpe(SPACE, history, { seed: 3, index: 9, startup: 5 })).not.toEqual(a);
  });

  it("keeps every proposal inside the space: ranges within bounds, integers whole, lists from the list", () => {
    const history: Observation[] = [];
    for (let i = 0; i < 30; i++) {
      const p = proposeTpe(SPACE, history, { seed: 9, index: i, startup: 3 });
      const lr = p["hyperparams.learningRate"] as number;
      const rank = p["hyperparams.loraRank"] as number;
      expect(lr).toBeGreaterThanOrEqual(1e-7);
      expect(lr).toBeLessThanOrEqual(1e-1);
      expect(Number.isInteger(rank) && rank >= 4 && rank <= 64).toBe(true);
      expect(["constant", "linear", "cosine"]).toContain(p["hyperparams.scheduler"]);
      history.push({ point: p, value: objective(p) });
    }
  });
});

describe("successive halving (ASHA)", () => {
  const cfg = { minSteps: 10, eta: 3, maxRungs: 3 };

  it("places rungs at minSteps × eta^k", () => {
    expect(rungSteps(cfg)).toEqual([10, 30, 90]);
    expect([0, 9, 10, 29, 30, 200].map((s) => rungReached(cfg, s))).toEqual([-1, -1, 0, 0, 1, 2]);
  });

  it("cuts nobody until eta runs reached a rung, then keeps only the top 1/eta", () => {
    const larger = true;
    expect(decideAtRung([], { runId: "a", value: 0.1 }, 3, larger)).toMatchObject({ continue: true, n: 1 });
    expect(decideAtRung([{ runId: "a", value: 0.9 }], { runId: "b", value: 0.1 }, 3, larger)).toMatchObject({
      continue: true,
      n: 2,
    });
    const earlier = [
      { runId: "a", value: 0.9 },
      { runId: "b", value: 0.5 },
    ];
    expect(decideAtRung(earlier, { runId: "c", value: 0.2 }, 3, larger)).toEqual({
      continue: false,
      rank: 3,
      n: 3,
      keep: 1,
    });
    expect(decideAtRung(earlier, { runId: "c", value: 0.95 }, 3, larger)).toEqual({
      continue: true,
      rank: 1,
      n: 3,
      keep: 1,
    });
    // Lower is better for a loss; a tie ranks behind the earlier run.
    expect(decideAtRung(earlier, { runId: "c", value: 0.5 }, 3, false)).toEqual({
      continue: false,
      rank: 2,
      n: 3,
      keep: 1,
    });
  });

  it("reads a run's value at a rung as its last point at or before the rung's step", () => {
    const pts = [
      { step: 0, value: 0.1 },
      { step: 8, value: 0.4 },
      { step: 12, value: 0.6 },
    ];
    expect(valueAtRung(pts, 10)).toBe(0.4);
    expect(valueAtRung(pts, 12)).toBe(0.6);
    expect(valueAtRung([{ step: 11, value: 1 }], 10)).toBeUndefined();
  });
});
