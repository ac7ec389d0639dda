import { porterStem } from "./porter";
import { wordnetSynonyms } from "./wordnet";

type Enum = { index: number; word: string }[];
type Pair = [hyp: number, ref: number];

/**
 * One matching stage as NLTK runs it: hypothesis words from last to first, each taking the last remaining
 * reference word it accepts. `accepts(h)` lists the words `h` matches; the reference position taken is
 * the highest among them, which is what NLTK's backward scan finds.
 */
function matchStage(hyp: Enum, ref: Enum, accepts: (word: string) => Iterable<string>): Pair[] {
  const remaining = new Map<string, number[]>();
  ref.forEach((r, pos) => {
    const list = remaining.get(r.word);
    if (list) list.push(pos);
    else remaining.set(r.word, [pos]);
  });
  const taken = new Set<number>();
  const pairs: Pair[] = [];
  const keptHyp: Enum = [];
  for (let i = hyp.length - 1; i >= 0; i--) {
    const h = hyp[i]!;
    let best = -1;
    let bestWord = "";
    for (const w of accepts(h.word)) {
      const list = remaining.get(w);
      const last = list?.[list.length - 1];
      if (last !== undefined && last > best) {
        best = last;
        bestWord = w;
      }
    }
    if (best < 0) {
      keptHyp.push(h);
      continue;
    }
    remaining.get(bestWord)!.pop();
    taken.add(best);
    pairs.push([h.index, ref[best]!.index]);
  }
  hyp.splice(0, hyp.length, ...keptHyp.reverse());
  const keptRef = ref.filter((_, pos) => !taken.has(pos));
  ref.splice(0, ref.length, ...keptRef);
  return pairs;
}

function countChunks(matches: Pair[]): number {
  let chunks = 1;
  for (let i = 0; i < matches.length - 1; i++) {
    const [h, r] = matches[i]!;
    const [h2, r2] = matches[i + 1]!;
    if (!(h2 === h + 1 && r2 === r + 1)) chunks++;
  }
  return chunks;
}

/**
 * NLTK 3.8 `single_meteor_score(reference, hypothesis)` with its defaults (lowercasing, Porter stemmer,
 * WordNet 3.0 synonyms, alpha 0.9, beta 3, gamma 0.5). Stages: exact match on lowercased words, then
 * Porter stems, then WordNet synonyms of the stems (NLTK looks synonyms up for the stems, not the words).
 */
export function singleMeteor(reference: string[], hypothesis: string[], alpha = 0.9, beta = 3, gamma = 0.5): number {
  const hyp: Enum = hypothesis.map((w, index) => ({ index, word: w.toLowerCase() }));
  const ref: Enum = reference.map((w, index) => ({ index, word: w.toLowerCase() }));
  const translationLength = hyp.length;
  const referenceLength = ref.length;
  const exact = matchStage(hyp, ref, (w) => [w]);
  for (const e of hyp) e.word = porterStem(e.word);
  for (const e of ref) e.word = porterStem(e.word);
  const stem = matchStage(hyp, ref, (w) => [w]);
  const synonyms = matchStage(hyp, ref, (w) => {
    const set = wordnetSynonyms(w);
    set.add(w);
    return set;
  });
  const matches = [...exact, ...stem, ...synonyms].sort((a, b) => a[0] - b[0]);
  const count = matches.length;
  if (count === 0 || translationLength === 0 || referenceLength === 0) return 0;
  const precision = count / translationLength;
  const recall = count / referenceLength;
  const fmean = (precision * recall) / (alpha * precision + (1 - alpha) * recall);
  const fragFrac = countChunks(matches) / count;
  const penalty = gamma * fragFrac ** beta;
  return (1 - penalty) * fmean;
}
