import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { scoreBatch } from "../../rewards/core/engine";
import type { Sample } from "../../rewards/core/types";
import { buildGrader, validateGrader } from "../../rewards/graders/index";
import { createHttpJudge } from "../../rewards/verifiers/judge/client";
import { FakeJudge } from "../fakes/fake-judge";

// The two configs below are OpenAI's documented grader examples (the graders guide's score_model
// example and the evals guide's label_model example), unedited: Assay must accept them as they are.
const OPENAI_SCORE_MODEL = {
  type: "score_model",
  name: "my_score_model",
  input: [
    {
      role: "system",
      content:
        "You are an expert grader. If the reference and model answer are exact matches, output a score of 1. If they are somewhat similar in meaning, output a score in 0.5. Otherwise, give a score of 0.",
    },
    { role: "user", content: "Reference: {{ item.reference_answer }}. Model answer: {{ sample.output_text }}" },
  ],
  pass_threshold: 0.5,
  model: "o4-mini-2025-04-16",
  range: [0, 1],
  sampling_params: { max_tokens: 32768, top_p: 1, reasoning_effort: "medium" },
};

const OPENAI_LABEL_MODEL = {
  type: "label_model",
  model: "gpt-4o-2024-08-06",
  input: [
    {
      role: "developer",
      content: "Classify the sentiment of the following statement as one of 'positive', 'neutral', or 'negative'",
    },
    { role: "user", content: "Statement: {{item.input}}" },
  ],
  passing_labels: ["positive"],
  labels: ["positive", "neutral", "negative"],
  name: "Example label grader",
};

const log = { debug() {}, info() {}, warn() {} };

let fake: FakeJudge;
beforeAll(async () => {
  fake = await FakeJudge.start();
});
afterAll(() => fake.close());
beforeEach(() => fake.reset());

function run(
  config: unknown,
  samples: Sample[],
  opts: { maxConcurrency?: number; deadlineMs?: number; baseUrl?: string } = {},
) {
  const judge = createHttpJudge({
    baseUrl: opts.baseUrl ?? fake.url,
    apiKey: "sk-test-judge",
    maxConcurrency: opts.maxConcurrency,
    backoffMs: 5,
  });
  const grader = buildGrader(config);
  return scoreBatch(grader.score, samples, {
    deadlineMs: opts.deadlineMs,
    concurrency: 16,
    context: { fixtures: { get: async () => null }, log, services: { judge } },
  });
}

const sample = (completion: string, item: Record<string, unknown> = {}): Sample => ({ completion, item });

describe("score_model", () => {
  it("accepts OpenAI's documented score_model example unchanged", () => {
    expect(validateGrader(OPENAI_SCORE_MODEL)).toEqual({ valid: true, errors: [] });
  });

  it("sends the rendered messages, a structured-output format and the sampling parameters", async () => {
    fake.reply = () => ({ content: '{"result": 1}' });
    const out = await run(OPENAI_SCORE_MODEL, [sample("Paris", { reference_answer: "Paris" })]);
    expect(out.results[0]).toMatchObject({ score: 1, valid: true });
    expect(fake.requests).toHaveLength(1);
    const req = fake.requests[0]!;
    expect(req.path).toBe("/v1/chat/completions");
    expect(req.headers.authorization).toBe("Bearer sk-test-judge");
    expect(req.body).toEqual({
      model: "o4-mini-2025-04-16",
      messages: [
        { role: "system", content: OPENAI_SCORE_MODEL.input[0]!.content },
        { role: "user", content: "Reference: Paris. Model answer: Paris" },
      ],
      response_format: {
        type: "json_schema",
        json_schema: {
          name: "score",
          strict: true,
          schema: {
            type: "object",
            properties: { result: { type: "number" } },
            required: ["result"],
            additionalProperties: false,
          },
        },
      },
      // A reasoning model gets no temperature (it would refuse one); the seed is fixed for repeatability.
      max_tokens: 32768,
      top_p: 1,
      reasoning_effort: "medium",
      seed: 0,
    });
  });

  it("decodes greedily with a fixed seed when the config leaves sampling open", async () => {
    const config = { ...OPENAI_SCORE_MODEL, sampling_params: undefined, model: "llama-3-judge" };
    await run(config, [sample("x", { reference_answer: "y" })]);
    expect(fake.requests[0]!.body).toMatchObject({ model: "llama-3-judge", temperature: 0, seed: 0 });
    expect(fake.requests[0]!.body).not.toHaveProperty("top_p");
  });

  it("maps the judge's number from its range onto [0, 1], clamping and saying so outside it", async () => {
    const config = { ...OPENAI_SCORE_MODEL, range: [0, 10], pass_threshold: 6 };
    const answers = ['{"result": 7}', '{"result": 12}', '{"result": -3}', '```json\n{"result": 2.5}\n```', "5"];
    fake.reply = (req) => ({ content: answers[Number(req.body.messages[1].content.split("Model answer: ")[1])]! });
    const out = await run(
      config,
      answers.map((_, i) => sample(String(i), { reference_answer: "r" })),
    );
    expect(out.results.map((r) => [r.valid, r.score])).toEqual([
      [true, 0.7],
      [true, 1],
      [true, 0],
      [true, 0.25],
      [true, 0.5],
    ]);
    expect(out.results[0]!.reason).toMatch(/judge scored 7 in \[0, 10\].*passes 6/);
    expect(out.results[1]!.reason).toContain("outside the range, clamped to 10");
    expect(out.results[2]!.reason).toMatch(/clamped to 0.*below 6/);
    expect(out.results[0]!.metrics).toEqual({ my_score_model: { score: 0.7, reason: 'answer "{\\"result\\": 7}"' } });
  });

  it("is valid: false with UPSTREAM_FAILED when the judge answers garbage", async () => {
    fake.reply = (_req, n) => (n === 1 ? { content: "I would say it is quite good" } : { raw: "not json at all" });
    const out = await run(OPENAI_SCORE_MODEL, [sample("a", { reference_answer: "b" })]);
    expect(out.results[0]).toMatchObject({ valid: false, error: { code: "UPSTREAM_FAILED" } });
    expect(out.results[0]!.reason).toContain("the judge answered no number");
    const second = await run(OPENAI_SCORE_MODEL, [sample("a", { reference_answer: "b" })]);
    expect(second.results[0]).toMatchObject({ valid: false, error: { code: "UPSTREAM_FAILED" } });
    expect(second.results[0]!.reason).toContain("not JSON");
  });

  it("retries 429 and 5xx answers with backoff and succeeds once the judge recovers", async () => {
    fake.reply = (_req, n) =>
      n === 1 ? { status: 429, retryAfter: "0" } : n === 2 ? { status: 503 } : { content: '{"result": 0.5}' };
    const out = await run(OPENAI_SCORE_MODEL, [sample("a", { reference_answer: "b" })]);
    expect(out.results[0]).toMatchObject({ valid: true, score: 0.5 });
    expect(out.results[0]!.reason).toContain("after 3 calls");
    expect(fake.requests).toHaveLength(3);
  });

  it("gives up after its retries on a judge that keeps failing, and does not retry a 400", async () => {
    fake.reply = () => ({ status: 500 });
    const out = await run(OPENAI_SCORE_MODEL, [sample("a", { reference_answer: "b" })]);
    expect(out.results[0]).toMatchObject({ valid: false, error: { code: "UPSTREAM_FAILED" } });
    expect(out.results[0]!.reason).toContain("HTTP 500");
    expect(fake.requests).toHaveLength(4);

    fake.reset();
    fake.reply = () => ({ status: 400, body: '{"error": {"message": "unknown model"}}' });
    const bad = await run(OPENAI_SCORE_MODEL, [sample("a", { reference_answer: "b" })]);
    expect(bad.results[0]).toMatchObject({ valid: false, error: { code: "UPSTREAM_FAILED" } });
    expect(bad.results[0]!.reason).toContain("unknown model");
    expect(fake.requests).toHaveLength(1);
  });

  it("times out a judge that never answers inside the batch, scoring the rest", async () => {
    const config = { ...OPENAI_SCORE_MODEL, timeout_ms: 300 };
    fake.reply = (req) =>
      req.body.messages[1].content.endsWith("slow") ? { hang: true } : { content: '{"result": 1}' };
    const out = await run(
      config,
      [sample("slow", { reference_answer: "r" }), sample("fast", { reference_answer: "r" })],
      {
        deadlineMs: 5_000,
      },
    );
    expect(out.results[0]).toMatchObject({ valid: false, error: { code: "DEADLINE_EXCEEDED" } });
    expect(out.results[1]).toMatchObject({ valid: true, score: 1 });
  });

  it("is valid: false when the judge endpoint is unreachable or not configured", async () => {
    const closed = await FakeJudge.start();
    const url = closed.url;
    await closed.close();
    const out = await run(OPENAI_SCORE_MODEL, [sample("a", { reference_answer: "b" })], { baseUrl: url });
    expect(out.results[0]).toMatchObject({ valid: false, error: { code: "UPSTREAM_FAILED" } });
    expect(out.results[0]!.reason).toContain("unreachable");

    const grader = buildGrader(OPENAI_SCORE_MODEL);
    const none = await scoreBatch(grader.score, [sample("a", { reference_answer: "b" })], {
      context: { fixtures: { get: async () => null }, log, services: {} },
    });
    expect(none.results[0]).toMatchObject({ valid: false, error: { code: "UPSTREAM_FAILED" } });
    expect(none.results[0]!.reason).toContain("JUDGE_BASE_URL");
  });

  it("keeps at most maxConcurrency judge calls in flight", async () => {
    const samples = Array.from({ length: 24 }, (_, i) => sample(`answer ${i}`, { reference_answer: "r" }));
    const out = await run(OPENAI_SCORE_MODEL, samples, { maxConcurrency: 3 });
    expect(out.results.every((r) => r.valid && r.score === 1)).toBe(true);
    expect(fake.requests).toHaveLength(24);
    expect(fake.maxInFlight).toBeLessThanOrEqual(3);
    expect(fake.maxInFlight).toBeGreaterThan(1);
  });

  it("scores a missing item field as the evaluator's failure, before calling the judge", async () => {
    const out = await run(OPENAI_SCORE_MODEL, [sample("a", {})]);
    expect(out.results[0]).toMatchObject({ valid: false, error: { code: "INVALID_INPUT" } });
    expect(fake.requests).toHaveLength(0);
  });

  it("refuses a range whose bounds are reversed and an unknown template reference", () => {
    const out = validateGrader({
      ...OPENAI_SCORE_MODEL,
      range: [1, 0],
      input: [{ role: "user", content: "{{foo.bar}}" }],
    });
    expect(out.valid).toBe(false);
    expect(out.errors.map((e) => e.path.join("."))).toEqual(expect.arrayContaining(["range", "input.0.content.0"]));
  });
});

describe("label_model", () => {
  it("accepts OpenAI's documented label_model example unchanged", () => {
    expect(validateGrader(OPENAI_LABEL_MODEL)).toEqual({ valid: true, errors: [] });
  });

  it("scores 1 for a passing label, 0 for another label, and valid: false for one outside the list", async () => {
    const labels: Record<string, string> = { good: "positive", meh: "neutral", odd: "ecstatic" };
    fake.reply = (req) => ({ content: JSON.stringify({ label: labels[req.body.messages[1].content.slice(11)] }) });
    const out = await run(OPENAI_LABEL_MODEL, [
      sample("", { input: "good" }),
      sample("", { input: "meh" }),
      sample("", { input: "odd" }),
    ]);
    expect(out.results.map((r) => [r.valid, r.score])).toEqual([
      [true, 1],
      [true, 0],
      [false, 0],
    ]);
    expect(out.results[0]!.reason).toContain('judge labelled "positive" (passing');
    expect(out.results[2]).toMatchObject({ error: { code: "UPSTREAM_FAILED" } });
    expect(fake.requests[0]!.body.response_format.json_schema.schema.properties).toEqual({
      label: { type: "string", enum: ["positive", "neutral", "negative"] },
    });
    expect(fake.requests[0]!.body.messages[0]).toEqual({
      role: "developer",
      content: OPENAI_LABEL_MODEL.input[0]!.content,
    });
  });

  it("refuses passing labels that are not among the labels", () => {
    const out = validateGrader({ ...OPENAI_LABEL_MODEL, passing_labels: ["great"] });
    expect(out).toEqual({
      valid: false,
      errors: [{ path: ["passing_labels", 0], message: '"great" is not in labels' }],
    });
  });

  it("composes inside multi with a deterministic grader", async () => {
    fake.reply = () => ({ content: '{"label": "positive"}' });
    const config = {
      type: "multi",
      graders: {
        tone: OPENAI_LABEL_MODEL,
        exact: {
          type: "string_check",
          name: "exact",
          input: "{{sample.output_text}}",
          reference: "yes",
          operation: "eq",
        },
      },
      calculate_output: "0.5 * tone + 0.5 * exact",
    };
    const out = await run(config, [sample("yes", { input: "great" }), sample("no", { input: "great" })]);
    expect(out.results.map((r) => r.score)).toEqual([1, 0.5]);
  });
});
