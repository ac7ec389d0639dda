/**
 * A labelled near-duplicate set, generated deterministically: families (an original text and copies of
 * it edited to known 5-gram Jaccard similarities) plus unrelated texts. The ground truth similarity of a
 * pair is computed here from plain string shingles, independently of the library's hashing.
 */

/** A small LCG-based PRNG, separate from the library's, so the generator shares no code with it. */
export function lcg(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

const SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "ta", "vi", "so", "pe", "da", "fu", "gi", "ho", "ja", "zu", "be"];

export function vocabulary(rnd: () => number, size: number): string[] {
  const words = new Set<string>();
  while (words.size < size) {
    const n = 2 + Math.floor(rnd() * 3);
    let w = "";
    for (let i = 0; i < n; i++) w += SYLLABLES[Math.floor(rnd() * SYLLABLES.length)];
    words.add(w);
  }
  return [...words];
}

export function trueShingles(text: string, n: number): Set<string> {
  const ws = text.split(" ");
  if (ws.length < n) return new Set([ws.join(" ")]);
  const out = new Set<string>();
  for (let i = 0; i + n <= ws.length; i++) out.add(ws.slice(i, i + n).join(" "));
  return out;
}

export function trueJaccard(a: Set<string>, b: Set<string>): number {
  let inter = 0;
  for (const x of a) if (b.has(x)) inter++;
  return inter / (a.size + b.size - inter);
}

export interface LabelledSet {
  texts: string[];
  /** Family of each text (-1 for an unrelated text). */
  family: number[];
}

/**
 * `families` originals of 60–120 words, each with copies at the given target similarities to the
 * original (at most one substitution per `ngram`-word slot, so each breaks up to `ngram` shingles), and
 * `unrelated` random texts. The order is shuffled.
 */
export function generateSet(opts: {
  seed: number;
  families: number;
  targets: number[];
  unrelated: number;
  ngram?: number;
  /** When set, odd families' originals are the previous family's original edited to this similarity. */
  siblingSimilarity?: number;
}): LabelledSet {
  const n = opts.ngram ?? 5;
  const rnd = lcg(opts.seed);
  const vocab = vocabulary(rnd, 5000);
  const word = () => vocab[Math.floor(rnd() * vocab.length)]!;
  const randomText = () => Array.from({ length: 60 + Math.floor(rnd() * 61) }, word);
  const items: { text: string; family: number }[] = [];
  const edit = (original: string[], target: number) => {
    const shingles = original.length - n + 1;
    // J = (S - n·m) / (S + n·m) for m substitutions that each break n distinct shingles.
    const m = Math.max(1, Math.round((shingles * (1 - target)) / (n * (1 + target))));
    const copy = [...original];
    const slots = Math.floor(original.length / n);
    const chosen = new Set<number>();
    while (chosen.size < Math.min(m, slots)) chosen.add(Math.floor(rnd() * slots));
    for (const s of chosen) {
      const pos = s * n + Math.floor(rnd() * n);
      let w = word();
      while (w === copy[pos]) w = word();
      copy[pos] = w;
    }
    return copy;
  };
  let previous: string[] = [];
  for (let f = 0; f < opts.families; f++) {
    // Hard negatives: every other family's original is the previous original edited down to this
    // similarity (a templated prompt with other details): related, but below the threshold.
    const original = opts.siblingSimilarity && f % 2 === 1 ? edit(previous, opts.siblingSimilarity) : randomText();
    previous = original;
    items.push({ text: original.join(" "), family: f });
    for (const target of opts.targets) items.push({ text: edit(original, target).join(" "), family: f });
  }
  for (let u = 0; u < opts.unrelated; u++) items.push({ text: randomText().join(" "), family: -1 });
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return { texts: items.map((i) => i.text), family: items.map((i) => i.family) };
}
