/**
 * Small numeric helpers for drift detection: a seeded PRNG, the chi-square and normal tails, and
 * divergences between binned distributions. Pure functions, no Worker imports: the same code runs in
 * workerd, in Node tests and in the benchmark.
 */

/** mulberry32: a 32-bit seeded PRNG, uniform on [0, 1). Same seed, same sequence, on every runtime. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A seeded Fisher–Yates permutation of 0..n-1. */
export function permutation(n: number, rand: () => number): Uint32Array {
  const p = new Uint32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = p[i]!;
    p[i] = p[j]!;
    p[j] = t;
  }
  return p;
}

function logGamma(x: number): number {
  // Lanczos approximation (g = 7, n = 9): ~15 significant digits for x > 0.
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const xx = x - 1;
  let a = c[0]!;
  const t = xx + 7.5;
  for (let i = 1; i < 9; i++) a += c[i]! / (xx + i);
  return 0.5 * Math.log(2 * Math.PI) + (xx + 0.5) * Math.log(t) - t + Math.log(a);
}

/** The upper regularised incomplete gamma Q(a, x) = Γ(a, x) / Γ(a) (series below a + 1, continued fraction above). */
export function gammaQ(a: number, x: number): number {
  if (x <= 0) return 1;
  const lg = logGamma(a);
  if (x < a + 1) {
    let sum = 1 / a;
    let del = sum;
    let ap = a;
    for (let n = 0; n < 1000; n++) {
      ap += 1;
      del *= x / ap;
      sum += del;
      if (Math.abs(del) < Math.abs(sum) * 1e-15) break;
    }
    return Math.max(0, 1 - sum * Math.exp(-x + a * Math.log(x) - lg));
  }
  const tiny = 1e-300;
  let b = x + 1 - a;
  let c = 1 / tiny;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 1000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-15) break;
  }
  return Math.min(1, Math.exp(-x + a * Math.log(x) - lg) * h);
}

/** P(X ≥ x) for a chi-square variable with `df` degrees of freedom. */
export function chiSquareSurvival(x: number, df: number): number {
  if (df <= 0) return 1;
  return gammaQ(df / 2, x / 2);
}

/** P(Z ≥ z) for a standard normal variable (erfc by its continued-fraction-free Chebyshev fit, |ε| < 1.2e-7). */
export function normalSurvival(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.5 * x);
  const erfc =
    t *
    Math.exp(
      -x * x -
        1.26551223 +
        t *
          (1.00002368 +
            t *
              (0.37409196 +
                t *
                  (0.09678418 +
                    t *
                      (-0.18628806 +
                        t *
                          (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return z >= 0 ? erfc / 2 : 1 - erfc / 2;
}

/**
 * Merges adjacent bins of a 2×k table until every merged bin expects at least `minExpected` counts on
 * each side under homogeneity, so that the chi-square approximation holds. Returns the merged counts.
 */
export function mergeSparseBins(a: ArrayLike<number>, b: ArrayLike<number>, minExpected = 5): [number[], number[]] {
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    na += a[i]!;
    nb += b[i]!;
  }
  const total = na + nb;
  const shareMin = Math.min(na, nb) / total;
  const outA: number[] = [];
  const outB: number[] = [];
  let accA = 0;
  let accB = 0;
  for (let i = 0; i < a.length; i++) {
    accA += a[i]!;
    accB += b[i]!;
    if ((accA + accB) * shareMin >= minExpected) {
      outA.push(accA);
      outB.push(accB);
      accA = 0;
      accB = 0;
    }
  }
  if (accA + accB > 0) {
    if (outA.length === 0) {
      outA.push(accA);
      outB.push(accB);
    } else {
      outA[outA.length - 1]! += accA;
      outB[outB.length - 1]! += accB;
    }
  }
  return [outA, outB];
}

/** Pearson's chi-square test of homogeneity on a 2×k table: the statistic, its degrees of freedom and p-value. */
export function chiSquareHomogeneity(a: ArrayLike<number>, b: ArrayLike<number>) {
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    na += a[i]!;
    nb += b[i]!;
  }
  const total = na + nb;
  let stat = 0;
  let k = 0;
  for (let i = 0; i < a.length; i++) {
    const col = a[i]! + b[i]!;
    if (col === 0) continue;
    k++;
    const ea = (col * na) / total;
    const eb = (col * nb) / total;
    stat += (a[i]! - ea) ** 2 / ea + (b[i]! - eb) ** 2 / eb;
  }
  const df = Math.max(0, k - 1);
  return { stat, df, pValue: df === 0 || na === 0 || nb === 0 ? 1 : chiSquareSurvival(stat, df) };
}

/** Jensen–Shannon distance (the square root of the divergence, base 2: in [0, 1]) between two count vectors. */
export function jsDistance(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    na += a[i]!;
    nb += b[i]!;
  }
  if (na === 0 || nb === 0) return 0;
  let div = 0;
  for (let i = 0; i < a.length; i++) {
    const p = a[i]! / na;
    const q = b[i]! / nb;
    const m = (p + q) / 2;
    if (p > 0) div += 0.5 * p * Math.log2(p / m);
    if (q > 0) div += 0.5 * q * Math.log2(q / m);
  }
  return Math.sqrt(Math.max(0, Math.min(1, div)));
}

/**
 * Population stability index Σ (q − p) ln(q / p) of the current share q against the reference share p.
 * Empty bins get half a count on each side, so a bin seen on one side only gives a finite index.
 */
export function psi(reference: ArrayLike<number>, current: ArrayLike<number>): number {
  let nr = 0;
  let nc = 0;
  for (let i = 0; i < reference.length; i++) {
    nr += reference[i]! + 0.5;
    nc += current[i]! + 0.5;
  }
  let out = 0;
  for (let i = 0; i < reference.length; i++) {
    const p = (reference[i]! + 0.5) / nr;
    const q = (current[i]! + 0.5) / nc;
    out += (q - p) * Math.log(q / p);
  }
  return out;
}

/**
 * Bin edges at the quantiles of a sample (upper-inclusive bins: value v goes to the first edge ≥ v, the
 * last bin takes the rest). Repeated quantiles collapse, so a feature with few distinct values gets
 * fewer bins.
 */
export function quantileEdges(sample: ArrayLike<number>, bins: number): number[] {
  const sorted = Float64Array.from(sample).sort();
  if (sorted.length === 0) return [];
  const edges: number[] = [];
  for (let i = 1; i < bins; i++) {
    const v = sorted[Math.min(sorted.length - 1, Math.floor((i * sorted.length) / bins))]!;
    if (edges.length === 0 || v > edges[edges.length - 1]!) edges.push(v);
  }
  return edges;
}

/** The bin of a value for upper-inclusive edges (binary search): 0..edges.length. */
export function binOf(edges: ArrayLike<number>, v: number): number {
  let lo = 0;
  let hi = edges.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (v <= edges[mid]!) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/**
 * The ROC AUC of `pos` scores against `neg` scores (ties count half): the probability that a random
 * positive scores above a random negative.
 */
export function rocAuc(pos: Float64Array, neg: Float64Array): number {
  const n1 = pos.length;
  const n0 = neg.length;
  if (n1 === 0 || n0 === 0) return 0.5;
  const all = new Float64Array(n1 + n0);
  all.set(pos);
  all.set(neg, n1);
  const order = Array.from({ length: n1 + n0 }, (_, i) => i).sort((x, y) => all[x]! - all[y]!);
  // Mid-ranks for ties, then the Mann–Whitney U of the positives.
  let rankSumPos = 0;
  let i = 0;
  while (i < order.length) {
    let j = i;
    while (j + 1 < order.length && all[order[j + 1]!] === all[order[i]!]) j++;
    const midRank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) if (order[k]! < n1) rankSumPos += midRank;
    i = j + 1;
  }
  return (rankSumPos - (n1 * (n1 + 1)) / 2) / (n1 * n0);
}
