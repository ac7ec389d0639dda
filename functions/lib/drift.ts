/**
 * Drift between a reference set of inputs (what a model was trained on) and a current set (what it sees
 * in production). Pure: no Worker imports, deterministic given `seed`.
 *
 * A feature drifts only when BOTH its effect size is past a fixed threshold AND its test is significant
 * at the family-wise level `alpha` (Bonferroni over the features tested). The effect-size gate stops a
 * large sample from flagging a difference too small to matter; the test stops a small sample from
 * flagging noise (a binned divergence between two small samples of one distribution is biased upwards).
 * Two samples of one distribution therefore alarm with probability at most `alpha` at any n.
 *
 * Features and their statistics (docs/monitoring.md gives the reasoning for each threshold):
 * - `length`: Jensen–Shannon distance and PSI on input length in characters, binned at the deciles of
 *   a pooled subsample; chi-square test of homogeneity on the same bins.
 * - `rating`, `labels`: JS distance between the shares of each rating class / label, with the same
 *   chi-square test; compared only when both sides have at least `minCategorical` values.
 * - `embedding.components`: the mean JS distance of the per-component histograms of the embedding
 *   (binned at pooled deciles, zero in its own bin); test: the smallest per-component chi-square
 *   p-value, Bonferroni-corrected over the components.
 * - `embedding`: a classifier two-sample test. Each side is split in two folds (seeded); the witness
 *   direction is the difference of the side means on one fold, and the other fold's inputs are scored by
 *   their projection on it (cross-fitted both ways). Effect: the ROC AUC of current against reference
 *   (0.5 = indistinguishable). Under no drift the scoring direction is independent of the scored fold,
 *   so the AUC is a Mann–Whitney statistic with known null mean 0.5 and variance; the one-sided normal
 *   test uses a single fold's variance, which is conservative for the average of the two folds. It uses
 *   every input (O(n · nnz)), so its power grows with n while its false-alarm rate does not.
 */
import { HASH_DIMENSION, HashedEmbedder, type SparseVector } from "./drift-embedding";
import {
  binOf,
  chiSquareHomogeneity,
  jsDistance,
  mergeSparseBins,
  normalSurvival,
  permutation,
  psi,
  quantileEdges,
  rocAuc,
  seededRandom,
} from "./drift-stats";

export interface DriftInput {
  text: string;
  /** "up" | "down" | a number in [0, 1] | null */
  rating?: string | number | null;
  labels?: string[] | null;
  embedding?: number[] | null;
}

export interface DriftThresholds {
  /** JS distance (base 2, 0..1) on binned length, rating and label shares. */
  jsDistance: number;
  /** Mean per-component JS distance of the embedding. */
  componentJsDistance: number;
  /** Population stability index on length. */
  psi: number;
  /** ROC AUC of the embedding's two-sample classifier. */
  auc: number;
}

export const DEFAULT_THRESHOLDS: DriftThresholds = { jsDistance: 0.1, componentJsDistance: 0.1, psi: 0.2, auc: 0.55 };

export interface DriftOptions {
  seed?: number;
  /** Family-wise significance level over all features tested. */
  alpha?: number;
  thresholds?: Partial<DriftThresholds>;
  /** Fewest values on each side for the rating and label features to be compared. */
  minCategorical?: number;
}

export interface DriftFeature {
  name: string;
  statistic: "js_distance" | "psi" | "mean_component_js_distance" | "classifier_auc";
  value: number;
  threshold: number;
  drifted: boolean;
  /** The test's p-value (before the Bonferroni correction; compare with `alpha`). */
  pValue: number;
  /** The significance level this feature's p-value is compared with (alpha / features tested). */
  alpha: number;
  test: string;
  n: { reference: number; current: number };
}

export interface DriftReport {
  drifted: boolean;
  features: DriftFeature[];
  skipped: { name: string; reason: string }[];
  embedding: { kind: "hashed" | "provided"; dimension: number; componentsCompared: number };
  alpha: number;
  seed: number;
  method: string;
}

export const DRIFT_METHOD =
  "hashed word 1-2-gram + char 3-gram embedding (512 buckets, FNV-1a, signed, log1p, L2) or the events' own embedding; " +
  "JS distance on binned length, rating and label shares and per embedding component; PSI on length; " +
  "cross-fitted mean-difference classifier AUC on the embedding; a feature drifts when its effect passes " +
  "its threshold and its test is significant at alpha (Bonferroni over features)";

const LENGTH_BINS = 10;
const COMPONENT_BINS = 8;
/** Inputs per side sampled to place bin edges (pooled, so the edges do not favour either side). */
const EDGE_SAMPLE = 2000;
/** Components of a provided embedding compared by histogram (evenly spaced when there are more). */
const MAX_COMPONENTS = 512;

interface VectorSource {
  dimension: number;
  kind: "hashed" | "provided";
  /** Calls `fn` with the i-th input's nonzero entries (index may be null: dense, all components). */
  visit(i: number, fn: (index: ArrayLike<number> | null, value: ArrayLike<number>) => void): void;
}

/**
 * Nonzero entries of hashed vectors kept per side between passes (6 bytes each: ~12 MB). Past it the
 * remaining inputs are embedded again in each pass, so memory stays bounded at any n.
 */
const CACHE_NONZEROS = 2_000_000;

function hashedSource(inputs: DriftInput[]): VectorSource {
  const embedder = new HashedEmbedder();
  const cache: (SparseVector | undefined)[] = [];
  let cached = 0;
  return {
    dimension: HASH_DIMENSION,
    kind: "hashed",
    visit(i, fn) {
      let v = cache[i];
      if (!v) {
        v = embedder.embed(inputs[i]!.text);
        if (cached + v.index.length <= CACHE_NONZEROS) {
          cache[i] = v;
          cached += v.index.length;
        }
      }
      fn(v.index, v.value);
    },
  };
}

function providedSource(inputs: DriftInput[], dimension: number): VectorSource {
  const scratch = new Float64Array(dimension);
  return {
    dimension,
    kind: "provided",
    visit(i, fn) {
      const e = inputs[i]!.embedding!;
      let norm = 0;
      for (let d = 0; d < dimension; d++) norm += e[d]! * e[d]!;
      norm = Math.sqrt(norm) || 1;
      for (let d = 0; d < dimension; d++) scratch[d] = e[d]! / norm;
      fn(null, scratch);
    },
  };
}

/** The common dimension of every input's own embedding on both sides, or null when any lacks one. */
export function providedDimension(reference: DriftInput[], current: DriftInput[]): number | null {
  let dim: number | null = null;
  for (const side of [reference, current]) {
    for (const x of side) {
      const e = x.embedding;
      if (!Array.isArray(e) || e.length === 0 || e.length > 8192) return null;
      if (dim === null) dim = e.length;
      else if (e.length !== dim) return null;
    }
  }
  return dim;
}

function ratingClass(r: string | number | null | undefined): string | null {
  if (r === null || r === undefined) return null;
  if (r === "up" || r === "down") return r;
  const v = typeof r === "number" ? r : Number(r);
  if (!Number.isFinite(v)) return null;
  return v < 0.25 ? "[0,0.25)" : v < 0.5 ? "[0.25,0.5)" : v < 0.75 ? "[0.5,0.75)" : "[0.75,1]";
}

/** Counts of categories on both sides, over the union of categories (the 20 most frequent, then "(other)"). */
function categoryCounts(ref: string[][], cur: string[][]): [number[], number[], number, number] {
  const total = new Map<string, number>();
  for (const side of [ref, cur]) for (const cats of side) for (const c of cats) total.set(c, (total.get(c) ?? 0) + 1);
  const top = [...total.entries()]
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .slice(0, 20)
    .map(([c]) => c);
  const slot = new Map(top.map((c, i) => [c, i]));
  const count = (side: string[][]) => {
    const out = new Array<number>(top.length + 1).fill(0);
    let n = 0;
    for (const cats of side) {
      if (cats.length > 0) n++;
      for (const c of cats) out[slot.get(c) ?? top.length]! += 1;
    }
    return [out, n] as const;
  };
  const [a, na] = count(ref);
  const [b, nb] = count(cur);
  return [a, b, na, nb];
}

/**
 * Compares a current set of inputs with a reference set. Deterministic for a given seed; sizes of a few
 * hundred per side upwards give a meaningful answer (smaller sets rarely reach significance, by design).
 */
export function compareDrift(reference: DriftInput[], current: DriftInput[], opts: DriftOptions = {}): DriftReport {
  const seed = opts.seed ?? 1;
  const alpha = opts.alpha ?? 0.01;
  const th = { ...DEFAULT_THRESHOLDS, ...(opts.thresholds ?? {}) };
  const minCategorical = opts.minCategorical ?? 30;
  const rand = seededRandom(seed);
  const nR = reference.length;
  const nC = current.length;
  const skipped: DriftReport["skipped"] = [];
  const pending: Omit<DriftFeature, "drifted" | "alpha">[] = [];
  const n = { reference: nR, current: nC };

  // Length.
  const lenR = Float64Array.from(reference, (x) => x.text.length);
  const lenC = Float64Array.from(current, (x) => x.text.length);
  const edgeIdxR = permutation(nR, rand).subarray(0, Math.min(nR, EDGE_SAMPLE));
  const edgeIdxC = permutation(nC, rand).subarray(0, Math.min(nC, EDGE_SAMPLE));
  if (nR > 0 && nC > 0) {
    const pooled = [...Array.from(edgeIdxR, (i) => lenR[i]!), ...Array.from(edgeIdxC, (i) => lenC[i]!)];
    const edges = quantileEdges(pooled, LENGTH_BINS);
    const hR = new Array<number>(edges.length + 1).fill(0);
    const hC = new Array<number>(edges.length + 1).fill(0);
    for (const v of lenR) hR[binOf(edges, v)]! += 1;
    for (const v of lenC) hC[binOf(edges, v)]! += 1;
    const [mR, mC] = mergeSparseBins(hR, hC);
    const chi = chiSquareHomogeneity(mR, mC);
    const test = `chi-square homogeneity, ${chi.df} df`;
    pending.push({
      name: "length",
      statistic: "js_distance",
      value: jsDistance(mR, mC),
      threshold: th.jsDistance,
      pValue: chi.pValue,
      test,
      n,
    });
    pending.push({
      name: "length",
      statistic: "psi",
      value: psi(mR, mC),
      threshold: th.psi,
      pValue: chi.pValue,
      test,
      n,
    });
  }

  // Ratings and labels, among the inputs that carry one.
  const categorical = (name: string, pick: (x: DriftInput) => string[]) => {
    const [a, b, na, nb] = categoryCounts(reference.map(pick), current.map(pick));
    if (na < minCategorical || nb < minCategorical) {
      skipped.push({ name, reason: `needs ${minCategorical} values on each side (reference ${na}, current ${nb})` });
      return;
    }
    const [mA, mB] = mergeSparseBins(a, b);
    const chi = chiSquareHomogeneity(mA, mB);
    pending.push({
      name,
      statistic: "js_distance",
      value: jsDistance(mA, mB),
      threshold: th.jsDistance,
      pValue: chi.pValue,
      test: `chi-square homogeneity, ${chi.df} df`,
      n: { reference: na, current: nb },
    });
  };
  categorical("rating", (x) => {
    const c = ratingClass(x.rating);
    return c ? [c] : [];
  });
  categorical("labels", (x) => (Array.isArray(x.labels) ? x.labels.filter((l) => typeof l === "string") : []));

  // Embedding.
  const dim = providedDimension(reference, current);
  const srcR = dim ? providedSource(reference, dim) : hashedSource(reference);
  const srcC = dim ? providedSource(current, dim) : hashedSource(current);
  const D = srcR.dimension;
  let componentsCompared = 0;
  if (nR >= 4 && nC >= 4) {
    const components =
      D <= MAX_COMPONENTS
        ? Array.from({ length: D }, (_, d) => d)
        : Array.from({ length: MAX_COMPONENTS }, (_, k) => Math.floor((k * D) / MAX_COMPONENTS));
    const slotOf = new Int32Array(D).fill(-1);
    components.forEach((d, k) => {
      slotOf[d] = k;
    });
    componentsCompared = components.length;

    // Bin edges per component from the pooled subsample; zero always gets a bin of its own.
    const columns = components.map(() => [] as number[]);
    const sampled = (src: VectorSource, idx: Uint32Array) => {
      for (const i of idx) {
        const seen = new Uint8Array(components.length);
        src.visit(i, (index, value) => {
          for (let k = 0; k < value.length; k++) {
            const s = slotOf[index ? index[k]! : k]!;
            if (s < 0) continue;
            columns[s]!.push(value[k]!);
            seen[s] = 1;
          }
        });
        for (let s = 0; s < components.length; s++) if (!seen[s]) columns[s]!.push(0);
      }
    };
    sampled(srcR, edgeIdxR);
    sampled(srcC, edgeIdxC);
    const edges = columns.map((col) => {
      const q = quantileEdges(col, COMPONENT_BINS).filter((e) => e !== 0 && e !== -1e-12);
      return [...q.filter((e) => e < 0), -1e-12, 0, ...q.filter((e) => e > 0)];
    });
    const zeroBin = edges.map((e) => binOf(e, 0));
    const nb = COMPONENT_BINS + 2;

    // Pass 1: fold means (for the witness) and per-component histograms.
    const foldOf = (count: number) => {
      const p = permutation(count, rand);
      const f = new Uint8Array(count);
      for (let k = 0; k < count; k++) f[p[k]!] = k < count / 2 ? 0 : 1;
      return f;
    };
    const foldR = foldOf(nR);
    const foldC = foldOf(nC);
    const pass1 = (src: VectorSource, count: number, fold: Uint8Array) => {
      const sums = [new Float64Array(D), new Float64Array(D)];
      const sizes = [0, 0];
      const hist = new Float64Array(components.length * nb);
      const nonzeroSeen = new Float64Array(components.length);
      for (let i = 0; i < count; i++) {
        const f = fold[i]!;
        sizes[f]!++;
        const sum = sums[f]!;
        src.visit(i, (index, value) => {
          for (let k = 0; k < value.length; k++) {
            const d = index ? index[k]! : k;
            const v = value[k]!;
            sum[d]! += v;
            const s = slotOf[d]!;
            if (s < 0) continue;
            hist[s * nb + binOf(edges[s]!, v)]! += 1;
            nonzeroSeen[s]! += 1;
          }
        });
      }
      // Sparse inputs skip their zero components: put them back in each component's zero bin.
      for (let s = 0; s < components.length; s++) hist[s * nb + zeroBin[s]!]! += count - nonzeroSeen[s]!;
      return { sums, sizes, hist };
    };
    const r1 = pass1(srcR, nR, foldR);
    const c1 = pass1(srcC, nC, foldC);

    let jsSum = 0;
    let minP = 1;
    for (let s = 0; s < components.length; s++) {
      const a = r1.hist.subarray(s * nb, (s + 1) * nb);
      const b = c1.hist.subarray(s * nb, (s + 1) * nb);
      const [mA, mB] = mergeSparseBins(a, b);
      jsSum += jsDistance(mA, mB);
      minP = Math.min(minP, chiSquareHomogeneity(mA, mB).pValue);
    }
    pending.push({
      name: "embedding.components",
      statistic: "mean_component_js_distance",
      value: jsSum / components.length,
      threshold: th.componentJsDistance,
      pValue: Math.min(1, minP * components.length),
      test: `smallest per-component chi-square p-value, Bonferroni over ${components.length} components`,
      n,
    });

    // Pass 2: cross-fitted witness scores. Fold f is scored with the direction learnt on the other fold.
    const witness = [0, 1].map((f) => {
      const w = new Float64Array(D);
      const sr = Math.max(1, r1.sizes[f]!);
      const sc = Math.max(1, c1.sizes[f]!);
      for (let d = 0; d < D; d++) w[d] = c1.sums[f]![d]! / sc - r1.sums[f]![d]! / sr;
      return w;
    });
    const scores = (src: VectorSource, count: number, fold: Uint8Array) => {
      const out = [[] as number[], [] as number[]];
      for (let i = 0; i < count; i++) {
        const f = fold[i]!;
        const w = witness[1 - f]!;
        let s = 0;
        src.visit(i, (index, value) => {
          for (let k = 0; k < value.length; k++) s += w[index ? index[k]! : k]! * value[k]!;
        });
        out[f]!.push(s);
      }
      return out.map((a) => Float64Array.from(a));
    };
    const sR = scores(srcR, nR, foldR);
    const sC = scores(srcC, nC, foldC);
    const auc0 = rocAuc(sC[0]!, sR[0]!);
    const auc1 = rocAuc(sC[1]!, sR[1]!);
    const auc = (auc0 + auc1) / 2;
    // Null variance of one fold's AUC (Mann–Whitney, no tie correction: conservative with ties).
    const n1 = Math.min(sC[0]!.length, sC[1]!.length);
    const n0 = Math.min(sR[0]!.length, sR[1]!.length);
    const sd = Math.sqrt((n0 + n1 + 1) / (12 * n0 * n1));
    pending.push({
      name: "embedding",
      statistic: "classifier_auc",
      value: auc,
      threshold: th.auc,
      pValue: normalSurvival((auc - 0.5) / sd),
      test: "cross-fitted mean-difference classifier, one-sided Mann–Whitney normal test",
      n,
    });
  } else {
    skipped.push({ name: "embedding", reason: `needs 4 inputs on each side (reference ${nR}, current ${nC})` });
  }

  // length's JS distance and PSI share one test, so the family counts distinct tests.
  const tests = new Set(pending.map((p) => `${p.name}`)).size || 1;
  const perTest = alpha / tests;
  const features: DriftFeature[] = pending.map((p) => ({
    ...p,
    alpha: perTest,
    drifted: p.value > p.threshold && p.pValue < perTest,
  }));
  return {
    drifted: features.some((f) => f.drifted),
    features,
    skipped,
    embedding: { kind: srcR.kind, dimension: D, componentsCompared },
    alpha,
    seed,
    method: DRIFT_METHOD,
  };
}
