/**
 * Asynchronous successive halving (ASHA, Li et al. 2020) for a sweep's runs: rungs at `minSteps`,
 * `minSteps × eta`, `minSteps × eta²`, … steps. When a run first reaches a rung, its metric there is
 * compared with the values the sweep's runs recorded at that rung before it; it continues only if it is
 * among the top ⌊n / eta⌋ of those n values (itself included). Until `eta` runs have reached a rung,
 * nobody is cut there: early runs have nothing to be compared with.
 */

export interface AshaConfig {
  minSteps: number;
  eta: number;
  maxRungs: number;
}

export interface RungEntry {
  runId: string;
  value: number;
}

export function rungSteps(cfg: AshaConfig): number[] {
  return Array.from({ length: cfg.maxRungs }, (_, k) => cfg.minSteps * cfg.eta ** k);
}

/** The highest rung a run whose last reported step is `step` has reached, or -1. */
export function rungReached(cfg: AshaConfig, step: number): number {
  return rungSteps(cfg).filter((s) => step >= s).length - 1;
}

export interface RungDecision {
  continue: boolean;
  rank: number;
  n: number;
  keep: number;
}

/**
 * The decision for `candidate` at a rung, given what was recorded there before it. `larger` says
 * whether a larger metric is better. Ties keep the earlier run ahead.
 */
export function decideAtRung(earlier: RungEntry[], candidate: RungEntry, eta: number, larger: boolean): RungDecision {
  const all = [...earlier, candidate];
  const n = all.length;
  const keep = Math.floor(n / eta);
  const better = (a: number, b: number) => (larger ? a > b : a < b);
  const rank = 1 + earlier.filter((e) => better(e.value, candidate.value) || e.value === candidate.value).length;
  if (n < eta) return { continue: true, rank, n, keep };
  return { continue: rank <= keep, rank, n, keep };
}

/** The metric's value at a rung: the last point at or before the rung's step. */
export function valueAtRung(points: { step: number; value: number }[], rungStep: number): number | undefined {
  let v: number | undefined;
  for (const p of points) if (p.step <= rungStep) v = p.value;
  return v;
}
