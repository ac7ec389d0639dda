import { describe, expect, it } from "vitest";
import { call, expectStatus } from "./helpers";

const judge = (type: "score_model" | "label_model", extra: Record<string, unknown> = {}) => ({
  type,
  name: "judge",
  model: "local-judge",
  input: [
    { role: "system", content: "You grade answers." },
    { role: "user", content: "{{item.directive}} Answer: {{sample.output_text}}" },
  ],
  ...extra,
});

describe("LLM-judge graders through the Worker", () => {
  it("scores a batch through the configured judge endpoint, with the judge's failures as valid: false", async () => {
    const res = await call("POST", "/v1/graders/run", {
      body: {
        grader: judge("score_model", { range: [0, 10] }),
        samples: [
          { completion: "a", item: { directive: "JUDGE:SCORE=7" } },
          { completion: "b", item: { directive: "JUDGE:SCORE=10" } },
          { completion: "c", item: { directive: "JUDGE:STATUS=400" } },
        ],
      },
    });
    expectStatus(res, 200);
    expect(res.json.results.map((r: any) => [r.valid, r.score, r.error?.code])).toEqual([
      [true, 0.7, undefined],
      [true, 1, undefined],
      [false, 0, "UPSTREAM_FAILED"],
    ]);
    expect(res.json.summary).toMatchObject({ count: 3, validCount: 2, mean: 0.85 });
  });

  it("labels through the judge", async () => {
    const res = await call("POST", "/v1/graders/run", {
      body: {
        grader: judge("label_model", { labels: ["pass", "fail"], passing_labels: ["pass"] }),
        samples: [
          { completion: "a", item: { directive: "JUDGE:LABEL=pass" } },
          { completion: "b", item: { directive: "JUDGE:LABEL=fail" } },
        ],
      },
    });
    expectStatus(res, 200);
    expect(res.json.results.map((r: any) => r.score)).toEqual([1, 0]);
  });

  it("reports a judge's disagreement between its two pre-flight passes", async () => {
    const steady = await call("POST", "/v1/graders/preflight", {
      body: {
        grader: judge("score_model"),
        samples: Array.from({ length: 10 }, (_, i) => ({ completion: `s${i}`, item: { directive: "JUDGE:SCORE=1" } })),
      },
    });
    expectStatus(steady, 200);
    expect(steady.json.judge).toEqual({ disagreementRate: 0, pairs: 10 });
    expect(steady.json.thresholds.maxNondeterministic).toBe(0.1);

    // A coin-flipping judge: with 40 samples, the chance that both passes agree everywhere is 2^-40.
    const coin = await call("POST", "/v1/graders/preflight", {
      body: {
        grader: judge("score_model"),
        samples: Array.from({ length: 40 }, (_, i) => ({ completion: `c${i}`, item: { directive: "JUDGE:COIN" } })),
      },
    });
    expectStatus(coin, 200);
    expect(coin.json.judge.disagreementRate).toBeGreaterThan(0);
    expect(coin.json.checks.find((c: any) => c.name === "determinism").value).toBe(coin.json.judge.disagreementRate);
  });

  it("refuses an invalid judge config at validate time with the path of the problem", async () => {
    const res = await call("POST", "/v1/graders/validate", {
      body: { grader: judge("label_model", { labels: ["a", "b"], passing_labels: ["c"] }) },
    });
    expectStatus(res, 200);
    expect(res.json).toEqual({
      valid: false,
      errors: [{ path: ["passing_labels", 0], message: '"c" is not in labels' }],
    });
  });
});
