import { describe, expect, it } from "vitest";
import { buildGrader, GraderConfigError, validateGrader } from "../../rewards/graders/index";
import { grader } from "./graders-helpers";

const exact = {
  type: "string_check",
  name: "exact",
  input: "{{sample.output_text}}",
  reference: "{{item.answer}}",
  operation: "eq",
};
const close = {
  type: "text_similarity",
  name: "close",
  input: "{{sample.output_text}}",
  reference: "{{item.answer}}",
  evaluation_metric: "fuzzy_match",
};
const multi = (calculate_output: string, graders: Record<string, unknown> = { exact, close }) =>
  ({ type: "multi", name: "combined", graders, calculate_output }) as const;

describe("multi", () => {
  it("combines sub-grader scores with calculate_output and reports each in metrics", async () => {
    const g = grader(multi("0.5 * exact + 0.5 * close"));
    expect(await g("Paris", { answer: "Paris" })).toEqual({
      score: 1,
      valid: true,
      reason: "0.5 * exact + 0.5 * close = 1 with exact=1, close=1",
      metrics: {
        exact: { score: 1, reason: 'eq: input "Paris" equals reference "Paris"' },
        close: { score: 1, reason: "fuzzy_match = 1" },
        "close.fuzzy_match": { score: 1 },
      },
    });
    expect(await g("Pari", { answer: "Paris" })).toEqual({
      score: 0.5 * (8 / 9),
      valid: true,
      reason: "0.5 * exact + 0.5 * close = 0.444444 with exact=0, close=0.888889",
      metrics: {
        exact: { score: 0, reason: 'eq: input "Pari" does not equal reference "Paris"' },
        close: { score: 8 / 9, reason: "fuzzy_match = 0.888889" },
        "close.fuzzy_match": { score: 8 / 9 },
      },
    });
  });

  it("evaluates functions over sub-grader scores", async () => {
    const g = grader(multi("max(exact, 0.5 * close)"));
    expect((await g("Pari", { answer: "Paris" })).score).toBeCloseTo(4 / 9, 12);
    expect((await g("Paris", { answer: "Paris" })).score).toBe(1);
  });

  it("snaps floating-point dust at the ends of [0, 1]", async () => {
    const g = grader(multi("0.1 * exact + 0.2 * exact + 0.7 * exact", { exact }));
    expect((await g("a", { answer: "a" })).score).toBe(1);
  });

  it("is valid: false, naming the sub-grader, when one fails", async () => {
    const g = grader(multi("exact + close"));
    const r = await g("Paris", {});
    expect(r.valid).toBe(false);
    expect(r.error).toEqual({
      code: "INVALID_INPUT",
      message: 'sub-grader "exact" failed: reference: template reference {{item.answer}} is missing from the sample',
    });
  });

  it("is valid: false when the formula leaves [0, 1], rather than clamping it", async () => {
    const r = await grader(multi("exact + close"))("Paris", { answer: "Paris" });
    expect(r).toEqual({
      score: 0,
      valid: false,
      reason:
        "calculate_output exact + close gave 2 with exact=1, close=1, outside [0, 1]; bound it, e.g. clip(..., 0, 1)",
      error: {
        code: "INVALID_SCORE",
        message:
          "calculate_output exact + close gave 2 with exact=1, close=1, outside [0, 1]; bound it, e.g. clip(..., 0, 1)",
      },
      metrics: {
        exact: { score: 1, reason: 'eq: input "Paris" equals reference "Paris"' },
        close: { score: 1, reason: "fuzzy_match = 1" },
        "close.fuzzy_match": { score: 1 },
      },
    });
    expect((await grader(multi("clip(exact + close, 0, 1)"))("Paris", { answer: "Paris" })).score).toBe(1);
  });

  it("is valid: false when the formula is undefined for these scores (division by zero)", async () => {
    const r = await grader(multi("exact / close"))("x", { answer: "Paris" });
    expect(r.valid).toBe(false);
    expect(r.error).toEqual({
      code: "INVALID_SCORE",
      message: "calculate_output exact / close gave NaN with exact=0, close=0",
    });
  });

  it("nests: a multi can be a sub-grader of a multi", async () => {
    const inner = multi("0.5 * exact + 0.5 * close");
    const g = grader(multi("outer_check * inner", { inner, outer_check: { ...exact, operation: "like" } }));
    const r = await g("Paris", { answer: "Paris" });
    expect(r.score).toBe(1);
    expect(Object.keys(r.metrics ?? {})).toEqual([
      "inner",
      "inner.exact",
      "inner.close",
      "inner.close.fuzzy_match",
      "outer_check",
    ]);
  });

  it("validation reports a bad expression, unknown names and sub-grader errors with their paths", () => {
    expect(
      validateGrader(
        multi("exact + missing", {
          exact: { ...exact, operation: "equals" },
          "bad-name": close,
        }),
      ),
    ).toEqual({
      valid: false,
      errors: [
        {
          path: ["graders", "exact", "operation"],
          message: 'Invalid option: expected one of "eq"|"ne"|"like"|"ilike"',
        },
        {
          path: ["graders", "bad-name"],
          message:
            'grader name "bad-name" must be usable in calculate_output: letters, digits and _, not starting with a digit',
        },
        { path: ["calculate_output"], message: 'unknown name "missing" at 8; graders: exact, bad-name' },
      ],
    });
    expect(validateGrader(multi("(exact"))).toEqual({
      valid: false,
      errors: [{ path: ["calculate_output"], message: 'expected ")" at 6, found end of expression' }],
    });
    expect(validateGrader(multi("1", {}))).toEqual({
      valid: false,
      errors: [{ path: ["graders"], message: "graders must name at least one grader" }],
    });
  });

  it("validation refuses a sub-grader of an unknown type", () => {
    const outcome = validateGrader(multi("x", { x: { type: "cosine_magic" } }));
    expect(outcome.valid).toBe(false);
    expect(outcome.errors[0]?.path).toEqual(["graders", "x", "type"]);
  });

  it("refuses multi nested deeper than 8 without recursing through it", () => {
    let config: unknown = exact;
    for (let i = 0; i < 5000; i++) config = multi("g", { g: config });
    expect(validateGrader(config)).toEqual({
      valid: false,
      errors: [{ path: ["graders"], message: "multi graders nest at most 8 deep" }],
    });
  });

  it("building an invalid multi throws GraderConfigError, as the API expects", () => {
    expect(() => buildGrader(multi("exact + nope"))).toThrow(GraderConfigError);
  });

  it("validation accepts OpenAI's multigrader config as is", () => {
    expect(
      validateGrader({
        type: "multi",
        name: "example multigrader",
        graders: {
          name: { ...exact, name: "name", input: "{{sample.output_json.name}}", reference: "{{item.name}}" },
          email: { ...exact, name: "email", input: "{{sample.output_json.email}}", reference: "{{item.email}}" },
        },
        calculate_output: "(name + email) / 2",
      }),
    ).toEqual({ valid: true, errors: [] });
  });
});
