// How many samples of a batch are scored at once: more for graders whose runs go to a sandbox Worker, so
// that a batch fills several calls at a time (functions/lib/sandbox-client.ts).
import { describe, expect, it } from "vitest";
import { batchConcurrency, usesSandbox } from "../../rewards/graders";

const code = { type: "code_tests", name: "t", language: "javascript", tests: "console.assert(true)" };
const python = { type: "python", source: "def grade(sample, item):\n    return 1.0" };
const text = { type: "string_check", name: "s", input: "{{sample.output_text}}", reference: "a", operation: "eq" };

describe("batch concurrency by grader", () => {
  it("finds sandboxed graders, nested in a multi too", () => {
    expect(usesSandbox(code)).toBe(true);
    expect(usesSandbox(python)).toBe(true);
    expect(usesSandbox(text)).toBe(false);
    expect(usesSandbox({ type: "multi", graders: { a: text, b: { type: "multi", graders: { c: code } } } })).toBe(true);
    expect(usesSandbox({ type: "multi", graders: { a: text } })).toBe(false);
    expect(usesSandbox(null)).toBe(false);
    expect(usesSandbox("code_tests")).toBe(false);
  });

  it("scores 64 samples at a time for sandboxed graders and keeps the engine's default otherwise", () => {
    expect(batchConcurrency(code)).toBe(64);
    expect(batchConcurrency({ type: "multi", graders: { p: python } })).toBe(64);
    expect(batchConcurrency(text)).toBeUndefined();
  });
});
