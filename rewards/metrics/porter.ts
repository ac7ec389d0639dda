/**
 * The Porter stemmer exactly as NLTK 3.8's `PorterStemmer()` runs it by default (mode NLTK_EXTENSIONS),
 * which is what `nltk.translate.meteor_score` uses. Words are handled as arrays of code points, as Python
 * indexes them. Checked against NLTK's own output in tests/fixtures/text-similarity/porter.jsonl.
 */

const VOWELS = new Set(["a", "e", "i", "o", "u"]);

const IRREGULAR: Record<string, string> = {};
for (const [stem, forms] of Object.entries({
  sky: ["sky", "skies"],
  die: ["dying"],
  lie: ["lying"],
  tie: ["tying"],
  news: ["news"],
  inning: ["innings", "inning"],
  outing: ["outings", "outing"],
  canning: ["cannings", "canning"],
  howe: ["howe"],
  proceed: ["proceed"],
  exceed: ["exceed"],
  succeed: ["succeed"],
})) {
  for (const f of forms) IRREGULAR[f] = stem;
}

type W = string[];
type Cond = ((stem: W) => boolean) | null;
type Rule = [suffix: string, replacement: string, condition: Cond];

function isConsonant(w: W, i: number): boolean {
  // NLTK recurses through runs of "y" (each flips the previous letter's kind); walking back keeps a long
  // run of "y"s from exhausting the stack.
  let j = i;
  while (j > 0 && w[j] === "y") j--;
  const base = w[j] === "y" ? true : !VOWELS.has(w[j]!);
  return (i - j) % 2 === 0 ? base : !base;
}

function measure(w: W): number {
  let m = 0;
  let prevConsonant = false;
  for (let i = 0; i < w.length; i++) {
    const c = w[i]!;
    const consonant: boolean = VOWELS.has(c) ? false : c === "y" ? (i === 0 ? true : !prevConsonant) : true;
    if (i > 0 && !prevConsonant && consonant) m++;
    prevConsonant = consonant;
  }
  return m;
}

const positive = (w: W) => measure(w) > 0;
const gt1 = (w: W) => measure(w) > 1;

function containsVowel(w: W): boolean {
  for (let i = 0; i < w.length; i++) if (!isConsonant(w, i)) return true;
  return false;
}

function endsDoubleConsonant(w: W): boolean {
  return w.length >= 2 && w[w.length - 1] === w[w.length - 2] && isConsonant(w, w.length - 1);
}

function endsCvc(w: W): boolean {
  const n = w.length;
  return (
    (n >= 3 &&
      isConsonant(w, n - 3) &&
      !isConsonant(w, n - 2) &&
      isConsonant(w, n - 1) &&
      !["w", "x", "y"].includes(w[n - 1]!)) ||
    (n === 2 && !isConsonant(w, 0) && isConsonant(w, 1))
  );
}

function endsWith(w: W, suffix: string): boolean {
  const s = Array.from(suffix);
  if (s.length > w.length) return false;
  for (let i = 0; i < s.length; i++) if (w[w.length - s.length + i] !== s[i]) return false;
  return true;
}

const cut = (w: W, suffix: string): W => w.slice(0, w.length - Array.from(suffix).length);
const join = (w: W, tail: string): W => [...w, ...Array.from(tail)];

function applyRules(w: W, rules: Rule[]): W {
  for (const [suffix, replacement, condition] of rules) {
    if (suffix === "*d" && endsDoubleConsonant(w)) {
      const stem = w.slice(0, -2);
      return condition === null || condition(stem) ? join(stem, replacement) : w;
    }
    if (endsWith(w, suffix)) {
      const stem = cut(w, suffix);
      return condition === null || condition(stem) ? join(stem, replacement) : w;
    }
  }
  return w;
}

function step1a(w: W): W {
  if (endsWith(w, "ies") && w.length === 4) return join(cut(w, "ies"), "ie");
  return applyRules(w, [
    ["sses", "ss", null],
    ["ies", "i", null],
    ["ss", "ss", null],
    ["s", "", null],
  ]);
}

function step1b(w: W): W {
  if (endsWith(w, "ied")) return join(cut(w, "ied"), w.length === 4 ? "ie" : "i");
  if (endsWith(w, "eed")) {
    const stem = cut(w, "eed");
    return measure(stem) > 0 ? join(stem, "ee") : w;
  }
  let inter: W | undefined;
  for (const suffix of ["ed", "ing"]) {
    if (endsWith(w, suffix)) {
      const candidate = cut(w, suffix);
      if (containsVowel(candidate)) {
        inter = candidate;
        break;
      }
    }
  }
  if (!inter) return w;
  const last = inter[inter.length - 1] ?? "";
  return applyRules(inter, [
    ["at", "ate", null],
    ["bl", "ble", null],
    ["iz", "ize", null],
    ["*d", last, () => !["l", "s", "z"].includes(last)],
    ["", "e", (stem) => measure(stem) === 1 && endsCvc(stem)],
  ]);
}

function step1c(w: W): W {
  return applyRules(w, [["y", "i", (stem) => stem.length > 1 && isConsonant(stem, stem.length - 1)]]);
}

function step2(w: W): W {
  if (endsWith(w, "alli") && positive(cut(w, "alli"))) return step2(join(cut(w, "alli"), "al"));
  return applyRules(w, [
    ["ational", "ate", positive],
    ["tional", "tion", positive],
    ["enci", "ence", positive],
    ["anci", "ance", positive],
    ["izer", "ize", positive],
    ["bli", "ble", positive],
    ["alli", "al", positive],
    ["entli", "ent", positive],
    ["eli", "e", positive],
    ["ousli", "ous", positive],
    ["ization", "ize", positive],
    ["ation", "ate", positive],
    ["ator", "ate", positive],
    ["alism", "al", positive],
    ["iveness", "ive", positive],
    ["fulness", "ful", positive],
    ["ousness", "ous", positive],
    ["aliti", "al", positive],
    ["iviti", "ive", positive],
    ["biliti", "ble", positive],
    ["fulli", "ful", positive],
    // NLTK measures the word less "ogi" here, not the stem less "logi".
    ["logi", "log", () => positive(w.slice(0, -3))],
  ]);
}

function step3(w: W): W {
  return applyRules(w, [
    ["icate", "ic", positive],
    ["ative", "", positive],
    ["alize", "al", positive],
    ["iciti", "ic", positive],
    ["ical", "ic", positive],
    ["ful", "", positive],
    ["ness", "", positive],
  ]);
}

function step4(w: W): W {
  return applyRules(w, [
    ["al", "", gt1],
    ["ance", "", gt1],
    ["ence", "", gt1],
    ["er", "", gt1],
    ["ic", "", gt1],
    ["able", "", gt1],
    ["ible", "", gt1],
    ["ant", "", gt1],
    ["ement", "", gt1],
    ["ment", "", gt1],
    ["ent", "", gt1],
    ["ion", "", (stem) => measure(stem) > 1 && (stem[stem.length - 1] === "s" || stem[stem.length - 1] === "t")],
    ["ou", "", gt1],
    ["ism", "", gt1],
    ["ate", "", gt1],
    ["iti", "", gt1],
    ["ous", "", gt1],
    ["ive", "", gt1],
    ["ize", "", gt1],
  ]);
}

function step5a(w: W): W {
  if (endsWith(w, "e")) {
    const stem = cut(w, "e");
    if (measure(stem) > 1) return stem;
    if (measure(stem) === 1 && !endsCvc(stem)) return stem;
  }
  return w;
}

function step5b(w: W): W {
  return applyRules(w, [["ll", "l", () => measure(w.slice(0, -1)) > 1]]);
}

/** NLTK's `PorterStemmer().stem(word)` (lowercases first). */
export function porterStem(word: string): string {
  const lower = word.toLowerCase();
  if (Object.hasOwn(IRREGULAR, word)) return IRREGULAR[word]!;
  // NLTK tests the length of the word as given, before lowercasing.
  if (Array.from(word).length <= 2) return lower;
  let w = Array.from(lower);
  w = step1a(w);
  w = step1b(w);
  w = step1c(w);
  w = step2(w);
  w = step3(w);
  w = step4(w);
  w = step5a(w);
  w = step5b(w);
  return w.join("");
}
