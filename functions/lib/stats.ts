/**
 * Student's t distribution and a paired comparison of two models' per-item scores. The t CDF goes through
 * the regularized incomplete beta function (continued fraction, modified Lentz), the quantile through a
 * bracketed Newton iteration on it. Checked against SciPy (tests/fixtures/compare, scripts/compare-reference.py).
 */

const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];

/** ln Γ(x) for x > 0 (Lanczos, g = 7; relative error ~1e-15). */
export function lnGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - lnGamma(1 - x);
  const z = x - 1;
  let a = LANCZOS[0]!;
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += LANCZOS[i]! / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

/** The continued fraction of I_x(a, b) (Numerical Recipes' betacf, modified Lentz). */
function betaContinuedFraction(a: number, b: number, x: number): number {
  const TINY = 1e-300;
  const qab = a + b;
  const qap = a + 1;
  const qam = a - 1;
  let c = 1;
  let d = 1 - (qab * x) / qap;
  if (Math.abs(d) < TINY) d = TINY;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 10_000; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (qab + m) * x) / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-16) break;
  }
  return h;
}

/** The regularized incomplete beta function I_x(a, b). */
export function incompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const lnFront = lnGamma(a + b) - lnGamma(a) - lnGamma(b) + a * Math.log(x) + b * Math.log1p(-x);
  // The fraction converges fast for x < (a+1)/(a+b+2); otherwise use the symmetry I_x(a,b) = 1 − I_{1−x}(b,a).
  if (x < (a + 1) / (a + b + 2)) return (Math.exp(lnFront) * betaContinuedFraction(a, b, x)) / a;
  return 1 - (Math.exp(lnFront) * betaContinuedFraction(b, a, 1 - x)) / b;
}

/** P(T > t) for Student's t with `df` degrees of freedom, accurate in the far tail (no 1 − cdf cancellation). */
export function tSurvival(t: number, df: number): number {
  if (Number.isNaN(t)) return Number.NaN;
  if (t === Number.POSITIVE_INFINITY) return 0;
  if (t === Number.NEGATIVE_INFINITY) return 1;
  // P(|T| > |t|) = I_x(df/2, 1/2) = 1 − I_y(1/2, df/2), x = df/(df+t²), y = t²/(df+t²). Near t = 0, x rounds
  // to 1, so the y form is used while the tail is large; in the far tail the x form keeps its digits.
  const t2 = t * t;
  const central = incompleteBeta(t2 / (df + t2), 0.5, df / 2);
  const tail = central < 0.5 ? 0.5 * (1 - central) : 0.5 * incompleteBeta(df / (df + t2), df / 2, 0.5);
  return t > 0 ? tail : 1 - tail;
}

export function tCdf(t: number, df: number): number {
  return tSurvival(-t, df);
}

function tPdf(t: number, df: number): number {
  return Math.exp(
    lnGamma((df + 1) / 2) - lnGamma(df / 2) - 0.5 * Math.log(df * Math.PI) - ((df + 1) / 2) * Math.log1p((t * t) / df),
  );
}

/** The p-quantile of Student's t: Newton steps on the CDF, kept inside a shrinking bracket. */
export function tQuantile(p: number, df: number): number {
  if (!(p > 0 && p < 1)) {
    if (p === 0) return Number.NEGATIVE_INFINITY;
    if (p === 1) return Number.POSITIVE_INFINITY;
    return Number.NaN;
  }
  if (p === 0.5) return 0;
  // By symmetry, from the tail probability itself (1 − p would round away a small p's digits).
  return p < 0.5 ? -upperQuantile(p, df) : upperQuantile(1 - p, df);
}

/** The t > 0 with P(T > t) = target (0 < target < 1/2). */
function upperQuantile(target: number, df: number): number {
  let lo = 0;
  let hi = 1;
  while (tSurvival(hi, df) > target) {
    lo = hi;
    hi *= 2;
    if (hi > 1e300) return Number.POSITIVE_INFINITY;
  }
  let t = (lo + hi) / 2;
  for (let i = 0; i < 200; i++) {
    const f = tSurvival(t, df) - target; // decreasing in t
    if (f === 0) return t;
    if (f > 0) lo = t;
    else hi = t;
    let next = t + f / tPdf(t, df);
    if (!(next > lo && next < hi)) next = (lo + hi) / 2;
    if (Math.abs(next - t) <= 1e-15 * Math.max(1, Math.abs(t))) return next;
    t = next;
  }
  return t;
}

export interface Comparison {
  n: number;
  meanA: number;
  meanB: number;
  /** mean of b − a */
  meanDiff: number;
  se: number;
  /** Degrees of freedom of the t reference: n − 1, or clusters − 1 when clustered. */
  df: number;
  clusters: number | null;
  confidence: number;
  margin: number;
  /** One-sided lower and upper confidence bounds of the mean difference, each at `confidence`. */
  ciLow: number;
  ciHigh: number;
  /** One-sided p-value of H0: meanDiff ≤ margin against H1: meanDiff > margin. */
  pValue: number;
  t: number;
  /** Pearson correlation of the per-item scores of a and b; null when either is constant. */
  correlation: number | null;
  better: "a" | "b" | "neither";
}

export class ComparisonError extends Error {}

const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;

/**
 * Paired comparison of b against a. SE of the mean difference: sd(d)/√n, or with clusters the cluster-robust
 * (CR1) estimate √(G/(G−1) · Σ_g (Σ_{i∈g} (d_i − d̄))²) / n with G − 1 degrees of freedom.
 * `better` is "b" when the lower bound exceeds the margin, "a" when the upper bound is below −margin.
 */
export function comparePaired(
  a: number[],
  b: number[],
  opts: { confidence?: number; margin?: number; clusters?: string[] } = {},
): Comparison {
  const confidence = opts.confidence ?? 0.95;
  const margin = opts.margin ?? 0;
  const n = a.length;
  if (b.length !== n) throw new ComparisonError(`a has ${n} scores but b has ${b.length}: pairs need both`);
  if (n < 2) throw new ComparisonError(`a paired comparison needs at least 2 pairs, got ${n}`);
  if (opts.clusters && opts.clusters.length !== n) {
    throw new ComparisonError(`clusters has ${opts.clusters.length} entries for ${n} pairs`);
  }
  if ([...a, ...b].some((x) => !Number.isFinite(x))) throw new ComparisonError("scores must be finite numbers");
  const d = a.map((x, i) => b[i]! - x);
  const meanA = mean(a);
  const meanB = mean(b);
  const meanDiff = mean(d);
  let se: number;
  let df: number;
  let clusters: number | null = null;
  if (opts.clusters) {
    const sums = new Map<string, number>();
    for (const [i, g] of opts.clusters.entries()) sums.set(g, (sums.get(g) ?? 0) + (d[i]! - meanDiff));
    const G = sums.size;
    if (G < 2) throw new ComparisonError(`a clustered comparison needs at least 2 clusters, got ${G}`);
    let ss = 0;
    for (const s of sums.values()) ss += s * s;
    se = Math.sqrt((G / (G - 1)) * ss) / n;
    df = G - 1;
    clusters = G;
  } else {
    const ss = d.reduce((s, x) => s + (x - meanDiff) ** 2, 0);
    se = Math.sqrt(ss / (n - 1)) / Math.sqrt(n);
    df = n - 1;
  }
  let t: number;
  let pValue: number;
  let ciLow: number;
  let ciHigh: number;
  // Rounding noise in identical differences must not read as a (huge) signal.
  if (se <= 1e-14 * Math.max(1, Math.abs(meanDiff))) {
    se = 0;
    t = meanDiff > margin ? Number.POSITIVE_INFINITY : meanDiff < margin ? Number.NEGATIVE_INFINITY : 0;
    pValue = meanDiff > margin ? 0 : 1;
    ciLow = meanDiff;
    ciHigh = meanDiff;
  } else {
    const q = tQuantile(confidence, df);
    t = (meanDiff - margin) / se;
    pValue = tSurvival(t, df);
    ciLow = meanDiff - q * se;
    ciHigh = meanDiff + q * se;
  }
  const va = a.reduce((s, x) => s + (x - meanA) ** 2, 0);
  const vb = b.reduce((s, x) => s + (x - meanB) ** 2, 0);
  const cov = a.reduce((s, x, i) => s + (x - meanA) * (b[i]! - meanB), 0);
  const correlation = va > 0 && vb > 0 ? Math.max(-1, Math.min(1, cov / Math.sqrt(va * vb))) : null;
  const better = ciLow > margin ? "b" : ciHigh < -margin ? "a" : "neither";
  return {
    n,
    meanA,
    meanB,
    meanDiff,
    se,
    df,
    clusters,
    confidence,
    margin,
    ciLow,
    ciHigh,
    pValue,
    t,
    correlation,
    better,
  };
}
