import { beforeAll, describe, expect, it } from "vitest";
import { call, expectError, expectStatus, expectHealthy as healthy, runGrader as run, warmPython } from "./helpers";

// OpenAI's graders guide, "Python graders": its example config, unedited.
const OPENAI_PYTHON = {
  type: "python",
  source: "def grade(sample, item):\n    return 1.0",
  image_tag: "2025-05-08",
};

const py = (source: string, extra: Record<string, unknown> = {}) => ({ type: "python", name: "py", source, ...extra });

describe("POST /v1/graders/validate with a python grader", () => {
  beforeAll(warmPython, 180_000);

  it("accepts OpenAI's documented config unchanged", async () => {
    const res = await call("POST", "/v1/graders/validate", { body: { grader: OPENAI_PYTHON } });
    expectStatus(res, 200);
    expect(res.json).toEqual({ valid: true, errors: [] });
  });

  it("reports a syntax error in source with the path source, inside multi too", async () => {
    const bad = py("def grade(sample, item):\n    return (1.0");
    const res = await call("POST", "/v1/graders/validate", { body: { grader: bad } });
    expectStatus(res, 200);
    expect(res.json).toEqual({
      valid: false,
      errors: [{ path: ["source"], message: "SyntaxError: '(' was never closed (grader.py, line 2)" }],
    });
    const multi = { type: "multi", graders: { ok: OPENAI_PYTHON, bad }, calculate_output: "(ok + bad) / 2" };
    const nested = await call("POST", "/v1/graders/validate", { body: { grader: multi } });
    expectStatus(nested, 200);
    expect(nested.json).toEqual({
      valid: false,
      errors: [
        { path: ["graders", "bad", "source"], message: "SyntaxError: '(' was never closed (grader.py, line 2)" },
      ],
    });
  });
});

describe("POST /v1/graders/run with a python grader", () => {
  it("scores each sample with grade(sample, item): in range, clamped, not a number, raised", async () => {
    const source = `
import json
def grade(sample, item):
    text = sample["output_text"]
    if text == "raise":
        raise KeyError(item["missing"])
    if text == "none":
        return None
    if sample["output_json"] is not None:
        return sample["output_json"]["score"]
    return 1.0 if text == item["answer"] else 0.0
`;
    const out = await run(py(source), [
      { completion: "Paris", item: { answer: "Paris" } },
      { completion: "Lyon", item: { answer: "Paris" } },
      { completion: '{"score": 2.5}', item: {} },
      { completion: '{"score": 0.25}', item: {} },
      { completion: "none", item: {} },
      { completion: "raise", item: { missing: "k" } },
    ]);
    expect(out.grader).toEqual({ type: "python", ref: "python" });
    expect(out.results).toEqual([
      { score: 1, valid: true, reason: "grade returned 1" },
      { score: 0, valid: true, reason: "grade returned 0" },
      { score: 1, valid: true, reason: "grade returned 2.5, outside [0, 1]: clamped to 1" },
      { score: 0.25, valid: true, reason: "grade returned 0.25" },
      { score: 0, valid: true, reason: "grade returned a NoneType, not a number: scored 0" },
      { score: 0, valid: true, reason: "grade raised KeyError: 'k' (grader.py line 6)" },
    ]);
    expect(out.summary).toMatchObject({ count: 6, validCount: 6 });
  });

  it("answers 400 with the path grader.source for a source that does not compile", async () => {
    const res = await call("POST", "/v1/graders/run", {
      body: { grader: py("def grade(sample, item):\nreturn 1.0"), samples: [{ completion: "x" }] },
    });
    expectError(res, 400, "BAD_REQUEST");
    expect(res.json.error.issues).toEqual([
      {
        path: ["grader", "source"],
        message: "IndentationError: expected an indented block after function definition on line 1 (grader.py, line 2)",
      },
    ]);
  });

  it("pre-flight answers 400 at grader.source for a broken source, and certifies a working one", async () => {
    const broken = await call("POST", "/v1/graders/preflight", {
      body: { grader: py("def grade(sample item):\n    return 1.0"), samples: [{ completion: "x" }] },
    });
    expectError(broken, 400, "BAD_REQUEST");
    expect(broken.json.error.issues).toEqual([
      {
        path: ["grader", "source"],
        message: "SyntaxError: invalid syntax (grader.py, line 1)",
      },
    ]);
    const samples = ["a", "bb", "ccc", "dddd"].map((completion, i) => ({ completion, item: {}, group: i % 2 }));
    const ok = await call("POST", "/v1/graders/preflight", {
      body: {
        grader: py("def grade(sample, item):\n    return len(sample['output_text']) / 4"),
        samples,
        thresholds: { minSamples: 4, maxLengthCorrelation: 1 },
      },
    });
    expectStatus(ok, 200);
    expect(ok.json).toMatchObject({
      grader: { ref: "python" },
      samples: 4,
      determinism: { mismatches: 0, rate: 0, examples: [] },
      invalidRate: 0,
      meanScore: 0.625,
    });
  });

  it("keeps a hostile grader inside the sandbox: no js, no fetch, no host, and a native loop stops at its limit", async () => {
    const escapes = `
def grade(sample, item):
    reached = []
    for name in ("js", "pyodide_js", "pyodide", "_pyodide_core", "ctypes"):
        try:
            mod = __import__(name)
            reached.append(name)
            mod.fetch("http://assay.test/healthz")
            reached.append(name + ".fetch")
        except BaseException:
            pass
    import os
    if os.system("true") == 0:
        reached.append("a shell")
    # Only Emscripten's in-memory filesystem: none of the host's directories.
    if set(os.listdir("/")) - {"tmp", "home", "dev", "proc", "lib"}:
        reached.append(str(os.listdir("/")))
    if reached:
        raise RuntimeError("reached " + ", ".join(reached))
    return 0.0
`;
    const out = await run(
      {
        type: "multi",
        graders: {
          escape: py(escapes),
          loop: py("def grade(sample, item):\n    return sum(range(10**12))", { timeout_ms: 300 }),
        },
        calculate_output: "max(escape, loop)",
      },
      [{ completion: "x", item: {} }],
    );
    expect(out.results).toEqual([
      {
        score: 0,
        valid: true,
        reason: "max(escape, loop) = 0 with escape=0, loop=0",
        metrics: {
          escape: { score: 0, reason: "grade returned 0" },
          loop: { score: 0, reason: "the grader stopped: time limit exceeded (300 ms)" },
        },
      },
    ]);
    await healthy();
  });
});
