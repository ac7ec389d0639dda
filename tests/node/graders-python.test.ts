import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { scoreOne } from "../../rewards/core/engine";
import type { RewardResult, Sample } from "../../rewards/core/types";
import { buildGrader, validateGrader, validateGraderIn } from "../../rewards/graders/index";
import { createPythonGraderService } from "../../rewards/verifiers/code/python/grade";
import { nodePyodideAssets } from "../../rewards/verifiers/code/python/node-assets";
import { PyodideSandbox } from "../../rewards/verifiers/code/python/sandbox";

// OpenAI's graders guide, "Python graders": its first example config and the grader its runnable
// example validates and runs (rapidfuzz, which OpenAI's image has and this sandbox does not), unedited.
const OPENAI_PYTHON = {
  type: "python",
  source: "def grade(sample, item):\n    return 1.0",
  image_tag: "2025-05-08",
};
const OPENAI_RAPIDFUZZ_SOURCE = `
from rapidfuzz import fuzz, utils

def grade(sample, item) -> float:
    output_text = sample["output_text"]
    reference_answer = item["reference_answer"]
    return fuzz.WRatio(output_text, reference_answer, processor=utils.default_process) / 100.0
`;
const OPENAI_RAPIDFUZZ = { type: "python", source: OPENAI_RAPIDFUZZ_SOURCE };

const sandbox = new PyodideSandbox({ assets: () => nodePyodideAssets() });
const services = { python: createPythonGraderService(sandbox) };
const context = { fixtures: { get: async () => null }, log: { debug() {}, info() {}, warn() {} }, services };

function score(config: unknown, completion: string, item: Record<string, unknown> = {}): Promise<RewardResult> {
  return scoreOne(buildGrader(config).score, { completion, item } satisfies Sample, context, 60_000);
}

const py = (source: string, extra: Record<string, unknown> = {}) => ({ type: "python", name: "py", source, ...extra });

describe("python grader: OpenAI's configs", () => {
  it("accepts OpenAI's documented python grader config unchanged and scores with it", async () => {
    expect(validateGrader(OPENAI_PYTHON)).toEqual({ valid: true, errors: [] });
    expect(await validateGraderIn(OPENAI_PYTHON, services)).toEqual({ valid: true, errors: [] });
    expect(await score(OPENAI_PYTHON, "anything")).toEqual({ score: 1, valid: true, reason: "grade returned 1" });
  });

  it("accepts OpenAI's rapidfuzz example, and a run without that package scores 0 naming the import error", async () => {
    expect(await validateGraderIn(OPENAI_RAPIDFUZZ, services)).toEqual({ valid: true, errors: [] });
    const r = await score(OPENAI_RAPIDFUZZ, "fuzzy wuzzy was a bear", { reference_answer: "fuzzy wuzzy had no hair" });
    expect(r).toEqual({
      score: 0,
      valid: true,
      reason: "the grader's source raised ModuleNotFoundError: No module named 'rapidfuzz' (grader.py line 2)",
    });
  });
});

describe("python grader: scores", () => {
  it("scores the README's example as the README says", async () => {
    const source =
      'def grade(sample, item):\n    if sample["output_json"] is not None:\n        return sample["output_json"]["score"]\n    return 1.0 if sample["output_text"] == item["answer"] else 0.0';
    const config = { type: "python", name: "answer", image_tag: "2025-05-08", source };
    expect(await score(config, "Paris", { answer: "Paris" })).toEqual({
      score: 1,
      valid: true,
      reason: "grade returned 1",
    });
    expect(await score(config, '{"score": 2.5}')).toEqual({
      score: 1,
      valid: true,
      reason: "grade returned 2.5, outside [0, 1]: clamped to 1",
    });
    expect(await score(config, "Lyon")).toEqual({
      score: 0,
      valid: true,
      reason: "grade raised KeyError: 'answer' (grader.py line 4)",
    });
  });

  it("passes sample as OpenAI does (output_text, output_json, output_tools, choices) and item as the row", async () => {
    const source = `
def grade(sample, item):
    assert sorted(sample) == ["choices", "output_audio", "output_json", "output_text", "output_tools"], sorted(sample)
    assert sample["output_tools"] == []
    assert sample["choices"][0]["message"] == {"role": "assistant", "content": sample["output_text"]}
    return 0.25 if sample["output_json"]["answer"] == item["answer"] else 0.75
`;
    expect(await score(py(source), '{"answer": 42}', { answer: 42 })).toEqual({
      score: 0.25,
      valid: true,
      reason: "grade returned 0.25",
    });
    const plain = await score(
      py("def grade(sample, item):\n    return 0.5 if sample['output_json'] is None else 0.0"),
      "not json",
    );
    expect(plain).toEqual({ score: 0.5, valid: true, reason: "grade returned 0.5" });
  });

  it("clamps a number outside [0, 1] and says so in the reason", async () => {
    expect(await score(py("def grade(sample, item):\n    return 1.7"), "x")).toEqual({
      score: 1,
      valid: true,
      reason: "grade returned 1.7, outside [0, 1]: clamped to 1",
    });
    expect(await score(py("def grade(sample, item):\n    return -3"), "x")).toEqual({
      score: 0,
      valid: true,
      reason: "grade returned -3, outside [0, 1]: clamped to 0",
    });
    expect(await score(py("def grade(sample, item):\n    return float('inf')"), "x")).toEqual({
      score: 1,
      valid: true,
      reason: "grade returned inf, outside [0, 1]: clamped to 1",
    });
  });

  it("scores a return that is not a number 0 with the type in the reason", async () => {
    expect(await score(py("def grade(sample, item):\n    return '0.9'"), "x")).toEqual({
      score: 0,
      valid: true,
      reason: "grade returned a str, not a number: scored 0",
    });
    const hostile = `
class Meta(type):
    @property
    def __name__(cls):
        raise RuntimeError("ran")
class Sly(float, metaclass=Meta):
    def __float__(self):
        return 1.0
def grade(sample, item):
    return Sly(0.5)
`;
    expect(await score(py(hostile), "x")).toEqual({
      score: 0,
      valid: true,
      reason: "grade returned a Sly, not a number: scored 0",
    });
    expect(await score(py("def grade(sample, item):\n    return float('nan')"), "x")).toEqual({
      score: 0,
      valid: true,
      reason: "grade returned nan: scored 0",
    });
  });

  it("scores an exception in grade 0 (valid) with the error and its line", async () => {
    const r = await score(py("def grade(sample, item):\n    return int(sample['output_text'])"), "four");
    expect(r).toEqual({
      score: 0,
      valid: true,
      reason: "grade raised ValueError: invalid literal for int() with base 10: 'four' (grader.py line 2)",
    });
  });

  it("starts every sample from a clean interpreter", async () => {
    const source = `
import builtins, math
def grade(sample, item):
    seen = getattr(builtins, "assay_mark", None) is not None or math.sqrt(4) != 2
    builtins.assay_mark = True
    math.sqrt = lambda x: 0
    return 1.0 if seen else 0.0
`;
    const grader = buildGrader(py(source));
    for (let i = 0; i < 3; i++) {
      const r = await scoreOne(grader.score, { completion: "x", item: {} }, context);
      expect(r).toEqual({ score: 0, valid: true, reason: "grade returned 0" });
    }
  });
});

describe("python grader: limits and hostile sources", () => {
  it("stops a long native loop at the time limit and names it", async () => {
    const r = await score(py("def grade(sample, item):\n    return sum(range(10**12)) % 2", { timeout_ms: 300 }), "x");
    expect(r).toEqual({ score: 0, valid: true, reason: "the grader stopped: time limit exceeded (300 ms)" });
  });

  it("stops a memory hog at the memory limit and names it", async () => {
    const source = "def grade(sample, item):\n    x = [bytearray(2**20) for _ in range(10**4)]\n    return 1.0";
    const r = await score(py(source, { memory_mb: 64 }), "x");
    expect(r).toEqual({ score: 0, valid: true, reason: "the grader stopped: memory limit exceeded (64 MB)" });
  });

  it("gives grade no way to the host: no js, no pyodide, no fetch, no host files, no shell", async () => {
    const source = `
def grade(sample, item):
    reached = []
    for name in ("js", "pyodide_js", "pyodide", "_pyodide_core", "ctypes", "_ctypes", "socket"):
        try:
            __import__(name)
            reached.append(name)
        except BaseException:
            pass
    try:
        open(item["host_file"]).read()
        reached.append("host file")
    except BaseException:
        pass
    import os
    try:
        if os.system("true") == 0:
            reached.append("shell")
    except BaseException:
        pass
    try:
        import subprocess
        subprocess.run(["true"])
        reached.append("a subprocess")
    except BaseException:
        pass
    try:
        import gc
        if any(type(o).__name__ == "JsProxy" for o in gc.get_objects()):
            reached.append("a JsProxy")
    except BaseException:
        pass
    if reached:
        raise RuntimeError("reached " + ", ".join(reached))
    return 0.0
`;
    const r = await score(py(source), "x", { host_file: resolve("package.json") });
    expect(r).toEqual({ score: 0, valid: true, reason: "grade returned 0" });
  });
});

describe("python grader: config errors", () => {
  it("reports a syntax error in source as a config error at /source, at validate time", async () => {
    const bad = py("def grade(sample, item)\n    return 1.0");
    expect(validateGrader(bad)).toEqual({ valid: true, errors: [] });
    expect(await validateGraderIn(bad, services)).toEqual({
      valid: false,
      errors: [{ path: ["source"], message: "SyntaxError: expected ':' (grader.py, line 1)" }],
    });
  });

  it("reports a source without grade(sample, item) at /source", async () => {
    expect(await validateGraderIn(py("def score(sample, item):\n    return 1.0"), services)).toEqual({
      valid: false,
      errors: [{ path: ["source"], message: "the source defines no top-level function grade(sample, item)" }],
    });
    expect(await validateGraderIn(py("def grade(sample):\n    return 1.0"), services)).toEqual({
      valid: false,
      errors: [{ path: ["source"], message: "grade must take two positional arguments, grade(sample, item)" }],
    });
  });

  it("reaches a python grader inside multi, with the sub-grader's path", async () => {
    const multi = {
      type: "multi",
      graders: {
        exact: {
          type: "string_check",
          name: "exact",
          input: "{{sample.output_text}}",
          reference: "4",
          operation: "eq",
        },
        py: py("def grade(sample, item):\n    return len(sample['output_text']) / 10"),
        broken: py("def grade(sample, item):\n  return )"),
      },
      calculate_output: "(exact + py + broken) / 3",
    };
    expect(await validateGraderIn(multi, services)).toEqual({
      valid: false,
      errors: [{ path: ["graders", "broken", "source"], message: "SyntaxError: unmatched ')' (grader.py, line 2)" }],
    });
    const { broken: _, ...graders } = multi.graders;
    const ok = { type: "multi", graders, calculate_output: "0.5 * exact + 0.5 * py" };
    expect(await validateGraderIn(ok, services)).toEqual({ valid: true, errors: [] });
    expect(await score(ok, "4")).toEqual({
      score: 0.55,
      valid: true,
      reason: "0.5 * exact + 0.5 * py = 0.55 with exact=1, py=0.1",
      metrics: {
        exact: { score: 1, reason: 'eq: input "4" equals reference "4"' },
        py: { score: 0.1, reason: "grade returned 0.1" },
      },
    });
  });

  it("marks a run of a source that does not compile as the evaluator's failure, not the sample's", async () => {
    const r = await score(py("def grade(sample, item)\n    return 1.0"), "x");
    expect(r).toEqual({
      score: 0,
      valid: false,
      reason: "the grader's source does not compile: SyntaxError: expected ':' (grader.py, line 1)",
      error: {
        code: "INVALID_INPUT",
        message: "the grader's source does not compile: SyntaxError: expected ':' (grader.py, line 1)",
      },
    });
  });

  it("rejects a source of 256 kB or more before compiling it", () => {
    const big = py(`def grade(sample, item):\n    return 1.0\n${"#".repeat(256 * 1024)}\n`);
    expect(validateGrader(big)).toEqual({
      valid: false,
      errors: [{ path: ["source"], message: "source must be less than 256 kB (it is 257 kB)" }],
    });
  });
});
