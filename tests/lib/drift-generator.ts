import type { DriftInput } from "../../functions/lib/drift";
import { seededRandom } from "../../functions/lib/drift-stats";

const SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "pe", "da", "gu", "ze", "fi", "ho", "ba", "cy"];

/** A vocabulary of `size` distinct pseudo-words; different `salt`s give disjoint vocabularies. */
export function vocabulary(size: number, salt: string): string[] {
  const rand = seededRandom([...salt].reduce((h, ch) => Math.imul(h ^ ch.charCodeAt(0), 16777619) >>> 0, 2166136261));
  const out = new Set<string>();
  while (out.size < size) {
    const k = 2 + Math.floor(rand() * 3);
    let w = salt;
    for (let i = 0; i < k; i++) w += SYLLABLES[Math.floor(rand() * SYLLABLES.length)];
    out.add(w);
  }
  return [...out];
}

export const TOPIC_A = vocabulary(2000, "a");
export const TOPIC_B = vocabulary(2000, "q");
const LABELS = ["billing", "bug", "praise", "howto", "other"];

function zipfSampler(size: number, s: number, rand: () => number) {
  const cdf = new Float64Array(size);
  let acc = 0;
  for (let i = 0; i < size; i++) {
    acc += 1 / (i + 1) ** s;
    cdf[i] = acc;
  }
  return () => {
    const u = rand() * acc;
    let lo = 0;
    let hi = size - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

/**
 * `n` synthetic production inputs: 5–40 Zipf-distributed words each, a thumbs rating on 80%, labels on
 * half. `shift` is the share of inputs whose words come from the unseen vocabulary TOPIC_B instead.
 */
export function generate(n: number, seed: number, shift = 0): DriftInput[] {
  const rand = seededRandom(seed);
  const zipf = zipfSampler(2000, 1.05, rand);
  const out: DriftInput[] = [];
  for (let i = 0; i < n; i++) {
    const vocab = rand() < shift ? TOPIC_B : TOPIC_A;
    const len = 5 + Math.floor(rand() * 36);
    const words: string[] = [];
    for (let k = 0; k < len; k++) words.push(vocab[zipf()]!);
    const r = rand();
    out.push({
      text: words.join(" "),
      rating: r < 0.8 ? (rand() < 0.7 ? "up" : "down") : null,
      labels: rand() < 0.5 ? [LABELS[Math.floor(rand() * LABELS.length)]!] : null,
    });
  }
  return out;
}
