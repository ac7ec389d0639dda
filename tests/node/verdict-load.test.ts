// Verdicts are a function of the sample and its limits, not of the machine's load: the sandboxes' time
// limit is fuel (scripts/meter-wasm.mjs), never the clock. A batch with samples just under and just over
// their time limits is scored on a quiet machine, then again with every core kept busy by child processes.
import { type ChildProcess, spawn } from "node:child_process";
import { availableParallelism } from "node:os";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nodePythonSandbox, nodeQuickJsSandbox } from "../../functions/lib/node-services";
import type { CodeRunInput } from "../../rewards/core/services";
import { createCodeRunner, type QuickJsSandbox, type RunLimits } from "../../rewards/verifiers/code";
import { FUEL_PER_MS as PY_FUEL_PER_MS, type PyodideSandbox } from "../../rewards/verifiers/code/python/sandbox";
import { FUEL_PER_MS as JS_FUEL_PER_MS } from "../../rewards/verifiers/code/quickjs/sandbox";

const js = nodeQuickJsSandbox();
const py = nodePythonSandbox();
const runner = createCodeRunner({ javascript: js, python: py });

const JS_CODE = "let s = 0\nfor (let i = 0; i < 3e6; i++) s += i % 7\nconst add = (a, b) => a + b";
const JS_TESTS = "console.assert(add(2, 3) === 5)";
const PY_CODE = "s = 0\nfor i in range(300000):\n    s += i % 7\ndef add(a, b):\n    return a + b\n";
const PY_TESTS = "assert add(2, 3) == 5";

let batch: CodeRunInput[] = [];

/** The fuel a run spends with no limit in sight, read from the sandbox itself. */
async function fuelOf(sandbox: QuickJsSandbox | PyodideSandbox, code: string, tests: string): Promise<number> {
  const limits: RunLimits = { timeMs: 60_000, memoryBytes: 64 * 2 ** 20, outputBytes: 1 << 20 };
  const o = await sandbox.run({ kind: "tests", code, tests }, limits);
  expect(o.completed, JSON.stringify(o)).toBe(true);
  return o.ticks;
}

/** Time limits 10% above and 10% below what the sample needs. */
function around(fuel: number, perMs: number): [under: number, over: number] {
  const ms = fuel / perMs;
  return [Math.ceil(ms * 1.1), Math.max(1, Math.floor(ms * 0.9))];
}

async function scoreAll() {
  const out = [];
  for (const input of batch) out.push(await runner.run(input));
  return out;
}

let busy: ChildProcess[] = [];

beforeAll(async () => {
  const jsFuel = await fuelOf(js, JS_CODE, JS_TESTS);
  const pyFuel = await fuelOf(py, PY_CODE, PY_TESTS);
  const [jsUnder, jsOver] = around(jsFuel, JS_FUEL_PER_MS);
  const [pyUnder, pyOver] = around(pyFuel, PY_FUEL_PER_MS);
  const base = { memoryMb: 64 };
  batch = [
    { ...base, language: "javascript", code: JS_CODE, tests: JS_TESTS, timeoutMs: jsUnder },
    { ...base, language: "javascript", code: JS_CODE, tests: JS_TESTS, timeoutMs: jsOver },
    { ...base, language: "python", code: PY_CODE, tests: PY_TESTS, timeoutMs: pyUnder },
    { ...base, language: "python", code: PY_CODE, tests: PY_TESTS, timeoutMs: pyOver },
  ];
  console.log(
    `fuel: JavaScript ${jsFuel} (limits ${jsUnder} / ${jsOver} ms), Python ${pyFuel} (limits ${pyUnder} / ${pyOver} ms)`,
  );
}, 120_000);

afterAll(() => {
  for (const c of busy) c.kill("SIGKILL");
});

describe("verdicts under CPU load", () => {
  it("gives samples just under and just over their time limits the same verdicts on a quiet and on a saturated machine", async () => {
    const quiet = await scoreAll();
    expect(quiet.map((r) => [r.valid, r.score])).toEqual([
      [true, 1],
      [true, 0],
      [true, 1],
      [true, 0],
    ]);
    expect(quiet[1]!.reason).toBe(`time limit exceeded (${batch[1]!.timeoutMs} ms)`);
    expect(quiet[3]!.reason).toBe(`time limit exceeded (${batch[3]!.timeoutMs} ms)`);

    // Two busy processes per core, for the length of the second pass only.
    busy = Array.from({ length: 2 * availableParallelism() }, () =>
      spawn(process.execPath, ["-e", "for (;;) {}"], { stdio: "ignore" }),
    );
    try {
      const loaded = await scoreAll();
      expect(loaded).toEqual(quiet);
    } finally {
      for (const c of busy) c.kill("SIGKILL");
      busy = [];
    }
  }, 180_000);
});
