import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { sentenceBleu } from "../../rewards/metrics/bleu";
import { fuzzyRatio } from "../../rewards/metrics/fuzzy";
import { sentenceGleu } from "../../rewards/metrics/gleu";
import { textSimilarity } from "../../rewards/metrics/index";
import { lcsLength } from "../../rewards/metrics/lcs";
import { singleMeteor } from "../../rewards/metrics/meteor";
import { porterStem } from "../../rewards/metrics/porter";
import { rougeL, rougeN, rougeTokens } from "../../rewards/metrics/rouge";
import { whitespaceTokens } from "../../rewards/metrics/tokenize";
import { morphy, wordnetSynonyms } from "../../rewards/metrics/wordnet/index";

const FIXTURES = join(__dirname, "../fixtures/text-similarity");
const readJsonl = <T>(name: string): T[] =>
  readFileSync(join(FIXTURES, name), "utf8")
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as T);

interface Vector {
  reference: string;
  candidate: string;
  bleu: number;
  gleu: number;
  meteor: number;
}

describe("NLTK reference vectors (scripts/gen-text-similarity-vectors.py)", () => {
  const vectors = readJsonl<Vector>("vectors.jsonl");

  it("has a few hundred pairs", () => {
    expect(vectors.length).toBeGreaterThanOrEqual(300);
  });

  it("matches NLTK sentence_bleu, sentence_gleu and single_meteor_score on every pair to 1e-6", () => {
    const mismatches: string[] = [];
    for (const v of vectors) {
      const ref = whitespaceTokens(v.reference);
      const hyp = whitespaceTokens(v.candidate);
      const got = { bleu: sentenceBleu(ref, hyp), gleu: sentenceGleu(ref, hyp), meteor: singleMeteor(ref, hyp) };
      for (const k of ["bleu", "gleu", "meteor"] as const) {
        if (!(Math.abs(got[k] - v[k]) <= 1e-6)) {
          mismatches.push(
            `${k}(${JSON.stringify(v.reference)}, ${JSON.stringify(v.candidate)}) = ${got[k]}, NLTK ${v[k]}`,
          );
        }
      }
    }
    expect(mismatches).toEqual([]);
  });

  it("scores through textSimilarity with the same tokenisation as the vectors", () => {
    const v = vectors.find((x) => x.reference.startsWith("It is a guide to action that") && x.meteor > 0.6)!;
    expect(textSimilarity("meteor", v.candidate, v.reference)).toBeCloseTo(v.meteor, 6);
    expect(textSimilarity("bleu", v.candidate, v.reference)).toBeCloseTo(v.bleu, 6);
    expect(textSimilarity("gleu", v.candidate, v.reference)).toBeCloseTo(v.gleu, 6);
  });
});

describe("Porter stemmer (NLTK_EXTENSIONS)", () => {
  it("stems every fixture word exactly as NLTK's PorterStemmer()", () => {
    const wrong = readJsonl<{ word: string; stem: string }>("porter.jsonl")
      .filter((r) => porterStem(r.word) !== r.stem)
      .map((r) => `${r.word}: ${porterStem(r.word)} != ${r.stem}`);
    expect(wrong).toEqual([]);
  });

  it("handles a very long run of y without exhausting the stack", () => {
    expect(porterStem(`a${"y".repeat(200_000)}`).length).toBeGreaterThan(100_000);
  });
});

describe("WordNet synonyms", () => {
  it("gives the same matchable synonym set as NLTK's wordnet.synsets for every fixture word", () => {
    const wrong = readJsonl<{ word: string; synonyms: string[] }>("wordnet.jsonl")
      .filter((r) => JSON.stringify([...wordnetSynonyms(r.word)].sort()) !== JSON.stringify(r.synonyms))
      .map((r) => r.word);
    expect(wrong).toEqual([]);
  });

  it("reaches lemmas through morphy's exception lists and detachment rules", () => {
    expect(morphy("geese", "n")).toEqual(["goose"]);
    expect(morphy("boxes", "n")).toEqual(["box"]);
    expect(morphy("happiest", "a")).toEqual(["happy"]);
    expect(morphy("xyzzyqq", "n")).toEqual([]);
  });

  it("gives no synonyms to a word with an underscore (multi-word lemmas are not in the table)", () => {
    expect([...wordnetSynonyms("ice_cream")]).toEqual([]);
  });

  it("stays cheap on a word whose suffix rules branch every round, reaching what NLTK reaches for 'es' x 10", () => {
    // NLTK: synsets("es" * 10) names E, ESE, Es, east_southeast, einsteinium; only "einsteinium" can match.
    expect([...wordnetSynonyms("es".repeat(2000))]).toEqual(["einsteinium"]);
  });
});

describe("ROUGE (rouge-score's worked examples, rouge_scorer_test.py)", () => {
  it("rouge1 of 'testing' against 'testing one two' is 1/2", () => {
    expect(rougeN("testing one two", "testing", 1)).toBeCloseTo(0.5, 12);
  });

  it("rouge2 of 'testing one' against 'testing one two' is 2/3", () => {
    expect(rougeN("testing one two", "testing one", 2)).toBeCloseTo(2 / 3, 12);
  });

  it("rougeL is 4/5 for consecutive and non-consecutive matches alike", () => {
    expect(rougeL("testing one two", "testing one")).toBeCloseTo(0.8, 12);
    expect(rougeL("testing one two", "testing two")).toBeCloseTo(0.8, 12);
  });

  it("an empty prediction scores 0 for every type", () => {
    expect([1, 2, 3, 4, 5].map((n) => rougeN("testing one two", "", n))).toEqual([0, 0, 0, 0, 0]);
    expect(rougeL("testing one two", "")).toBe(0);
  });

  it("tokenises like rouge-score: lowercase, non-alphanumerics (accents included) split tokens", () => {
    expect(rougeTokens("Hello, World! It's café-time 42x")).toEqual([
      "hello",
      "world",
      "it",
      "s",
      "caf",
      "time",
      "42x",
    ]);
    expect(rougeTokens("日本語 — ...")).toEqual([]);
    expect(rougeN("Hello, world", "hello world", 1)).toBe(1);
  });

  it("rouge_n uses n-grams of order n, so rouge_5 of a 4-token text is 0", () => {
    expect(rougeN("a b c d", "a b c d", 4)).toBe(1);
    expect(rougeN("a b c d", "a b c d", 5)).toBe(0);
  });
});

describe("fuzzy_match (rapidfuzz fuzz.ratio / 100)", () => {
  it("matches rapidfuzz's documented example", () => {
    expect(fuzzyRatio("this is a test", "this is a test!")).toBeCloseTo(0.9655172413793103, 12);
  });

  it("is the normalised Indel similarity: 'lewenstein' vs 'levenshtein' has Indel distance 3", () => {
    expect(fuzzyRatio("lewenstein", "levenshtein")).toBeCloseTo(1 - 3 / 21, 12);
  });

  it("is 1 for two empty strings, 0 against an empty string, and case-sensitive", () => {
    expect([fuzzyRatio("", ""), fuzzyRatio("abc", ""), fuzzyRatio("ABC", "abc")]).toEqual([1, 0, 0]);
  });

  it("counts code points, not UTF-16 units", () => {
    expect(fuzzyRatio("😀a", "😀b")).toBeCloseTo(0.5, 12);
  });
});

describe("bit-parallel LCS", () => {
  const naive = (a: string[], b: string[]) => {
    let prev: number[] = new Array(b.length + 1).fill(0);
    for (const x of a) {
      const cur = [0];
      for (let j = 0; j < b.length; j++) cur.push(x === b[j] ? prev[j]! + 1 : Math.max(prev[j + 1]!, cur[j]!));
      prev = cur;
    }
    return prev[b.length];
  };

  it("agrees with the quadratic dynamic programme on random sequences across word boundaries", () => {
    let seed = 7;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let t = 0; t < 200; t++) {
      const a = Array.from({ length: rand(130) }, () => "abcd"[rand(4)]!);
      const b = Array.from({ length: rand(130) }, () => "abcde"[rand(5)]!);
      expect(lcsLength(a, b)).toBe(naive(a, b));
    }
  });
});

describe("tokenisation", () => {
  it("splits on whitespace as Python's str.split() does", () => {
    expect(whitespaceTokens("  a\tb\nc\u3000d\u00a0e\x1cf\u0085g\u2028h  ")).toEqual([
      "a",
      "b",
      "c",
      "d",
      "e",
      "f",
      "g",
      "h",
    ]);
    expect(whitespaceTokens("zero\ufeffwidth\u200bspace")).toEqual(["zero\ufeffwidth\u200bspace"]);
    expect(whitespaceTokens("")).toEqual([]);
  });

  it("BLEU of a candidate missing a 4-gram match is tiny but not 0, as NLTK without smoothing", () => {
    const score = sentenceBleu(["the", "cat", "sat"], ["the", "cat", "sat"]);
    expect(score).toBeGreaterThan(0);
    expect(score).toBeLessThan(1e-70);
  });
});
