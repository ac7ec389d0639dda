import { describe, expect, it } from "vitest";
import { call, expectStatus, expectHealthy as healthy, runGrader as run, sandboxStats } from "./helpers";

const js = (extra: Record<string, unknown> = {}) => ({
  type: "code_tests",
  name: "js",
  language: "javascript",
  tests: "{{item.test}}",
  ...extra,
});
const test = "const testAdd = () => {\n  console.assert(add(1, 2) === 3)\n}\ntestAdd()\n";

describe("POST /v1/graders/run with a code_tests grader", () => {
  it("scores a batch of JavaScript completions in order, runaway ones at their limit, and keeps serving", async () => {
    const out = await run(js({ timeout_ms: 500 }), [
      { completion: "const add = (a, b) => a + b", item: { test } },
      { completion: "const add = (a, b) => { while (true) {} }", item: { test } },
      { completion: "const add = (a, b) => a * b", item: { test } },
      { completion: "for (;;) console.log('spam'.repeat(100))", item: { test } },
      { completion: "```js\nfunction add(a, b) { return b + a }\n```", item: { test } },
    ]);
    expect(out.grader).toEqual({ type: "code_tests", ref: "code_tests" });
    expect(out.results).toEqual([
      { score: 1, valid: true, reason: "all tests passed", metrics: { tests: { score: 1 } } },
      {
        score: 0,
        valid: true,
        reason: "time limit exceeded (500 ms)",
        metrics: { tests: { score: 0, reason: "time limit exceeded (500 ms)" } },
      },
      {
        score: 0,
        valid: true,
        reason: "1 assertion failed; first: Assertion failed (at testAdd (tests.js:2:17))",
        metrics: {
          tests: { score: 0, reason: "1 assertion failed; first: Assertion failed (at testAdd (tests.js:2:17))" },
        },
      },
      {
        score: 0,
        valid: true,
        reason: "output limit exceeded (1024 KiB)",
        metrics: { tests: { score: 0, reason: "output limit exceeded (1024 KiB)" } },
      },
      { score: 1, valid: true, reason: "all tests passed", metrics: { tests: { score: 1 } } },
    ]);
    expect(out.summary).toMatchObject({ count: 5, validCount: 5, mean: 0.4 });
    await healthy();
  });

  it("gives each sample of a batch a clean interpreter", async () => {
    const out = await run(js(), [
      {
        completion:
          "globalThis.leak = 1; try { Object.prototype.polluted = 1 } catch (e) {}; const add = (a, b) => a + b",
        item: { test },
      },
      {
        completion: "const add = (a, b) => (typeof leak === 'undefined' && ({}).polluted === undefined ? a + b : -1)",
        item: { test },
      },
    ]);
    expect(out.results.map((r) => r.score)).toEqual([1, 1]);
  });

  it("scores a sample that overflows the host stack 0 at the stack limit (its doing, not a skip), rebuilds the module, and scores the next samples normally", async () => {
    const { broken, builds } = (await sandboxStats()).quickjs;
    const out = await run(js(), [
      {
        completion: "let v = []; for (let i = 0; i < 1e5; i++) v = [v]; JSON.stringify(v); const add = () => 0",
        item: { test },
      },
      { completion: "const add = (a, b) => a + b", item: { test } },
    ]);
    const reason = "stack limit exceeded (256 KiB): the recursion is too deep";
    expect(out.results[0]).toEqual({ score: 0, valid: true, reason, metrics: { tests: { score: 0, reason } } });
    expect(out.results[1]).toMatchObject({ score: 1, valid: true });
    expect((await sandboxStats()).quickjs).toMatchObject({ broken: broken + 1, builds: builds + 1 });
    await healthy();
  });

  it("runs TypeScript, and stdin/stdout cases with partial credit", async () => {
    const ts = await run(js({ language: "typescript", tests: "assert.deepStrictEqual(pair<number>(1), [1, 1])" }), [
      { completion: "function pair<T>(x: T): [T, T] { return [x, x] as [T, T] }", item: {} },
    ]);
    expect(ts.results[0]).toMatchObject({ score: 1, valid: true });
    const cases = [
      { input: "1 2\n", output: "3\n" },
      { input: "10 -3\n", output: "7\n" },
      { input: "0 0\n", output: "0\n" },
    ];
    const stdio = await run(js({ tests: cases }), [
      { completion: "const [a, b] = readline().split(' ').map(Number); print(a > 0 && b > 0 ? a + b : 0)", item: {} },
    ]);
    expect(stdio.results[0]).toEqual({
      score: 2 / 3,
      valid: true,
      reason: '2 of 3 cases passed; case 2: wrong output, line 1: expected "7", got "0"',
      metrics: {
        case_1: { score: 1 },
        case_2: { score: 0, reason: 'wrong output, line 1: expected "7", got "0"' },
        case_3: { score: 1 },
      },
    });
  });

  it("runs Python in the same grader type now that the Python sandbox is plugged in", async () => {
    const out = await run(js({ language: "python", tests: "assert f() == 1" }), [
      { completion: "def f(): return 1", item: {} },
    ]);
    expect(out.results[0]).toEqual({
      score: 1,
      valid: true,
      reason: "all tests passed",
      metrics: { tests: { score: 1 } },
    });
  });

  it("refuses an invalid code_tests config with 400 and its issues", async () => {
    const res = await call("POST", "/v1/graders/run", {
      body: { grader: js({ timeout_ms: 120_000 }), samples: [{ completion: "1", item: {} }] },
    });
    expectStatus(res, 400);
    expect(res.json.error).toMatchObject({
      code: "BAD_REQUEST",
      issues: [expect.objectContaining({ path: ["grader", "timeout_ms"] })],
    });
  });
});
