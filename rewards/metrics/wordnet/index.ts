import { EXCEPTIONS } from "./data-exceptions";
import { SYNSETS } from "./data-synsets";
import { WORDS } from "./data-words";

/**
 * WordNet 3.0 as NLTK 3.8's `wordnet.synsets(word)` + `lemma.name()` expose it to METEOR's synonym
 * stage, from the compact table scripts/gen-wordnet-synonyms.py generates (~1.2 MB of text, ~0.58 MB
 * gzipped, parsed once on first use). Multi-word lemmas ("ice_cream") are not in the table, so a word
 * containing "_" has no synonyms here (NLTK could find some); everything else matches NLTK.
 */

const POS = ["n", "v", "a", "r"] as const;
type Pos = (typeof POS)[number];

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

interface Table {
  ids: Map<string, number>;
  words: string[];
  /** Bit i set: the word is indexed under POS[i]. */
  masks: Uint8Array;
  /** Synsets each word belongs to (CSR: synsetsOf.slice(start[w], start[w + 1])). */
  start: Uint32Array;
  synsetsOf: Uint32Array;
  synsetPos: Uint8Array;
  /** Members METEOR can match (lowercase single-word names), per synset. */
  members: string[][];
  exceptions: Record<Pos, Map<string, string[]>>;
}

let table: Table | undefined;

function getTable(): Table {
  if (!table) table = load();
  return table;
}

function load(): Table {
  const words: string[] = [];
  const lines = WORDS.split("\n");
  const masks = new Uint8Array(lines.length);
  let prev = "";
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    masks[i] = Number.parseInt(line[0]!, 36);
    const word = prev.slice(0, Number.parseInt(line[1]!, 36)) + line.slice(2);
    words.push(word);
    prev = word;
  }
  const ids = new Map(words.map((w, i) => [w, i]));

  const synsetLines = SYNSETS.split("\n");
  const synsetPos = new Uint8Array(synsetLines.length);
  const members: string[][] = [];
  const pairs: number[] = [];
  const count = new Uint32Array(words.length + 1);
  for (let s = 0; s < synsetLines.length; s++) {
    const line = synsetLines[s]!;
    synsetPos[s] = POS.indexOf(line[0] as Pos);
    const names: string[] = [];
    for (const ref of line.slice(1).split(" ")) {
      const capitalisedOnly = ref.startsWith("^");
      const id = Number.parseInt(capitalisedOnly ? ref.slice(1) : ref, 36);
      if (!capitalisedOnly) names.push(words[id]!);
      pairs.push(id, s);
      count[id + 1]!++;
    }
    members.push(names);
  }
  const start = new Uint32Array(words.length + 1);
  for (let w = 0; w < words.length; w++) start[w + 1] = start[w]! + count[w + 1]!;
  const fill = start.slice(0, words.length);
  const synsetsOf = new Uint32Array(pairs.length / 2);
  for (let i = 0; i < pairs.length; i += 2) synsetsOf[fill[pairs[i]!]!++] = pairs[i + 1]!;

  const exceptions = { n: new Map(), v: new Map(), a: new Map(), r: new Map() } as Table["exceptions"];
  for (const line of EXCEPTIONS.split("\n")) {
    const [form, ...bases] = line.slice(1).split(" ");
    exceptions[line[0] as Pos].set(form!, bases);
  }
  return { ids, words, masks, start, synsetsOf, synsetPos, members, exceptions };
}

function indexed(t: Table, form: string, pos: Pos): boolean {
  const id = t.ids.get(form);
  return id !== undefined && (t.masks[id]! & (1 << POS.indexOf(pos))) !== 0;
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
  const exception = t.exceptions[pos].get(form);
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
      const id = t.ids.get(form)!;
      for (let i = t.start[id]!; i < t.start[id + 1]!; i++) {
        const s = t.synsetsOf[i]!;
        if (t.synsetPos[s] !== p) continue;
        for (const name of t.members[s]!) out.add(name);
      }
    }
  }
  return out;
}
