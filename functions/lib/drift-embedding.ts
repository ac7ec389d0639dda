/**
 * A deterministic text embedding for drift detection: the hashing trick over word and character n-grams.
 *
 * - Text is lower-cased (`toLowerCase`, locale independent) and split into words at every character that
 *   is not a Unicode letter or digit.
 * - Features: word unigrams and bigrams (weight 1) and character 3-grams of each word padded with a
 *   boundary mark, `<word>` (weight 0.5, so a misspelt word still lands near its correct form).
 * - Hash: 32-bit FNV-1a over the UTF-16 code units of the n-gram (a bigram hashes "w1 w2"). The low bits
 *   pick one of `HASH_DIMENSION` buckets; bit 31 picks the sign (signed hashing: collisions cancel on
 *   average instead of piling up).
 * - Each bucket's value is sign · log(1 + |sum of weights|), then the vector is L2-normalised, so long
 *   inputs do not dominate and a repeated word counts sub-linearly. An input with no letters or digits is
 *   the zero vector.
 *
 * The vector is sparse: only buckets an input touches are returned (ascending indices).
 */

/** Buckets of the hashed embedding (a power of two, so the bucket is `hash & (D - 1)`). */
export const HASH_DIMENSION = 512;
export const WORD_NGRAMS = [1, 2] as const;
export const CHAR_NGRAM = 3;
const CHAR_WEIGHT = 0.5;
/** Inputs are embedded from their first 8,000 characters: drift in a prompt shows in its opening. */
export const MAX_EMBED_CHARS = 8000;

const WORD_SPLIT = /[^\p{L}\p{N}]+/u;

function fnv1a(s: string, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

function fnv1aStep(h: number, code: number): number {
  return Math.imul((h ^ code) >>> 0, 0x01000193) >>> 0;
}

export interface SparseVector {
  index: Uint16Array;
  value: Float32Array;
}

/** Reusable scratch space, so embedding many inputs allocates only their outputs. */
export class HashedEmbedder {
  private readonly acc = new Float64Array(HASH_DIMENSION);
  private readonly touched = new Uint8Array(HASH_DIMENSION);
  private readonly list: number[] = [];
  private codes = new Uint16Array(64);

  private add(h: number, w: number) {
    const i = h & (HASH_DIMENSION - 1);
    this.acc[i]! += h >>> 31 ? -w : w;
    if (!this.touched[i]) {
      this.touched[i] = 1;
      this.list.push(i);
    }
  }

  embed(text: string): SparseVector {
    const words = text.slice(0, MAX_EMBED_CHARS).toLowerCase().split(WORD_SPLIT);
    let prev = -1;
    for (let i = 0; i < words.length; i++) {
      const w = words[i]!;
      if (w.length === 0) continue;
      const h = fnv1a(w);
      this.add(h, 1);
      // The bigram "w1 w2": FNV-1a continued over " w2" from the state after w1, the same as hashing the joined string.
      if (prev >= 0) this.add(fnv1a(w, fnv1aStep(prev, 32)), 1);
      prev = h;
      // Character 3-grams of "<w>", hashed from the code units without building substrings.
      const len = w.length + 2;
      if (this.codes.length < len) this.codes = new Uint16Array(len * 2);
      const code = this.codes;
      code[0] = 60; // "<"
      for (let k = 0; k < w.length; k++) code[k + 1] = w.charCodeAt(k);
      code[len - 1] = 62; // ">"
      for (let j = 0; j + CHAR_NGRAM <= len; j++) {
        let g = 0x811c9dc5;
        for (let k = j; k < j + CHAR_NGRAM; k++) g = Math.imul(g ^ code[k]!, 0x01000193) >>> 0;
        this.add(g, CHAR_WEIGHT);
      }
    }
    this.list.sort((a, b) => a - b);
    const index = Uint16Array.from(this.list);
    const value = new Float32Array(index.length);
    let norm = 0;
    for (let k = 0; k < index.length; k++) {
      const raw = this.acc[index[k]!]!;
      const v = Math.sign(raw) * Math.log1p(Math.abs(raw));
      value[k] = v;
      norm += v * v;
      this.acc[index[k]!] = 0;
      this.touched[index[k]!] = 0;
    }
    this.list.length = 0;
    norm = Math.sqrt(norm);
    if (norm > 0) for (let k = 0; k < value.length; k++) value[k]! /= norm;
    return { index, value };
  }
}
