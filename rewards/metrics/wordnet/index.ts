import { openWordnet, POS, type Pos, type WordnetTable } from "./table";
import WORDNET from "./wordnet.bin";

/**
 * WordNet 3.0 as NLTK 3.8's `wordnet.synsets(word)` + `lemma.name()` expose it to METEOR's synonym
 * stage, from the table scripts/gen-wordnet-synonyms.py generates (wordnet.bin, ~1.6 MB, ~0.63 MB
 * gzipped, imported as data and read in place on first use). Multi-word lemmas ("ice_cream") are not
 * in the table, so a word containing "_" has no synonyms here (NLTK could find some); everything else
 * matches NLTK.
 */

/** morphy's detachment rules (NLTK's MORPHOLOGICAL_SUBSTITUTIONS), in NLTK's order. */
const SUBSTITUTIONS: Record<Pos, [string, string][]> = {
  n: [
    ["s", ""],
    ["ses", "s"],
    ["ves", "f"],
    ["xes", "x"],
    ["zes", "z"],
    ["ches", "ch"],
    ["shes", "sh"],
    ["men", "man"],
    ["ies", "y"],
  ],
  v: [
    ["s", ""],
    ["ies", "y"],
    ["es", "e"],
    ["es", ""],
    ["ed", "e"],
    ["ed", ""],
    ["ing", "e"],
    ["ing", ""],
  ],
  a: [
    ["er", ""],
    ["est", ""],
    ["er", "e"],
    ["est", "e"],
  ],
  r: [],
};

let table: WordnetTable | undefined;

function getTable(): WordnetTable {
  table ??= openWordnet(WORDNET);
  return table;
}

function indexed(t: WordnetTable, form: string, pos: Pos): boolean {
  const id = t.wordId(form);
  return id >= 0 && (t.posMask(id) & (1 << POS.indexOf(pos))) !== 0;
}

/** Most forms morphy may hold in one round; its rules only shorten words, so real words stay far below. */
const MAX_FORMS = 10_000;

/**
 * NLTK's `WordNetCorpusReader._morphy(form, pos)`, as a set (METEOR only takes the union of the synsets).
 * Rounds are de-duplicated, which changes nothing in the result but keeps words such as "eseses…"
 * from doubling the work each round.
 */
export function morphy(form: string, pos: Pos): string[] {
  const t = getTable();
  const filter = (forms: Iterable<string>) => [...new Set(forms)].filter((f) => indexed(t, f, pos));
  const exception = t.exception(pos, form);
  if (exception) return filter([form, ...exception]);
  const rules = SUBSTITUTIONS[pos];
  const apply = (forms: string[]) => {
    const out = new Set<string>();
    for (const f of forms) {
      for (const [old, replacement] of rules) {
        if (f.endsWith(old)) out.add(f.slice(0, f.length - old.length) + replacement);
      }
    }
    return [...out].slice(0, MAX_FORMS);
  };
  let forms = apply([form]);
  let results = filter([form, ...forms]);
  if (results.length) return results;
  while (forms.length) {
    forms = apply(forms);
    results = filter(forms);
    if (results.length) return results;
  }
  return [];
}

/**
 * The single-word lemma names of every synset `wordnet.synsets(word)` returns (all parts of speech):
 * what METEOR accepts as a synonym of `word`. `word` itself is not added here.
 */
export function wordnetSynonyms(word: string): Set<string> {
  const out = new Set<string>();
  const lower = word.toLowerCase();
  if (lower.includes("_")) return out;
  const t = getTable();
  for (let p = 0; p < POS.length; p++) {
    for (const form of morphy(lower, POS[p]!)) {
      for (const s of t.synsetsOf(t.wordId(form))) {
        if (t.synsetPos(s) !== p) continue;
        for (const name of t.members(s)) out.add(name);
      }
    }
  }
  return out;
}
