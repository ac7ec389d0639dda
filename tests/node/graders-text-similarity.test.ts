import { describe, expect, it } from "vitest";
import { validateGrader } from "../../rewards/graders/index";
import { MAX_TEXT_LENGTH } from "../../rewards/graders/text-similarity";
import { TEXT_METRICS } from "../../rewards/metrics/index";
import { grader } from "./graders-helpers";

const similarity = (evaluation_metric: string, extra: Record<string, unknown> = {}) =>
  grader({
    type: "text_similarity",
    name: "sim",
    input: "{{sample.output_text}}",
    reference: "{{item.answer}}",
    evaluation_metric,
    ...extra,
  });

describe("text_similarity", () => {
  it("scores every metric 1 for an identical answer long enough for 4-grams", async () => {
    const answer = "the quick brown fox jumps over the lazy dog";
    const scores: Record<string, number> = {};
    for (const m of TEXT_METRICS) scores[m] = (await similarity(m)(answer, { answer })).score;
    // METEOR keeps its fragmentation penalty even for one chunk: 1 - 0.5 * (1/9)^3.
    const expected = Object.fromEntries(TEXT_METRICS.map((m) => [m, m === "meteor" ? 1 - 0.5 / 9 ** 3 : 1]));
    expect(scores).toEqual(expected);
  });

  it("returns the similarity as the score, with the raw value in metrics", async () => {
    expect(await similarity("fuzzy_match")("this is a test!", { answer: "this is a test" })).toEqual({
      score: 0.9655172413793104,
      valid: true,
      reason: "fuzzy_match = 0.965517",
      metrics: { fuzzy_match: { score: 0.9655172413793104 } },
    });
  });

  it("with pass_threshold scores 1 at or above it and 0 below, keeping the raw similarity", async () => {
    const g = similarity("rouge_1", { pass_threshold: 0.5 });
    expect(await g("testing", { answer: "testing one two" })).toEqual({
      score: 1,
      valid: true,
      reason: "rouge_1 = 0.5 >= pass_threshold 0.5",
      metrics: { rouge_1: { score: 0.5 } },
    });
    expect(await similarity("rouge_1", { pass_threshold: 0.51 })("testing", { answer: "testing one two" })).toEqual({
      score: 0,
      valid: true,
      reason: "rouge_1 = 0.5 < pass_threshold 0.51",
      metrics: { rouge_1: { score: 0.5 } },
    });
  });

  it("scores a wrong answer 0 (valid), not an evaluator failure", async () => {
    expect(await similarity("bleu")("completely unrelated words", { answer: "the cat sat on the mat" })).toEqual({
      score: 0,
      valid: true,
      reason: "bleu = 0",
      metrics: { bleu: { score: 0 } },
    });
  });

  it("uses WordNet synonyms of the Porter stems for meteor, as NLTK does", async () => {
    const meteor = similarity("meteor");
    const score = async (completion: string, answer: string) => (await meteor(completion, { answer })).score;
    // Values from NLTK 3.8 single_meteor_score on the same pairs.
    expect(await score("she drove the auto", "she drove the car")).toBeCloseTo(0.9921875, 12);
    expect(await score("she drove the tree", "she drove the car")).toBeCloseTo(0.7361111111111112, 12);
    // "purchased" stems to "purchas", which is not a WordNet word: no synonym match, exactly as a wrong word.
    expect(await score("she purchased a car", "she bought a car")).toBeCloseTo(0.6388888888888888, 12);
    expect(await score("she stole a car", "she bought a car")).toBeCloseTo(0.6388888888888888, 12);
  });

  it("is an evaluator failure when the item lacks the reference field", async () => {
    const r = await similarity("gleu")("x", {});
    expect(r).toEqual({
      score: 0,
      valid: false,
      reason: "reference: template reference {{item.answer}} is missing from the sample",
      error: {
        code: "INVALID_INPUT",
        message: "reference: template reference {{item.answer}} is missing from the sample",
      },
    });
  });

  it("refuses text longer than it can score in time as an evaluator failure", async () => {
    const r = await similarity("rouge_l")("a".repeat(MAX_TEXT_LENGTH + 1), { answer: "a" });
    expect(r.valid).toBe(false);
    expect(r.error).toEqual({
      code: "INVALID_INPUT",
      message: `input is ${MAX_TEXT_LENGTH + 1} characters; text_similarity scores at most ${MAX_TEXT_LENGTH}`,
    });
  });

  it("scores long text at the limit with every metric", async () => {
    const words = Array.from({ length: MAX_TEXT_LENGTH / 4 }, (_, i) => `w${i % 997}`)
      .join(" ")
      .slice(0, MAX_TEXT_LENGTH);
    const shifted = words.slice(7);
    for (const m of TEXT_METRICS) {
      const r = await similarity(m)(shifted, { answer: words });
      expect(r.valid, `${m}: ${JSON.stringify(r)}`).toBe(true);
      expect(r.score).toBeGreaterThan(0.9);
    }
  });

  it("validation explains that cosine is unsupported and bounds pass_threshold", () => {
    expect(
      validateGrader({
        type: "text_similarity",
        name: "s",
        input: "a",
        reference: "b",
        evaluation_metric: "cosine",
        pass_threshold: 2,
      }),
    ).toEqual({
      valid: false,
      errors: [
        {
          path: ["evaluation_metric"],
          message: `evaluation_metric must be one of ${TEXT_METRICS.join(", ")} ("cosine" needs an embedding model and is not supported)`,
        },
        { path: ["pass_threshold"], message: "Too big: expected number to be <=1" },
      ],
    });
  });

  it("validation accepts OpenAI's config as is", () => {
    expect(
      validateGrader({
        type: "text_similarity",
        name: "Example text similarity grader",
        input: "{{sample.output_text}}",
        reference: "{{item.reference_answer}}",
        evaluation_metric: "fuzzy_match",
        pass_threshold: 0.8,
      }),
    ).toEqual({ valid: true, errors: [] });
  });
});
