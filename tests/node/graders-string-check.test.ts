import { describe, expect, it } from "vitest";
import { validateGrader } from "../../rewards/graders/index";
import { grader } from "./graders-helpers";

const check = (operation: string, reference = "{{item.answer}}") =>
  grader({ type: "string_check", name: "check", input: "{{sample.output_text}}", reference, operation });

describe("string_check", () => {
  it("eq scores 1 for an exact match and 0 otherwise, saying what it compared", async () => {
    const eq = check("eq");
    expect(await eq("Paris", { answer: "Paris" })).toEqual({
      score: 1,
      valid: true,
      reason: 'eq: input "Paris" equals reference "Paris"',
    });
    expect(await eq("Paris ", { answer: "Paris" })).toEqual({
      score: 0,
      valid: true,
      reason: 'eq: input "Paris " does not equal reference "Paris"',
    });
  });

  it("ne is the negation of eq", async () => {
    const ne = check("ne");
    expect((await ne("Lyon", { answer: "Paris" })).score).toBe(1);
    expect((await ne("Paris", { answer: "Paris" })).score).toBe(0);
  });

  it("like: the input contains the reference, case-sensitively", async () => {
    const like = check("like");
    expect(await like("The answer is Paris.", { answer: "Paris" })).toEqual({
      score: 1,
      valid: true,
      reason: 'like: input "The answer is Paris." contains reference "Paris"',
    });
    expect((await like("the answer is paris", { answer: "Paris" })).score).toBe(0);
    expect((await like("anything", { answer: "" })).score).toBe(1);
  });

  it("ilike: the input contains the reference, ignoring case", async () => {
    const ilike = check("ilike");
    expect(await ilike("THE ANSWER IS PARIS", { answer: "paris" })).toEqual({
      score: 1,
      valid: true,
      reason: 'ilike: input "THE ANSWER IS PARIS" contains (ignoring case) reference "paris"',
    });
    expect((await ilike("Lyon", { answer: "paris" })).score).toBe(0);
  });

  it("renders nested item fields and non-string values as JSON text", async () => {
    const eq = check("eq", "{{item.meta.answer}}");
    expect((await eq("42", { meta: { answer: 42 } })).score).toBe(1);
    expect((await eq('{"a":1}', { meta: { answer: { a: 1 } } })).score).toBe(1);
  });

  it("reads JSON out of the completion with {{sample.output_json.x}}", async () => {
    const g = grader({
      type: "string_check",
      name: "c",
      input: "{{sample.output_json.city}}",
      reference: "Paris",
      operation: "eq",
    });
    expect((await g('```json\n{"city": "Paris"}\n```')).score).toBe(1);
  });

  it("scores 0 (valid) when the completion lacks the JSON value the input names", async () => {
    const g = grader({
      type: "string_check",
      name: "c",
      input: "{{sample.output_json.city}}",
      reference: "Paris",
      operation: "eq",
    });
    expect(await g("no json here")).toEqual({
      score: 0,
      valid: true,
      reason: "input {{sample.output_json.city}}: the completion has no such JSON value",
    });
  });

  it("is an evaluator failure when the dataset row lacks the referenced field", async () => {
    expect(await check("eq")("Paris", { other: 1 })).toEqual({
      score: 0,
      valid: false,
      reason: "reference: template reference {{item.answer}} is missing from the sample",
      error: {
        code: "INVALID_INPUT",
        message: "reference: template reference {{item.answer}} is missing from the sample",
      },
    });
  });

  it("shortens long values in the reason", async () => {
    const r = await check("eq")("x".repeat(500), { answer: "y" });
    expect(r.reason).toBe(`eq: input "${"x".repeat(80)}…" (500 chars) does not equal reference "y"`);
  });

  it("validation reports a bad operation", () => {
    expect(
      validateGrader({
        type: "string_check",
        name: "c",
        input: "{{sample.output_text}}",
        reference: "x",
        operation: "equals",
      }),
    ).toEqual({
      valid: false,
      errors: [{ path: ["operation"], message: 'Invalid option: expected one of "eq"|"ne"|"like"|"ilike"' }],
    });
  });

  it("validation reports unknown template references", () => {
    expect(
      validateGrader({
        type: "string_check",
        name: "c",
        input: "{{output_text}}",
        reference: "{{items.a}}",
        operation: "eq",
      }),
    ).toEqual({
      valid: false,
      errors: [
        { path: ["input"], message: "unknown template reference {{output_text}}" },
        { path: ["reference"], message: "unknown template reference {{items.a}}" },
      ],
    });
  });

  it("validation accepts OpenAI's config as is", () => {
    expect(
      validateGrader({
        type: "string_check",
        name: "Example string check grader",
        input: "{{sample.output_text}}",
        reference: "{{item.label}}",
        operation: "eq",
      }),
    ).toEqual({ valid: true, errors: [] });
  });
});
