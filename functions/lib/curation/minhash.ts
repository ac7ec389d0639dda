/**
 * Near-duplicate detection for curation: text normalisation, exact hashes, MinHash signatures over word
 * n-gram shingles, LSH banding, exact Jaccard on candidate pairs and union-find clusters.
 *
 * Pure: no Worker, D1 or R2 imports, so it runs the same in workerd, in Node tests and in the bench.
 *
 * Candidate probability. With `b` bands of `r` rows, two texts of Jaccard similarity `s` share at least
 * one band (become a candidate pair) with probability `P(s) = 1 - (1 - s^r)^b`. `lshParams` picks the
 * largest `r` whose `P(threshold) >= 0.95` (fewest false candidates for that recall), with
 * `b = floor(permutations / r)`. For the defaults (128 permutations, threshold 0.8) that is
 * **b = 18 bands × r = 7 rows** (126 of the 128 values used):
 *
 * | s    | P(s) = 1 - (1 - s^7)^18 |
 * |------|-------------------------|
 * | 0.85 | 0.9990                  |
 * | 0.80 | 0.9855                  |
 * | 0.70 | 0.7871                  |
 * | 0.50 | 0.1317                  |
 *
 * Candidates are then checked with the exact Jaccard similarity of their shingle sets, so LSH decides
 * recall (a pair that is never a candidate is never merged) and the exact check decides precision.
 *
 * @example
 * const cfg = nearConfig({ threshold: 0.8 });
 * const docs = texts.map((t, i) => ({ key: i, shingles: shingleSet(t, cfg.ngram) }));
 * const clusters = nearDuplicateClusters(docs, cfg); // [[0, 3], [5, 9, 12]]
 */

// ---------------------------------------------------------------- hashing

/** MurmurHash3 x86_32 over a sequence of 32-bit words (the body loop of the reference, no tail). */
export function murmur3Words(words: ArrayLike<number>, seed: number, from = 0, to = words.length): number {
  let h = seed >>> 0;
  for (let i = from; i < to; i++) {
    let k = Math.imul(words[i]!, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  h ^= (to - from) * 4;
  return fmix(h);
}

function fmix(x: number): number {
  let h = x;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * MurmurHash3 x86_32 of a string's UTF-16 code units, two units per 32-bit block (the reference
 * algorithm applied to the UTF-16LE bytes). Deterministic across runtimes; not cryptographic.
 */
export function murmur3String(text: string, seed = 0): number {
  let h = seed >>> 0;
  const n = text.length;
  const even = n & ~1;
  for (let i = 0; i < even; i += 2) {
    let k = text.charCodeAt(i) | (text.charCodeAt(i + 1) << 16);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  if (n & 1) {
    let k = text.charCodeAt(n - 1);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
  }
  h ^= n * 2;
  return fmix(h);
}

/** A small seeded PRNG (mulberry32) for the permutation coefficients: the same seed, the same hashes. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---------------------------------------------------------------- text

const NON_WORD = /[^\p{L}\p{N}]+/gu;

/**
 * The text that dedup compares: Unicode NFKC, lower case, every run of characters that are neither
 * letters nor digits (punctuation, symbols, whitespace) collapsed to one space, trimmed. "Hello,  World!"
 * and "hello world" normalise to the same string.
 */
export function normalizeText(text: string): string {
  return text.normalize("NFKC").toLowerCase().replace(NON_WORD, " ").trim();
}

export function words(normalized: string): string[] {
  return normalized.length === 0 ? [] : normalized.split(" ");
}

/** Exact-dedup key of a normalised text: two independent 32-bit hashes (a collision needs both). */
export function exactKey(normalized: string): string {
  const a = murmur3String(normalized, 0x9747b28c);
  const b = murmur3String(normalized, 0x3c6ef372);
  return a.toString(16).padStart(8, "0") + b.toString(16).padStart(8, "0");
}

/**
 * The set of word n-gram shingles of a normalised text, as sorted distinct 32-bit hashes. A text of
 * fewer than `ngram` words (but at least one) is one shingle of all its words, so two short texts match
 * only when they are equal after normalisation; an empty text has no shingles and matches nothing.
 */
export function shingleSet(normalized: string, ngram: number): Uint32Array {
  const ws = words(normalized);
  if (ws.length === 0) return new Uint32Array(0);
  const wordHashes = new Uint32Array(ws.length);
  for (let i = 0; i < ws.length; i++) wordHashes[i] = murmur3String(ws[i]!, 0x5bd1e995);
  const count = ws.length < ngram ? 1 : ws.length - ngram + 1;
  const width = Math.min(ngram, ws.length);
  const out = new Uint32Array(count);
  for (let i = 0; i < count; i++) out[i] = murmur3Words(wordHashes, 0x1b873593, i, i + width);
  out.sort();
  let n = 0;
  for (let i = 0; i < out.length; i++) if (i === 0 || out[i] !== out[n - 1]) out[n++] = out[i]!;
  return out.subarray(0, n);
}

/** Exact Jaccard similarity of two sorted distinct hash sets; two empty sets are 0 (nothing to compare). */
export function jaccard(a: Uint32Array, b: Uint32Array): number {
  if (a.length === 0 || b.length === 0) return 0;
  let i = 0;
  let j = 0;
  let inter = 0;
  while (i < a.length && j < b.length) {
    const x = a[i]!;
    const y = b[j]!;
    if (x === y) {
      inter++;
      i++;
      j++;
    } else if (x < y) i++;
    else j++;
  }
  return inter / (a.length + b.length - inter);
}

// ---------------------------------------------------------------- MinHash

export interface NearConfig {
  /** Jaccard similarity at or above which two texts are near-duplicates. */
  threshold: number;
  /** Words per shingle. */
  ngram: number;
  /** MinHash signature length. */
  permutations: number;
  /** LSH bands and rows per band (b × r ≤ permutations), from `lshParams` unless given. */
  bands: number;
  rows: number;
  /** Seed of the permutation coefficients. */
  seed: number;
}

export const DEFAULT_NEAR = { threshold: 0.8, ngram: 5, permutations: 128 } as const;

/** Recall that `lshParams` asks of the candidate step at the threshold. */
export const LSH_TARGET_RECALL = 0.95;

/** Probability that two texts of similarity `s` become a candidate pair with `bands` × `rows`. */
export function candidateProbability(s: number, bands: number, rows: number): number {
  return 1 - (1 - s ** rows) ** bands;
}

/**
 * Bands × rows for a threshold: the largest `r` (fewest candidates below the threshold) whose candidate
 * probability at the threshold is at least LSH_TARGET_RECALL, with `b = floor(permutations / r)`.
 */
export function lshParams(threshold: number, permutations: number): { bands: number; rows: number } {
  for (let r = permutations; r >= 1; r--) {
    const b = Math.floor(permutations / r);
    if (candidateProbability(threshold, b, r) >= LSH_TARGET_RECALL) return { bands: b, rows: r };
  }
  return { bands: permutations, rows: 1 };
}

export function nearConfig(opts: Partial<Omit<NearConfig, "bands" | "rows">> = {}): NearConfig {
  const threshold = opts.threshold ?? DEFAULT_NEAR.threshold;
  const permutations = opts.permutations ?? DEFAULT_NEAR.permutations;
  return {
    threshold,
    ngram: opts.ngram ?? DEFAULT_NEAR.ngram,
    permutations,
    seed: opts.seed ?? 42,
    ...lshParams(threshold, permutations),
  };
}

/** The Mersenne prime 2^31 - 1: the universal family h(x) = (a·x + b) mod P. */
const P = 0x7fffffff;
const P_FLOAT = 2147483647;
const TWO_31 = 2147483648;
const INV_2_31 = 1 / 2147483648;

/**
 * MinHash with `k` hash functions from the universal family h_i(x) = (a_i·x + b_i) mod (2^31 − 1),
 * a_i in [1, P), b_i in [0, P), drawn from a seeded PRNG. The product a·x is split (a = a_hi·2^16 + a_lo)
 * so every intermediate stays below 2^53 and is exact in a double.
 */
export class MinHasher {
  private readonly aHi: Float64Array;
  private readonly aLo: Float64Array;
  private readonly b: Float64Array;

  constructor(
    readonly permutations: number,
    seed = 42,
  ) {
    const rnd = mulberry32(seed);
    this.aHi = new Float64Array(permutations);
    this.aLo = new Float64Array(permutations);
    this.b = new Float64Array(permutations);
    for (let i = 0; i < permutations; i++) {
      const a = 1 + Math.floor(rnd() * (P - 1));
      this.aHi[i] = Math.floor(a / 65536);
      this.aLo[i] = a % 65536;
      this.b[i] = Math.floor(rnd() * P);
    }
  }

  /** The signature of a shingle set; an empty set gets all P (it shares no band value with a real text). */
  signature(shingles: Uint32Array): Uint32Array {
    const k = this.permutations;
    const sig = new Uint32Array(k).fill(P);
    const n = shingles.length;
    if (n === 0) return sig;
    const xs = new Float64Array(n);
    for (let s = 0; s < n; s++) xs[s] = shingles[s]! % P_FLOAT;
    for (let i = 0; i < k; i++) {
      const ah = this.aHi[i]!;
      const al = this.aLo[i]!;
      const bi = this.b[i]!;
      let min = P_FLOAT;
      for (let s = 0; s < n; s++) {
        const x = xs[s]!;
        // Mersenne reduction, 2^31 ≡ 1 (mod P): t mod P = (t mod 2^31) + floor(t / 2^31), with floor
        // and a multiply instead of a floating-point remainder (which V8 calls out of line).
        const t = ah * x;
        const q = Math.floor(t * INV_2_31);
        const v = (t - q * TWO_31 + q) * 65536 + al * x + bi;
        const q2 = Math.floor(v * INV_2_31);
        let r = v - q2 * TWO_31 + q2;
        if (r >= P_FLOAT) r -= P_FLOAT;
        if (r < min) min = r;
      }
      sig[i] = min;
    }
    return sig;
  }
}

/** Share of equal positions: the MinHash estimate of the Jaccard similarity. */
export function estimateJaccard(a: Uint32Array, b: Uint32Array): number {
  let eq = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === b[i]) eq++;
  return a.length === 0 ? 0 : eq / a.length;
}

/**
 * The LSH keys of a signature: one 32-bit hash per band (of its `rows` values, seeded by the band
 * index). Only these keys are persisted between chunks: `bands × 4` bytes per text. A text with no
 * shingles has no keys, so it is never a candidate.
 */
export function bandKeys(sig: Uint32Array, bands: number, rows: number, empty = false): Uint32Array {
  if (empty) return new Uint32Array(0);
  const out = new Uint32Array(bands);
  for (let i = 0; i < bands; i++) out[i] = murmur3Words(sig, i, i * rows, (i + 1) * rows);
  return out;
}

/** Shingles → signature → band keys in one call. */
export function lshKeys(shingles: Uint32Array, hasher: MinHasher, cfg: NearConfig): Uint32Array {
  return bandKeys(hasher.signature(shingles), cfg.bands, cfg.rows, shingles.length === 0);
}

// ---------------------------------------------------------------- clusters

/** Union-find with path halving and union by size; the root of a set is its smallest member index. */
export class UnionFind {
  private readonly parent: Int32Array;
  constructor(n: number) {
    this.parent = new Int32Array(n);
    for (let i = 0; i < n; i++) this.parent[i] = i;
  }
  find(x: number): number {
    const p = this.parent;
    let i = x;
    while (p[i] !== i) {
      p[i] = p[p[i]!]!;
      i = p[i]!;
    }
    return i;
  }
  /** Joins two sets; the smaller root index becomes the root, so "the earliest member" is the root. */
  union(a: number, b: number): boolean {
    const ra = this.find(a);
    const rb = this.find(b);
    if (ra === rb) return false;
    if (ra < rb) this.parent[rb] = ra;
    else this.parent[ra] = rb;
    return true;
  }
}

/**
 * Candidate pairs from LSH: texts that share a band key in the same band. Pairs are returned once each
 * (i < j), in increasing order of i then j.
 */
export function lshCandidates(keys: Uint32Array[], bands: number): [number, number][] {
  const seen = new Set<number>();
  const pairs: [number, number][] = [];
  const n = keys.length;
  for (let band = 0; band < bands; band++) {
    const buckets = new Map<number, number[]>();
    for (let i = 0; i < n; i++) {
      const k = keys[i]!;
      if (k.length === 0) continue;
      const key = k[band]!;
      const list = buckets.get(key);
      if (list) list.push(i);
      else buckets.set(key, [i]);
    }
    for (const list of buckets.values()) {
      if (list.length < 2) continue;
      for (let x = 0; x < list.length; x++) {
        for (let y = x + 1; y < list.length; y++) {
          const i = list[x]!;
          const j = list[y]!;
          // n ≤ 2^26 keeps i·n + j exact in a double.
          const id = i * n + j;
          if (seen.has(id)) continue;
          seen.add(id);
          pairs.push([i, j]);
        }
      }
    }
  }
  pairs.sort((p, q) => p[0] - q[0] || p[1] - q[1]);
  return pairs;
}

export interface NearResult {
  /** Union-find over the inputs: `find(i)` is the earliest index of i's cluster. */
  clusters: UnionFind;
  candidates: number;
  /** Candidate pairs whose exact Jaccard reached the threshold (the edges that were merged). */
  merged: number;
}

/**
 * Clusters near-duplicates among texts given in order of precedence (index 0 is kept first): candidate
 * pairs from LSH band keys, each checked with the exact Jaccard of the shingle sets (`shinglesOf(i)`,
 * computed lazily, so only candidates pay for it). Pairs already in one cluster are not checked again.
 */
export function clusterNear(
  keys: Uint32Array[],
  shinglesOf: (i: number) => Uint32Array,
  cfg: Pick<NearConfig, "threshold" | "bands">,
): NearResult {
  const uf = new UnionFind(keys.length);
  const pairs = lshCandidates(keys, cfg.bands);
  const cache = new Map<number, Uint32Array>();
  const get = (i: number) => {
    let s = cache.get(i);
    if (!s) {
      s = shinglesOf(i);
      cache.set(i, s);
    }
    return s;
  };
  let merged = 0;
  for (const [i, j] of pairs) {
    if (uf.find(i) === uf.find(j)) continue;
    if (jaccard(get(i), get(j)) >= cfg.threshold) {
      uf.union(i, j);
      merged++;
    }
  }
  return { clusters: uf, candidates: pairs.length, merged };
}

/** Groups indices by cluster root: each group in index order, groups in order of their root. */
export function groups(uf: UnionFind, n: number): number[][] {
  const byRoot = new Map<number, number[]>();
  for (let i = 0; i < n; i++) {
    const r = uf.find(i);
    const g = byRoot.get(r);
    if (g) g.push(i);
    else byRoot.set(r, [i]);
  }
  return [...byRoot.values()];
}

/**
 * Convenience for tests and small inputs: the clusters (of size ≥ 2) of near-duplicate texts.
 */
export function nearDuplicateClusters(texts: string[], cfg: NearConfig = nearConfig()): number[][] {
  const hasher = new MinHasher(cfg.permutations, cfg.seed);
  const shingles = texts.map((t) => shingleSet(normalizeText(t), cfg.ngram));
  const keys = shingles.map((s) => lshKeys(s, hasher, cfg));
  const { clusters } = clusterNear(keys, (i) => shingles[i]!, cfg);
  return groups(clusters, texts.length).filter((g) => g.length > 1);
}

// ---------------------------------------------------------------- compact persistence

/** Band keys of many texts as one base64 string (little-endian uint32s), for R2 between chunks. */
export function encodeKeys(keys: Uint32Array): string {
  const bytes = new Uint8Array(keys.buffer, keys.byteOffset, keys.byteLength);
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

export function decodeKeys(b64: string): Uint32Array {
  const s = atob(b64);
  const bytes = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) bytes[i] = s.charCodeAt(i);
  return new Uint32Array(bytes.buffer, 0, bytes.length >>> 2);
}
