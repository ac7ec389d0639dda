import { fromInternal, type ParamSpace, type Point, randomPoint, rng, toInternal } from "./sweep";

/**
 * Tree-structured Parzen Estimator (Bergstra et al., 2011), the proposer behind `method: "bayes"`.
 * Observations are split into the best `gamma` share ("good") and the rest; each parameter gets a Parzen
 * density over the good points, l(x), and over the rest, g(x) (a truncated Gaussian mixture in the
 * parameter's own scale, log for log ranges, plus a broad prior component; smoothed counts for lists).
 * Candidates are drawn from l and the one with the largest l(x) / g(x) is proposed. Parameters are
 * treated as independent, as in the original TPE. Deterministic for a given seed and history.
 */

export interface Observation {
  point: Point;
  /** The run's metric, oriented so that larger is better (negated for `mode: "min"`). */
  value: number;
}

export interface TpeOptions {
  seed: number;
  /** Distinguishes the proposals made from the same history (parallel slots): part of the RNG seed. */
  index: number;
  /** Random proposals before the model is used. */
  startup: number;
  gamma?: number;
  candidates?: number;
}

const SQRT2PI = Math.sqrt(2 * Math.PI);

/** Standard normal CDF (Abramowitz and Stegun 7.1.26 via erf), enough for truncation weights. */
function normCdf(z: number): number {
  const t = 1 / (1 + 0.3275911 * (Math.abs(z) / Math.SQRT2));
  const poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  const erf = 1 - poly * Math.exp(-(z * z) / 2);
  return z >= 0 ? 0.5 * (1 + erf) : 0.5 * (1 - erf);
}

/** Standard normal draw (Box-Muller) from a uniform source. */
function gaussian(next: () => number): number {
  const u = Math.max(next(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * next());
}

interface Mixture {
  mus: number[];
  sigmas: number[];
  lo: number;
  hi: number;
}

/**
 * Parzen mixture over `xs` (internal scale) in [lo, hi]: one Gaussian per point, its width the larger gap
 * to a neighbour (clipped), plus a prior component as wide as the range, so that no region gets zero mass.
 */
function parzen(xs: number[], lo: number, hi: number): Mixture {
  const span = hi - lo || 1;
  const sorted = [...xs].sort((a, b) => a - b);
  const minSigma = span / Math.min(100, 2 + sorted.length);
  const sigmas = sorted.map((x, i) => {
    const left = i > 0 ? x - sorted[i - 1]! : x - lo;
    const right = i < sorted.length - 1 ? sorted[i + 1]! - x : hi - x;
    return Math.min(span, Math.max(minSigma, left, right));
  });
  return { mus: [...sorted, (lo + hi) / 2], sigmas: [...sigmas, span], lo, hi };
}

function mixtureLogPdf(m: Mixture, x: number): number {
  let p = 0;
  for (let i = 0; i < m.mus.length; i++) {
    const mu = m.mus[i]!;
    const s = m.sigmas[i]!;
    const mass = normCdf((m.hi - mu) / s) - normCdf((m.lo - mu) / s) || 1e-12;
    p += Math.exp(-0.5 * ((x - mu) / s) ** 2) / (s * SQRT2PI * mass);
  }
  return Math.log(p / m.mus.length + 1e-300);
}

function mixtureSample(m: Mixture, next: () => number): number {
  const i = Math.floor(next() * m.mus.length);
  for (let tries = 0; tries < 32; tries++) {
    const x = m.mus[i]! + m.sigmas[i]! * gaussian(next);
    if (x >= m.lo && x <= m.hi) return x;
  }
  return Math.min(m.hi, Math.max(m.lo, m.mus[i]!));
}

/** The next point to try, given the finished runs' points and metric values. */
export function proposeTpe(parameters: Record<string, ParamSpace>, history: Observation[], opts: TpeOptions): Point {
  const next = rng((opts.seed * 2654435761 + opts.index * 40503 + history.length * 97) >>> 0);
  const usable = history.filter((o) => Number.isFinite(o.value));
  if (usable.length < Math.max(2, opts.startup)) return randomPoint(parameters, next);

  const sorted = [...usable].sort((a, b) => b.value - a.value);
  const nGood = Math.max(1, Math.ceil((opts.gamma ?? 0.25) * sorted.length));
  const good = sorted.slice(0, nGood);
  const bad = sorted.slice(nGood);
  const nCandidates = opts.candidates ?? 24;
  const point: Point = {};
  for (const k of Object.keys(parameters).sort()) {
    const space = parameters[k]!;
    if (Array.isArray(space)) {
      // Categorical: smoothed counts among good and bad observations.
      const weight = (obs: Observation[]) =>
        space.map((v) => (obs.filter((o) => o.point[k] === v).length + 1) / (obs.length + space.length));
      const l = weight(good);
      const g = weight(bad);
      const draws = Array.from({ length: nCandidates }, () => {
        let u = next();
        let i = 0;
        while (i < l.length - 1 && u >= l[i]!) u -= l[i++]!;
        return i;
      });
      const best = draws.reduce((a, b) =>
        Math.log(l[b]!) - Math.log(g[b]!) > Math.log(l[a]!) - Math.log(g[a]!) ? b : a,
      );
      point[k] = space[best]!;
      continue;
    }
    const lo = toInternal(space, space.min);
    const hi = toInternal(space, space.max);
    const xs = (obs: Observation[]) =>
      obs
        .map((o) => o.point[k])
        .filter((x): x is number => typeof x === "number")
        .map((x) => toInternal(space, x));
    const l = parzen(xs(good), lo, hi);
    const g = parzen(xs(bad), lo, hi);
    let bestX = mixtureSample(l, next);
    let bestScore = -Infinity;
    for (let c = 0; c < nCandidates; c++) {
      const x = c === 0 ? bestX : mixtureSample(l, next);
      const score = mixtureLogPdf(l, x) - mixtureLogPdf(g, x);
      if (score > bestScore) {
        bestScore = score;
        bestX = x;
      }
    }
    point[k] = fromInternal(space, bestX);
  }
  return point;
}
