// The sandbox Workers (sandbox/handler.ts; sandbox/js and sandbox/python) behind the main Worker's SANDBOX_JS
// and SANDBOX_PYTHON service bindings, here the vitest pool's auxiliary Workers: how batches are split into calls, and what a call that dies costs.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { remoteCodeRunner, type SandboxTransport, sandboxClient } from "../../functions/lib/sandbox-client";
import type { CodeRunInput } from "../../rewards/core/services";
import { call, expectStatus, sandboxStats } from "./helpers";

const KILLER = "/* kills its isolate */";

function sample(i: number, code = `const f = (x) => x + ${i}`): CodeRunInput {
  return { language: "javascript", code, tests: `console.assert(f(1) === ${i + 1})`, timeoutMs: 2_000, memoryMb: 64 };
}

/**
 * The real binding, watched: counts calls and the most in flight at once, and aborts every call whose
 * runs include KILLER (what production does to a call whose isolate is killed at its CPU or memory limit).
 */
function watched(opts: { down?: boolean } = {}) {
  const stats = { calls: 0, runs: [] as number[], inFlight: 0, maxInFlight: 0, aborted: 0, health: 0 };
  const transport: SandboxTransport = {
    async fetch(url, init) {
      if (url.endsWith("/healthz")) {
        stats.health++;
        if (opts.down) throw new Error("connection refused");
        return env.SANDBOX_JS.fetch(url, init);
      }
      stats.calls++;
      const body = JSON.parse(String(init?.body));
      stats.runs.push(body.runs.length);
      if (opts.down) throw new Error("connection refused");
      if (JSON.stringify(body).includes(KILLER)) {
        stats.aborted++;
        throw new Error("The script will never generate a response (the isolate exceeded its CPU time limit)");
      }
      stats.inFlight++;
      stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
      try {
        return await env.SANDBOX_JS.fetch(url, init);
      } finally {
        stats.inFlight--;
      }
    },
  };
  return { transport, stats };
}

describe("the sandbox Workers behind the SANDBOX_JS and SANDBOX_PYTHON bindings", () => {
  it("scores a batch in several calls in flight at once, each of a few runs, every result in its place", async () => {
    const { transport, stats } = watched();
    const runner = remoteCodeRunner(transport, { runsPerCall: 4 });
    const inputs = Array.from({ length: 24 }, (_, i) => sample(i));
    // A wrong answer in the middle: results must come back in the order of the runs.
    inputs[10] = { ...sample(10), tests: "console.assert(f(1) === 0)" };
    const results = await Promise.all(inputs.map((x) => runner.run(x)));
    expect(results.map((r) => [r.valid, r.score])).toEqual(inputs.map((_, i) => [true, i === 10 ? 0 : 1]));
    expect(stats.calls).toBe(6);
    expect(stats.runs).toEqual([4, 4, 4, 4, 4, 4]);
    expect(stats.maxInFlight).toBeGreaterThan(1);
  });

  it("sends 16 runs per call by default: a 1,024-sample batch is 64 calls, not one long one", async () => {
    const shared = watched();
    const runner = remoteCodeRunner(shared.transport);
    const inputs = Array.from({ length: 40 }, (_, i) => sample(i));
    const results = await Promise.all(inputs.map((x) => runner.run(x)));
    expect(results.every((r) => r.valid && r.score === 1)).toBe(true);
    expect(shared.stats.runs).toEqual([16, 16, 8]);
  });

  it("spreads the calls over several copies of the sandbox Worker, each result still in its place", async () => {
    const a = watched();
    const b = watched();
    const runner = remoteCodeRunner([a.transport, b.transport], { runsPerCall: 4 });
    const inputs = Array.from({ length: 32 }, (_, i) => sample(i));
    inputs[21] = { ...sample(21), tests: "console.assert(f(1) === 0)" };
    const results = await Promise.all(inputs.map((x) => runner.run(x)));
    expect(results.map((r) => [r.valid, r.score])).toEqual(inputs.map((_, i) => [true, i === 21 ? 0 : 1]));
    // Eight calls, sent to the copy with the fewest runs in flight: four each.
    expect([a.stats.calls, b.stats.calls]).toEqual([4, 4]);
  });

  it("sends the runs of a copy that does not answer to another copy, and passes over it afterwards", async () => {
    const a = watched();
    const b = watched({ down: true });
    const runner = remoteCodeRunner([a.transport, b.transport], { runsPerCall: 1 });
    const first = await Promise.all([sample(1), sample(2)].map((x) => runner.run(x)));
    // The second run went to copy b, which is down; alone, it went to b again (the copy with fewer runs in
    // flight), and after b's health check failed it was scored by a.
    for (const r of first) expect(r).toMatchObject({ valid: true, score: 1 });
    expect([a.stats.health, b.stats.health]).toEqual([0, 1]);
    expect([a.stats.calls, b.stats.calls]).toEqual([2, 2]);
    // Now b is passed over: the next runs all go to a, and b is not asked again.
    const next = await Promise.all([sample(3), sample(4), sample(5)].map((x) => runner.run(x)));
    for (const r of next) expect(r).toMatchObject({ valid: true, score: 1 });
    expect([a.stats.calls, b.stats.calls]).toEqual([5, 2]);
  });

  it("still scores 0 with the limit named when the copy that stopped a run answers its health check", async () => {
    const a = watched();
    const b = watched();
    const runner = remoteCodeRunner([a.transport, b.transport], { runsPerCall: 1 });
    const r = await runner.run(sample(1, `${KILLER}\nconst f = (x) => x + 1`));
    expect(r).toMatchObject({ valid: true, score: 0 });
    expect(r.reason).toMatch(/^time limit exceeded \(the sandbox isolate running this sample was stopped/);
    // Its call died, it was sent again alone to the next copy, died again there, and that copy answered.
    expect(a.stats.aborted + b.stats.aborted).toBe(2);
    expect(a.stats.health + b.stats.health).toBe(1);
  });

  it("costs only the sample that killed its call: the call's other runs are scored again on their own", async () => {
    const { transport, stats } = watched();
    const runner = remoteCodeRunner(transport, { runsPerCall: 4 });
    const inputs = Array.from({ length: 8 }, (_, i) => sample(i));
    inputs[2] = sample(2, `${KILLER}\nconst f = (x) => x + 2`);
    const results = await Promise.all(inputs.map((x) => runner.run(x)));
    expect(results[2]).toEqual({
      score: 0,
      valid: true,
      reason:
        "time limit exceeded (the sandbox isolate running this sample was stopped: The script will never generate a response (the isolate exceeded its CPU time limit))",
    });
    for (const [i, r] of results.entries())
      if (i !== 2) expect(r, `sample ${i}`).toMatchObject({ valid: true, score: 1 });
    // The first call (runs 0-3) died; its four runs went again alone, the killer died again; the second
    // call (runs 4-7) was never touched.
    expect(stats.runs).toEqual([4, 4, 1, 1, 1, 1]);
    expect(stats.aborted).toBe(2);
    expect(stats.health).toBe(1);
  });

  it("names the memory limit when the isolate was stopped for memory", async () => {
    const transport: SandboxTransport = {
      async fetch(url, init) {
        if (url.endsWith("/healthz")) return env.SANDBOX_JS.fetch(url, init);
        return new Response("Worker exceeded memory limit.", { status: 503 });
      },
    };
    const r = await remoteCodeRunner(transport).run(sample(1));
    expect(r).toMatchObject({ score: 0, valid: true });
    expect(r.reason).toMatch(/^memory limit exceeded \(the sandbox isolate running this sample was stopped: HTTP 503/);
  });

  it("answers valid: false when the sandbox Worker cannot be reached at all: the failure is not the sample's", async () => {
    const { transport } = watched({ down: true });
    const results = await Promise.all([sample(1), sample(2)].map((x) => remoteCodeRunner(transport).run(x)));
    for (const r of results)
      expect(r).toEqual({
        score: 0,
        valid: false,
        reason: "the sandbox Worker is not reachable: connection refused",
        error: { code: "SANDBOX_FAILED", message: "the sandbox Worker is not reachable: connection refused" },
      });
  });

  it("answers valid: false only when no copy answers, after asking each copy's health once", async () => {
    const a = watched({ down: true });
    const b = watched({ down: true });
    const runner = remoteCodeRunner([a.transport, b.transport], { runsPerCall: 1 });
    const r = await runner.run(sample(1));
    expect(r).toMatchObject({ score: 0, valid: false, error: { code: "SANDBOX_FAILED" } });
    expect([a.stats.health, b.stats.health]).toEqual([1, 1]);
    // Its first call, then the run alone on each copy in turn.
    expect(a.stats.calls + b.stats.calls).toBe(3);
  });

  it("checks a python grader's source on a copy that answers when the first one cannot be reached", async () => {
    let refused = 0;
    const down: SandboxTransport = {
      async fetch() {
        refused++;
        throw new Error("connection refused");
      },
    };
    const up: SandboxTransport = { fetch: (url, init) => env.SANDBOX_PYTHON.fetch(url, init) };
    const client = sandboxClient([down, up]);
    expect(await client.python.check("def grade(sample, item):\n    return 1.0\n")).toBeNull();
    expect(await client.python.check("def grade(sample, item)\n    return 1.0\n")).not.toBeNull();
    // The copy that refused was asked once, then passed over.
    expect(refused).toBe(1);
    await expect(sandboxClient([down]).python.check("def grade(s, i):\n    return 1\n")).rejects.toThrow(
      /could not check the source: connection refused/,
    );
  });

  it("scores a whole 1,024-sample batch through POST /v1/graders/run in the sandbox Worker", async () => {
    const samples = Array.from({ length: 1024 }, (_, i) => ({
      completion: `function f(x) { return x + ${i % 7} }`,
      item: { test: `console.assert(f(1) === ${(i % 7) + 1})` },
    }));
    const grader = { type: "code_tests", name: "t", language: "javascript", tests: "{{item.test}}", timeout_ms: 2_000 };
    const res = await call("POST", "/v1/graders/run", { body: { grader, samples } });
    expectStatus(res, 200);
    expect(res.json.summary).toMatchObject({ count: 1024, validCount: 1024, mean: 1 });
  });

  it("refuses a malformed call with a 400 and its own error, and answers its health check", async () => {
    const post = (worker: Fetcher, body: unknown) =>
      worker.fetch("https://sandbox/run", { method: "POST", body: JSON.stringify(body) });
    for (const worker of [env.SANDBOX_JS, env.SANDBOX_PYTHON]) {
      const health = await worker.fetch("https://sandbox/healthz");
      expect(await health.json()).toEqual({ ok: true });
    }
    const cases: [Fetcher, unknown, string][] = [
      [env.SANDBOX_JS, { runs: [] }, "runs must hold 1 to 32 runs"],
      [env.SANDBOX_PYTHON, { runs: Array.from({ length: 33 }, () => ({})) }, "runs must hold 1 to 32 runs"],
      [
        env.SANDBOX_JS,
        { runs: [{ op: "code", language: "ruby", code: "", timeoutMs: 1, memoryMb: 64 }] },
        "runs[0].language must be javascript or typescript in this sandbox Worker",
      ],
      // Each Worker hosts one interpreter: the main Worker never sends a run to the other one's.
      [
        env.SANDBOX_JS,
        { runs: [{ op: "code", language: "python", code: "x = 1", timeoutMs: 1, memoryMb: 64 }] },
        "runs[0].language must be javascript or typescript in this sandbox Worker",
      ],
      [
        env.SANDBOX_PYTHON,
        { runs: [{ op: "code", language: "javascript", code: "1", timeoutMs: 1, memoryMb: 64 }] },
        "runs[0].language must be python in this sandbox Worker",
      ],
      [
        env.SANDBOX_JS,
        {
          runs: [
            { op: "grade", source: "def grade(s, i): return 1", sample: {}, item: {}, timeoutMs: 1, memoryMb: 64 },
          ],
        },
        "runs[0]: python graders run in the Python sandbox Worker, not this one",
      ],
      [
        env.SANDBOX_PYTHON,
        { runs: [{ op: "code", language: "python", code: 1, timeoutMs: 1, memoryMb: 64 }] },
        "runs[0].code must be a string",
      ],
      [env.SANDBOX_JS, { runs: [{ op: "eval", code: "" }] }, 'runs[0].op must be "code" or "grade"'],
      [
        env.SANDBOX_PYTHON,
        {
          runs: [{ op: "grade", source: "def grade(s, i): return 1", sample: 1, item: {}, timeoutMs: 1, memoryMb: 64 }],
        },
        "runs[0].sample and item must be objects",
      ],
      [env.SANDBOX_PYTHON, { nope: 1 }, "the body must be { runs: [...] }"],
    ];
    for (const [worker, body, message] of cases) {
      const res = await post(worker, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(await res.json()).toEqual({ error: { code: "BAD_REQUEST", message } });
    }
    const check = await env.SANDBOX_JS.fetch("https://sandbox/check", {
      method: "POST",
      body: JSON.stringify({ source: "def grade(s, i): return 1" }),
    });
    expect(check.status).toBe(400);
    expect(await check.json()).toEqual({
      error: {
        code: "BAD_REQUEST",
        message: "python graders are checked by the Python sandbox Worker, not this one",
      },
    });
    const notJson = await env.SANDBOX_JS.fetch("https://sandbox/run", { method: "POST", body: "{" });
    expect(notJson.status).toBe(400);
    await notJson.body?.cancel();
  });

  it("sends each language to its own sandbox Worker: one interpreter per isolate", async () => {
    const grader = (language: string, tests: string) => ({
      type: "code_tests",
      name: language,
      language,
      tests,
      timeout_ms: 5_000,
    });
    const [js, py] = await Promise.all([
      call("POST", "/v1/graders/run", {
        body: {
          grader: grader("javascript", "console.assert(f(1) === 2)"),
          samples: [{ completion: "const f = (x) => x + 1" }, { completion: "const f = (x) => x" }],
        },
      }),
      call("POST", "/v1/graders/run", {
        body: {
          grader: grader("python", "assert f(1) == 2"),
          samples: [{ completion: "def f(x):\n    return x + 1" }, { completion: "def f(x):\n    return x" }],
          deadlineMs: 60_000,
        },
      }),
    ]);
    expectStatus(js, 200);
    expectStatus(py, 200);
    expect(js.json.results.map((r: { score: number }) => r.score)).toEqual([1, 0]);
    expect(py.json.results.map((r: { score: number }) => r.score)).toEqual([1, 0]);
    // Each Worker's /stats counts only its own engine's runs, and names no other engine.
    const after = await sandboxStats();
    expect(after.quickjs.builds).toBeGreaterThanOrEqual(1);
    expect(after.python.builds).toBeGreaterThanOrEqual(1);
    const jsStats = await (await env.SANDBOX_JS.fetch("https://sandbox/stats")).json<Record<string, unknown>>();
    const pyStats = await (await env.SANDBOX_PYTHON.fetch("https://sandbox/stats")).json<Record<string, unknown>>();
    expect(Object.keys(jsStats).sort()).toEqual(["quickjs", "served", "wasmBytes"]);
    expect(Object.keys(pyStats).sort()).toEqual(["python", "served", "wasmBytes"]);
  });
});
