import { describe, expect, it } from "vitest";
import {
  bandKeys,
  candidateProbability,
  clusterNear,
  decodeKeys,
  encodeKeys,
  estimateJaccard,
  exactKey,
  groups,
  jaccard,
  lshCandidates,
  lshKeys,
  lshParams,
  MinHasher,
  murmur3String,
  nearConfig,
  nearDuplicateClusters,
  normalizeText,
  shingleSet,
  UnionFind,
} from "../../functions/lib/curation/minhash";
import { generateSet, lcg, trueJaccard, trueShingles, vocabulary } from "./curation-near-dup-set";

describe("text normalisation and exact keys", () => {
  it("folds case, width, punctuation and whitespace, so trivially different texts share one key", () => {
    expect(normalizeText("  Hello,   WORLD!!\n\tHow are you?")).toBe("hello world how are you");
    expect(normalizeText("Ｆｕｌｌ－ｗｉｄｔｈ")).toBe("full width");
    expect(normalizeText("Ça va? Déjà-vu.")).toBe("ça va déjà vu");
    expect(normalizeText("?!… ---")).toBe("");
    expect(exactKey(normalizeText("Hello, world"))).toBe(exactKey(normalizeText("hello   WORLD!")));
    expect(exactKey("hello world")).not.toBe(exactKey("hello worlds"));
    expect(exactKey("a")).toMatch(/^[0-9a-f]{16}$/);
  });

  it("hashes strings deterministically with MurmurHash3 x86_32 (reference vectors)", () => {
    // Reference values of MurmurHash3_x86_32 over the UTF-16LE bytes of each string.
    expect(murmur3String("", 0)).toBe(0);
    expect(murmur3String("", 1)).toBe(0x514e28b7);
    // "ab" is the 4 bytes 61 00 62 00; "a" is the 2-byte tail 61 00.
    expect(murmur3String("ab", 0)).toBe(murmurBytes([0x61, 0x00, 0x62, 0x00], 0));
    expect(murmur3String("a", 0)).toBe(murmurBytes([0x61, 0x00], 0));
    expect(murmur3String("héllo wörld", 42)).toBe(murmurBytes(utf16le("héllo wörld"), 42));
  });
});

/** A byte-wise MurmurHash3_x86_32 written from the reference, to check the string version against. */
function murmurBytes(bytes: number[], seed: number): number {
  const c1 = 0xcc9e2d51;
  const c2 = 0x1b873593;
  let h = seed >>> 0;
  const nblocks = Math.floor(bytes.length / 4);
  for (let i = 0; i < nblocks; i++) {
    let k = bytes[4 * i]! | (bytes[4 * i + 1]! << 8) | (bytes[4 * i + 2]! << 16) | (bytes[4 * i + 3]! << 24);
    k = Math.imul(k, c1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, c2);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  const tail = nblocks * 4;
  const rest = bytes.length & 3;
  if (rest > 0) {
    let k = 0;
    if (rest === 3) k ^= bytes[tail + 2]! << 16;
    if (rest >= 2) k ^= bytes[tail + 1]! << 8;
    k ^= bytes[tail]!;
    k = Math.imul(k, c1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, c2);
    h ^= k;
  }
  h ^= bytes.length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const utf16le = (s: string) =>
  [...Array(s.length).keys()].flatMap((i) => [s.charCodeAt(i) & 0xff, s.charCodeAt(i) >> 8]);

describe("shingles", () => {
  it("makes word 5-grams, one shingle for a text shorter than the n-gram, none for an empty text", () => {
    expect(shingleSet("a b c d e f g", 5).length).toBe(3);
    expect(shingleSet("a b c d e a b c d e", 5).length).toBe(5); // "a b c d e" appears twice
    expect(shingleSet("yes please", 5).length).toBe(1);
    expect(shingleSet("", 5).length).toBe(0);
    const s = shingleSet("one two three four five six seven", 3);
    expect([...s]).toEqual([...s].sort((a, b) => a - b));
  });

  it("computes the exact Jaccard similarity of shingle sets as a plain string-set computation does", () => {
    const rnd = lcg(7);
    const vocab = vocabulary(rnd, 300);
    for (let t = 0; t < 50; t++) {
      const a = Array.from({ length: 30 }, () => vocab[Math.floor(rnd() * vocab.length)]!);
      const b = a.map((w) => (rnd() < 0.1 ? vocab[Math.floor(rnd() * vocab.length)]! : w));
      const want = trueJaccard(trueShingles(a.join(" "), 5), trueShingles(b.join(" "), 5));
      expect(jaccard(shingleSet(a.join(" "), 5), shingleSet(b.join(" "), 5))).toBeCloseTo(want, 10);
    }
    expect(jaccard(new Uint32Array(0), new Uint32Array(0))).toBe(0);
  });
});

describe("MinHash", () => {
  it("estimates the Jaccard similarity within the error 128 permutations allow", () => {
    const set = generateSet({ seed: 11, families: 40, targets: [0.95, 0.85, 0.7, 0.5, 0.3], unrelated: 0 });
    const hasher = new MinHasher(128);
    const byFamily = new Map<number, string[]>();
    for (const [i, t] of set.texts.entries())
      byFamily.set(set.family[i]!, [...(byFamily.get(set.family[i]!) ?? []), t]);
    const errors: number[] = [];
    for (const texts of byFamily.values()) {
      for (let i = 1; i < texts.length; i++) {
        const a = shingleSet(texts[0]!, 5);
        const b = shingleSet(texts[i]!, 5);
        errors.push(Math.abs(estimateJaccard(hasher.signature(a), hasher.signature(b)) - jaccard(a, b)));
      }
    }
    const mean = errors.reduce((x, y) => x + y, 0) / errors.length;
    console.log(
      `MinHash |estimate - exact| over ${errors.length} pairs: mean ${mean.toFixed(4)}, max ${Math.max(...errors).toFixed(4)}`,
    );
    // The estimate's standard deviation is sqrt(J(1-J)/128) ≤ 0.044, so its mean absolute error ≤ 0.035.
    expect(mean).toBeLessThan(0.045);
    expect(Math.max(...errors)).toBeLessThan(0.2);
  });

  it("gives identical texts identical signatures, and the empty text a signature sharing no band", () => {
    const h = new MinHasher(64, 3);
    const a = h.signature(shingleSet("the same text in both places here", 5));
    expect(h.signature(shingleSet("the same text in both places here", 5))).toEqual(a);
    expect(bandKeys(a, 8, 8).length).toBe(8);
    expect(lshKeys(new Uint32Array(0), h, nearConfig({ permutations: 64 })).length).toBe(0);
  });

  it("round-trips band keys through their compact base64 form", () => {
    const keys = Uint32Array.from([0, 1, 0xffffffff, 123456789, 42]);
    expect(decodeKeys(encodeKeys(keys))).toEqual(keys);
  });
});

describe("LSH banding", () => {
  it("picks 18 bands of 7 rows for threshold 0.8 with 128 permutations, with the documented probabilities", () => {
    expect(lshParams(0.8, 128)).toEqual({ bands: 18, rows: 7 });
    expect(candidateProbability(0.85, 18, 7)).toBeCloseTo(0.999, 3);
    expect(candidateProbability(0.8, 18, 7)).toBeCloseTo(0.9855, 4);
    expect(candidateProbability(0.7, 18, 7)).toBeCloseTo(0.7871, 4);
    expect(candidateProbability(0.5, 18, 7)).toBeCloseTo(0.1317, 4);
    for (const [t, p] of [
      [0.9, 256],
      [0.7, 128],
      [0.5, 64],
    ] as const) {
      const { bands, rows } = lshParams(t, p);
      expect(bands * rows).toBeLessThanOrEqual(p);
      expect(candidateProbability(t, bands, rows)).toBeGreaterThanOrEqual(0.95);
    }
  });

  it("makes candidates at the rate 1 - (1 - s^r)^b predicts, per similarity band", () => {
    const set = generateSet({ seed: 5, families: 120, targets: [0.95, 0.88, 0.8, 0.7, 0.55], unrelated: 0 });
    const cfg = nearConfig();
    const hasher = new MinHasher(cfg.permutations, cfg.seed);
    const sh = set.texts.map((t) => shingleSet(t, 5));
    const keys = sh.map((s) => lshKeys(s, hasher, cfg));
    const cand = new Set(lshCandidates(keys, cfg.bands).map(([i, j]) => `${i}:${j}`));
    const bins = new Map<number, { n: number; hit: number; expected: number }>();
    for (let i = 0; i < set.texts.length; i++) {
      for (let j = i + 1; j < set.texts.length; j++) {
        if (set.family[i] !== set.family[j]) continue;
        const s = jaccard(sh[i]!, sh[j]!);
        const bin = Math.floor(s * 10) / 10;
        const b = bins.get(bin) ?? { n: 0, hit: 0, expected: 0 };
        b.n++;
        b.expected += candidateProbability(s, cfg.bands, cfg.rows);
        if (cand.has(`${i}:${j}`)) b.hit++;
        bins.set(bin, b);
      }
    }
    for (const [bin, b] of [...bins].sort((x, y) => x[0] - y[0])) {
      if (b.n < 40) continue;
      console.log(
        `s in [${bin.toFixed(1)}, ${(bin + 0.1).toFixed(1)}): ${b.n} pairs, candidates ${(b.hit / b.n).toFixed(3)}, predicted ${(b.expected / b.n).toFixed(3)}`,
      );
      expect(Math.abs(b.hit / b.n - b.expected / b.n)).toBeLessThan(0.1);
    }
  });
});

describe("clusters", () => {
  it("joins sets with union-find, the earliest index as the root", () => {
    const uf = new UnionFind(6);
    uf.union(4, 2);
    uf.union(2, 5);
    uf.union(1, 3);
    expect(uf.find(5)).toBe(2);
    expect(groups(uf, 6)).toEqual([[0], [1, 3], [2, 4, 5]]);
    expect(uf.union(5, 4)).toBe(false);
  });

  it("merges a chain of near-duplicates into one cluster and leaves unrelated and short texts apart", () => {
    const base =
      "the model answered the question about the refund policy with a long and detailed explanation of every " +
      "step involved in returning an item bought online including the label the box the courier pickup and " +
      "the time it takes for the money to arrive back on the card";
    const edit1 = base.replace("long", "lengthy");
    const edit2 = edit1.replace("every step", "each step");
    const texts = [
      base,
      "a completely different sentence about shipping times and tracking numbers for orders abroad",
      edit1,
      edit2,
      "Yes please",
      "yes, please!",
      "no thanks",
    ];
    expect(nearDuplicateClusters(texts, nearConfig({ threshold: 0.7 }))).toEqual([
      [0, 2, 3],
      [4, 5],
    ]);
  });

  it("checks each candidate pair with the exact Jaccard similarity, never merging below the threshold", () => {
    const set = generateSet({ seed: 9, families: 30, targets: [0.9, 0.75, 0.6], unrelated: 50 });
    const cfg = nearConfig();
    const hasher = new MinHasher(cfg.permutations, cfg.seed);
    const sh = set.texts.map((t) => shingleSet(t, 5));
    const res = clusterNear(
      sh.map((s) => lshKeys(s, hasher, cfg)),
      (i) => sh[i]!,
      cfg,
    );
    expect(res.merged).toBeGreaterThan(0);
    expect(res.candidates).toBeGreaterThanOrEqual(res.merged);
    for (const g of groups(res.clusters, sh.length)) {
      // Each member reaches the threshold with at least one other member (the edge that merged it).
      if (g.length < 2) continue;
      for (const i of g) expect(g.some((j) => j !== i && jaccard(sh[i]!, sh[j]!) >= cfg.threshold)).toBe(true);
    }
  });
});

describe("near-duplicate quality on a generated labelled set", () => {
  it("merges pairs at similarity ≥ 0.85 with recall ≥ 0.90 and precision ≥ 0.95 at the default threshold", () => {
    const set = generateSet({
      seed: 2026,
      families: 200,
      targets: [0.97, 0.93, 0.9, 0.87, 0.85, 0.82, 0.78, 0.7, 0.6],
      unrelated: 1000,
      siblingSimilarity: 0.7,
    });
    const cfg = nearConfig();
    const clusters = nearDuplicateClusters(set.texts, cfg);
    const clusterOf = new Int32Array(set.texts.length).fill(-1);
    clusters.forEach((g, c) => {
      for (const i of g) clusterOf[i] = c;
    });
    const truth = set.texts.map((t) => trueShingles(t, 5));
    let merged = 0;
    let mergedSameFamily = 0;
    let mergedAtThreshold = 0;
    let positives = 0;
    let found = 0;
    let positives80 = 0;
    let crossFamilyRelated = 0;
    let found80 = 0;
    for (let i = 0; i < set.texts.length; i++) {
      for (let j = i + 1; j < set.texts.length; j++) {
        const same = set.family[i] !== -1 && set.family[i] === set.family[j];
        const together = clusterOf[i] !== -1 && clusterOf[i] === clusterOf[j];
        const siblings =
          !same && set.family[i] !== -1 && set.family[j] !== -1 && set.family[i]! >> 1 === set.family[j]! >> 1;
        if (!same && !together && !siblings) continue;
        const s = trueJaccard(truth[i]!, truth[j]!);
        if (siblings && s >= 0.5) crossFamilyRelated++;
        if (together) {
          merged++;
          if (same) mergedSameFamily++;
          if (s >= cfg.threshold) mergedAtThreshold++;
        }
        if (s >= 0.85) {
          positives++;
          if (together) found++;
        }
        if (s >= 0.8) {
          positives80++;
          if (together) found80++;
        }
      }
    }
    const precision = mergedSameFamily / merged;
    const strictPrecision = mergedAtThreshold / merged;
    const recall = found / positives;
    console.log(
      `near-dup quality (${set.texts.length} texts, 200 families in 100 sibling pairs at ~0.7, 1,000 unrelated; ` +
        `${crossFamilyRelated} cross-family pairs at similarity ≥ 0.5; threshold ${cfg.threshold}, ` +
        `${cfg.bands}×${cfg.rows} bands): merged pairs ${merged}; precision ${precision.toFixed(4)} ` +
        `(pairs from one family), ${strictPrecision.toFixed(4)} (pairs whose own similarity ≥ ${cfg.threshold}); ` +
        `recall ${recall.toFixed(4)} of ${positives} pairs at ≥ 0.85, ${(found80 / positives80).toFixed(4)} of ${positives80} at ≥ 0.80`,
    );
    expect(positives).toBeGreaterThan(1000);
    expect(crossFamilyRelated).toBeGreaterThan(1000);
    expect(precision).toBeGreaterThanOrEqual(0.95);
    expect(recall).toBeGreaterThanOrEqual(0.9);
  });
});
