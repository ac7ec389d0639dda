import { describe, expect, it } from "vitest";
import { nodeQuickJsSandbox } from "../../functions/lib/node-services";
import { scoreBatch, scoreOne } from "../../rewards/core/engine";
import type { CodeRunner } from "../../rewards/core/services";
import type { RewardResult, Sample } from "../../rewards/core/types";
import { buildGrader, validateGrader } from "../../rewards/graders/index";
import { createCodeRunner } from "../../rewards/verifiers/code";

const sandbox = nodeQuickJsSandbox();
const runner = createCodeRunner({ javascript: sandbox });
const quiet = { debug() {}, info() {}, warn() {} };
const context = (code: CodeRunner | null = runner) => ({
  fixtures: { get: async () => null },
  log: quiet,
  services: code ? { code } : {},
});

const grade = (config: Record<string, unknown>, deadlineMs?: number) => {
  const built = buildGrader({ type: "code_tests", name: "t", language: "javascript", ...config });
  return (completion: string, item: Record<string, unknown> = {}): Promise<RewardResult> =>
    scoreOne(built.score, { completion, item } satisfies Sample, context(), deadlineMs);
};

const addTests =
  "const testAdd = () => {\n  console.assert(add(1, 2) === 3)\n  console.assert(add(-1, 1) === 0)\n}\ntestAdd()\n";
const passed = { score: 1, valid: true, reason: "all tests passed", metrics: { tests: { score: 1 } } };
const zero = (reason: string) => ({ score: 0, valid: true, reason, metrics: { tests: { score: 0, reason } } });

describe("code_tests: test-code formats", () => {
  const humanEvalX = grade({ input: "{{item.prompt}}{{sample.output_text}}", tests: "{{item.test}}" });
  const item = { prompt: "/* add two numbers */\nconst add = (a, b) => {\n", test: addTests };

  it("passes a HumanEval-X sample (prompt + completion, console.assert tests)", async () => {
    expect(await humanEvalX("  return a + b\n}\n", item)).toEqual(passed);
  });

  it("fails a wrong solution: a failed console.assert fails the sample although it does not throw", async () => {
    expect(await humanEvalX("  return a - b\n}\n", item)).toEqual(
      zero("2 assertions failed; first: Assertion failed (at testAdd (tests.js:2:17))"),
    );
  });

  it("appends check(entry_point) to HumanEval-style tests that define check and never call it", async () => {
    const g = grade({
      tests: "{{item.test}}",
      entry_point: "{{item.entry_point}}",
    });
    const test =
      "let calls = 0\nfunction check(candidate) {\n  calls++\n  assert(calls === 1)\n  assert(candidate(2) === 4)\n}\n";
    expect(await g("function square(x) { return x * x }", { test, entry_point: "square" })).toEqual(passed);
    expect(await g("function square(x) { return x + x + 1 }", { test, entry_point: "square" })).toEqual(
      zero("1 assertion failed; first: The expression evaluated to a falsy value: false (at check (tests.js:5:9))"),
    );
    // Tests that call check themselves are not called twice (calls === 1 would fail).
    expect(
      await g("function square(x) { return x * x }", { test: `${test}check(square)\n`, entry_point: "square" }),
    ).toEqual(passed);
  });

  it("runs node:assert tests (MultiPL-E style require, var and const) with loose and strict comparisons", async () => {
    const g = grade({ tests: "{{item.test}}" });
    const code = "function pairs(n) { return new Array(n).fill(0).map((_, i) => [i, String(i)]) }";
    const constStyle =
      "const assert = require('node:assert');\nfunction test() {\n  let candidate = pairs;\n  assert.deepEqual(candidate(2), [[0, '0'], [1, '1']]);\n  assert.deepStrictEqual(candidate(1), [[0, '0']]);\n  assert.equal(candidate(0).length, '0');\n  assert.throws(() => candidate(-1), RangeError);\n}\ntest();\n";
    expect(await g(code, { test: constStyle })).toEqual(passed);
    const varStyle =
      "var assert = require('assert');\nassert.strict.equal(pairs(3).length, 3);\nassert.notDeepStrictEqual(pairs(1), [[0, 0]]);\n";
    expect(await g(code, { test: varStyle })).toEqual(passed);
    expect(await g(code, { test: "assert.deepStrictEqual(pairs(1), [[0, 0]])" })).toEqual(
      zero(
        "1 assertion failed; first: Expected values to be strictly deep-equal: [ [ 0, '0' ] ] vs [ [ 0, 0 ] ] (at <eval> (tests.js:1:23))",
      ),
    );
  });

  it("counts an assertion the code under test catches: a swallowed AssertionError still fails", async () => {
    const g = grade({ tests: "{{item.test}}" });
    const code = "function run(f) { try { f() } catch (e) {} return 'ok' }";
    expect(await g(code, { test: "run(() => assert.strictEqual(1, 2))" })).toEqual(
      zero("1 assertion failed; first: Expected values to be strictly equal: 1 !== 2 (at <anonymous> (tests.js:1:29))"),
    );
  });

  it("awaits tests that end in a promise and fails them when it rejects or never settles", async () => {
    const g = grade({ tests: "{{item.test}}" });
    const test = "(async () => { assert.strictEqual(await twice(2), 4) })()";
    expect(await g("const twice = async (x) => { await null; return 2 * x }", { test })).toEqual(passed);
    expect(await g("const twice = async (x) => x + 1", { test })).toEqual(
      zero("1 assertion failed; first: Expected values to be strictly equal: 3 !== 4 (at <anonymous> (tests.js:1:34))"),
    );
    expect(await g("const twice = (x) => new Promise(() => {})", { test })).toEqual(
      zero("the tests did not run to completion (the harness never saw them finish)"),
    );
  });

  it("scores a thrown error in the tests and a failure to load the code", async () => {
    const g = grade({ tests: "{{item.test}}" });
    expect(await g("const f = () => null.x", { test: "f()" })).toEqual(
      zero("the tests raised TypeError: cannot read property 'x' of null (at f (solution.js:1:21))"),
    );
    expect(await g("const f = (", { test: "f()" })).toEqual(
      zero("the code failed to load: SyntaxError: unexpected token in expression: '' (at solution.js:1:12)"),
    );
  });

  it("reports tests that require a module the sandbox lacks as the evaluator's failure", async () => {
    const g = grade({ tests: "{{item.test}}" });
    expect(await g("const f = () => 1", { test: "const _ = require('lodash'); f()" })).toEqual({
      score: 0,
      valid: false,
      reason: 'the tests require "lodash", which the sandbox does not provide',
      error: { code: "INVALID_INPUT", message: 'the tests require "lodash", which the sandbox does not provide' },
    });
  });
});

describe("code_tests: stdin/stdout cases", () => {
  const g = grade({ tests: "{{item.cases}}" });
  const cases = [
    { input: "2\n1 2 3\n", output: "12\n" },
    { input: "1\n5\n", output: "5" },
    { input: "0\n\n", output: "0" },
  ];

  it("scores the share of cases whose output matches, with every case in the metrics", async () => {
    const sum =
      "const k = Number(readline());\nconst xs = (readline() || '').split(' ').filter(Boolean).map(Number);\nprint(k * xs.reduce((a, b) => a + b, 0) + '   ');\n";
    expect(await g(sum, { cases })).toEqual({
      score: 1,
      valid: true,
      reason: "3 of 3 cases passed",
      metrics: { case_1: { score: 1 }, case_2: { score: 1 }, case_3: { score: 1 } },
    });
    const wrongOnZero = sum.replace("print(", "if (k === 0) throw new Error('empty'); console.log(");
    expect(await g(wrongOnZero, { cases })).toEqual({
      score: 2 / 3,
      valid: true,
      reason: "2 of 3 cases passed; case 3: the program raised Error: empty (at <eval> (solution.js:3:29))",
      metrics: {
        case_1: { score: 1 },
        case_2: { score: 1 },
        case_3: { score: 0, reason: "the program raised Error: empty (at <eval> (solution.js:3:29))" },
      },
    });
  });

  it("reads stdin with input() and readAll(), and says where the output differs", async () => {
    const lines = [{ input: "a\nb\n", output: "A\nB" }];
    expect(await g("print(input().toUpperCase()); print(readAll().toUpperCase())", { cases: lines })).toMatchObject({
      score: 1,
    });
    expect(await g("print(input().toUpperCase()); print('b')", { cases: lines })).toEqual({
      score: 0,
      valid: true,
      reason: '0 of 1 case passed; case 1: wrong output, line 2: expected "B", got "b"',
      metrics: { case_1: { score: 0, reason: 'wrong output, line 2: expected "B", got "b"' } },
    });
    expect(await g("input(); input(); input()", { cases: lines })).toMatchObject({
      score: 0,
      reason:
        "0 of 1 case passed; case 1: the program raised Error: EOF when reading a line (at <eval> (solution.js:1:24))",
    });
  });

  it("accepts cases as JSON text and in the APPS { inputs, outputs } shape", async () => {
    const echo = "print(readline())";
    expect((await g(echo, { cases: JSON.stringify([{ input: "x", output: "x" }]) })).score).toBe(1);
    expect((await g(echo, { cases: { inputs: ["x\n", "y\n"], outputs: ["x\n", "z\n"] } })).score).toBe(0.5);
  });

  it("formats console.log values the way Node prints them on one line", async () => {
    const out =
      "[ 1, 'a', { b: [ null, undefined ] } ] Map(1) { 1 => 2 } Set(1) { 'x' } -0 10n %j { j: 1 } 3.5 true\na=42 {\"x\":1}\n{} [] [ <1 empty item>, 1 ] { 'a-b': 1 } [ [Function: foo] ] e Symbol(s) null";
    const code =
      "console.log([1, 'a', { b: [null, undefined] }], new Map([[1, 2]]), new Set(['x']), -0, 10n, '%j', { j: 1 }, 3.5, true); console.log('%s=%d %j', 'a', 42, { x: 1 }); console.log({}, [], [, 1], { 'a-b': 1 }, [function foo() {}], new Error('e').message, Symbol('s'), null)";
    expect((await g(code, { cases: [{ input: "", output: out }] })).score).toBe(1);
  });
});

describe("code_tests: TypeScript, fences and configuration", () => {
  it("strips TypeScript types (and turns exports into globals) before running", async () => {
    const g = grade({ language: "typescript", tests: "{{item.test}}" });
    const code =
      "enum Op { Add, Sub }\ninterface P { a: number; b: number }\nexport function calc(p: P, op: Op = Op.Add): number {\n  return op === Op.Add ? p.a + p.b : p.a - p.b;\n}\n";
    expect(
      await g(code, {
        test: "assert.strictEqual(calc({ a: 2, b: 3 }), 5); assert.strictEqual(calc({ a: 2, b: 3 }, 1), -1)",
      }),
    ).toEqual(passed);
    // MultiPL-E's TypeScript tests are TypeScript too.
    const multiple =
      "declare var require: any;\nconst assert = require('node:assert');\nfunction test() {\n  let candidate = calc;\n  assert.deepEqual(candidate({ a: 1, b: 1 } as P), 2);\n}\ntest();\n";
    expect(await g(code, { test: multiple })).toEqual(passed);
    expect(await g("const f = (x: number => x", { test: "f(1)" })).toMatchObject({
      score: 0,
      valid: true,
      reason: expect.stringMatching(/^TypeScript syntax error: /),
    });
  });

  it("grades the fenced code block of a chatty completion", async () => {
    const g = grade({ tests: "console.assert(add(2, 2) === 4)" });
    expect(await g("Here you go:\n```python\nprint(1)\n```\n```js\nconst add = (a, b) => a + b\n```\nDone.")).toEqual(
      passed,
    );
  });

  it("answers python with a clear evaluator failure until a Python sandbox is plugged in", async () => {
    const g = grade({ language: "python", tests: "assert f() == 1" });
    expect(await g("def f(): return 1")).toEqual({
      score: 0,
      valid: false,
      reason: "python sandbox not available in this build",
      error: { code: "SANDBOX_FAILED", message: "python sandbox not available in this build" },
    });
  });

  it("is the evaluator's failure when the runtime has no code sandbox or the item lacks the tests", async () => {
    const built = buildGrader({ type: "code_tests", name: "t", language: "javascript", tests: "{{item.test}}" });
    const noSandbox = await scoreOne(built.score, { completion: "1", item: { test: "1" } }, context(null));
    expect(noSandbox).toMatchObject({ valid: false, error: { code: "SANDBOX_FAILED" } });
    const noTests = await scoreOne(built.score, { completion: "1", item: {} }, context());
    expect(noTests).toEqual({
      score: 0,
      valid: false,
      reason: "tests: template reference {{item.test}} is missing from the sample",
      error: { code: "INVALID_INPUT", message: "tests: template reference {{item.test}} is missing from the sample" },
    });
  });

  it("validates the config: limits, entry point and template references", () => {
    const base = { type: "code_tests", name: "t", language: "javascript", tests: "{{item.test}}" };
    expect(validateGrader(base)).toEqual({ valid: true, errors: [] });
    expect(validateGrader({ ...base, timeout_ms: 60_001 }).valid).toBe(false);
    expect(validateGrader({ ...base, memory_mb: 8 }).valid).toBe(false);
    expect(validateGrader({ ...base, language: "ruby" }).valid).toBe(false);
    expect(validateGrader({ ...base, entry_point: "not an identifier" })).toEqual({
      valid: false,
      errors: [{ path: ["entry_point"], message: "entry_point must be an identifier" }],
    });
    expect(validateGrader({ ...base, tests: "{{items.test}}" })).toEqual({
      valid: false,
      errors: [{ path: ["tests"], message: "unknown template reference {{items.test}}" }],
    });
  });
});

describe("code_tests: isolation and tampering", () => {
  const g = grade({ tests: "{{item.test}}" });

  it("starts every sample from a clean interpreter: patches and globals of one sample never reach the next", async () => {
    const poison =
      "Object.prototype.polluted = 1; Array.prototype.includes = () => true; Math.sqrt = () => 0; globalThis.leak = 1; var leakedVar = 2; const f = () => 1";
    const first = await g(poison, { test: "assert.strictEqual(f(), 1); assert.strictEqual(leak, 1)" });
    expect(first).toEqual(passed);
    const probe =
      "const f = () => [typeof leak, typeof leakedVar, ({}).polluted, Math.sqrt(4), [1].includes(2), typeof f]";
    expect(
      await g(probe, {
        test: "assert.deepStrictEqual(f(), ['undefined', 'undefined', undefined, 2, false, 'function'])",
      }),
    ).toEqual(passed);
  });

  it("keeps the tests' built-ins pristine when the code patches or rebinds them", async () => {
    const test = "console.assert(JSON.stringify(f()) === JSON.stringify([1, 2]))";
    for (const trick of [
      "JSON.stringify = () => 'same'",
      "globalThis.JSON = { stringify: () => 'same' }",
      "var JSON = { stringify: () => 'same' }",
      "try { Object.defineProperty(JSON, 'stringify', { value: () => 'same' }) } catch (e) {}",
      "try { Array.prototype.toString = () => 'same' } catch (e) {}",
      "console.assert = () => {}",
      "var console = { assert() {}, log() {} }",
      "globalThis.eval = () => undefined",
      "Object.defineProperty(globalThis, 'console', { value: { assert() {} } })",
    ]) {
      const r = await g(`${trick}; const f = () => [2, 1]`, { test });
      expect(r, trick).toEqual(zero("1 assertion failed; first: Assertion failed (at <eval> (tests.js:1:15))"));
    }
    // Assigning over a frozen built-in's own property is refused loudly (a TypeError), as in strict mode.
    expect(await g("Array.prototype.toString = () => 'same'; const f = () => [2, 1]", { test })).toEqual(
      zero(
        "the code failed to load: TypeError: Cannot assign to read only property 'toString' of a frozen built-in (at <eval> (solution.js:1:16))",
      ),
    );
  });

  it("keeps ordinary code that assigns over frozen built-in properties working", async () => {
    const code =
      "class MyError extends Error { constructor(m) { super(m); this.name = 'MyError' } }\nfunction P(x) { this.x = x }\nP.prototype.toString = function () { return 'P' + this.x }\nP.prototype.valueOf = function () { return this.x }\nconst f = () => [String(new P(1)), new P(2) + 1, new MyError('m').name, Object.create(Object.prototype, {}).toString === Object.prototype.toString]";
    expect(await g(code, { test: "assert.deepStrictEqual(f(), ['P1', 3, 'MyError', true])" })).toEqual(passed);
  });

  it("earns nothing for printing success, exiting early or reaching for the completion callback", async () => {
    const test = "console.assert(f() === 2)";
    expect(await g("console.log('all tests passed'); print('PASSED'); const f = () => 1", { test })).toEqual(
      zero("1 assertion failed; first: Assertion failed (at <eval> (tests.js:1:15))"),
    );
    expect(await g("const f = () => 1; process.exit(0)", { test })).toEqual(
      zero("the code failed to load: ReferenceError: 'process' is not defined (at <eval> (solution.js:1:20))"),
    );
    const callerProbe =
      "function f() { const c = f.caller; if (c) { try { c.arguments[4](undefined, c.arguments[5]) } catch (e) {} } for (const k of ['__assay_finish', '__assay_nonce', 'host', 'done']) { try { globalThis[k]() } catch (e) {} } return 1 }";
    expect(await g(callerProbe, { test })).toEqual(
      zero("1 assertion failed; first: Assertion failed (at <eval> (tests.js:1:15))"),
    );
  });

  it("exposes no host objects: fetch, require, process and WebAssembly are undefined inside", async () => {
    const probe =
      "const f = () => ['fetch', 'require', 'process', 'WebAssembly', 'caches', 'navigator', 'Deno', 'Bun'].map((k) => typeof globalThis[k]).concat([typeof Function('return this')().fetch, typeof this.constructor.constructor('return typeof process')()])";
    expect(
      await g(probe, { test: "assert.deepStrictEqual(f(), Array(10).fill('undefined').fill('string', 9))" }),
    ).toEqual(passed);
  });
});

describe("code_tests: limits", () => {
  const g = (limits: Record<string, number>) => grade({ tests: "{{item.test}}", ...limits });
  const test = "assert.strictEqual(f(), 1)";

  it("stops an infinite loop at the time limit and names it", async () => {
    expect(await g({ timeout_ms: 300 })("while (true) {}; const f = () => 1", { test })).toEqual(
      zero("time limit exceeded (300 ms)"),
    );
    expect(
      await g({ timeout_ms: 300 })("const f = () => { for (;;) { try { while (true) {} } catch (e) {} } }", { test }),
    ).toEqual(zero("time limit exceeded (300 ms)"));
  });

  it("stops runaway promise chains and timers at the time limit too", async () => {
    const chain = "Promise.resolve().then(function f() { return Promise.resolve().then(f) }); const f = () => 1";
    expect(await g({ timeout_ms: 300 })(chain, { test })).toEqual(zero("time limit exceeded (300 ms)"));
    expect(await g({ timeout_ms: 300 })("setInterval(() => {}, 1); const f = () => 1", { test })).toEqual(
      zero("time limit exceeded (300 ms)"),
    );
  });

  it("stops a memory bomb at the memory limit", async () => {
    expect(
      await g({ memory_mb: 32 })("const a = []; for (;;) a.push({ n: a.length }); const f = () => 1", { test }),
    ).toEqual(zero("memory limit exceeded (32 MB)"));
    expect(await g({ memory_mb: 32 })("let s = 'x'; for (;;) s += s; const f = () => 1", { test })).toEqual(
      zero("memory limit exceeded (32 MB)"),
    );
  });

  it("stops an output bomb at 1 MiB of output", async () => {
    expect(await g({})("for (;;) console.log('x'.repeat(1000)); const f = () => 1", { test })).toEqual(
      zero("output limit exceeded (1024 KiB)"),
    );
    expect(await g({})("console.error('y'.repeat(5e6)); const f = () => 1", { test })).toEqual(
      zero("output limit exceeded (1024 KiB)"),
    );
  });

  it("stops deep recursion at the stack limit", async () => {
    expect(await g({})("const f = () => f() + 1", { test })).toEqual(
      zero("stack limit exceeded (256 KiB): the recursion is too deep"),
    );
  });

  it("gives up with DEADLINE_EXCEEDED (not a score) when the deadline cuts the time limit short", async () => {
    const short = grade({ tests: "{{item.test}}", timeout_ms: 5_000 }, 300);
    expect(await short("while (true) {}; const f = () => 1", { test })).toMatchObject({
      valid: false,
      error: {
        code: "DEADLINE_EXCEEDED",
        message: expect.stringMatching(/^the deadline left \d+ ms of the 5000 ms time limit$/),
      },
    });
  });

  it("keeps scoring a batch after runaway samples, one result per sample in order", async () => {
    const built = buildGrader({ type: "code_tests", name: "t", language: "javascript", tests: test, timeout_ms: 300 });
    const samples: Sample[] = [
      { completion: "const f = () => 1", item: {} },
      { completion: "while (true) {}", item: {} },
      { completion: "const f = () => f()", item: {} },
      { completion: "const f = () => 2", item: {} },
      { completion: "const f = () => 1", item: {} },
    ];
    const out = await scoreBatch(built.score, samples, { context: context(), concurrency: 4 });
    expect(out.results.map((r) => [r.score, r.valid, r.reason])).toEqual([
      [1, true, "all tests passed"],
      [0, true, "time limit exceeded (300 ms)"],
      [0, true, "stack limit exceeded (256 KiB): the recursion is too deep"],
      [0, true, "1 assertion failed; first: Expected values to be strictly equal: 2 !== 1 (at <eval> (tests.js:1:19))"],
      [1, true, "all tests passed"],
    ]);
  });
});
