import { describe, expect, it } from "vitest";
import { loadQuickJs, QuickJsSandbox, type RunLimits, type RunOutcome } from "../../rewards/verifiers/code";
import { nodeQuickJsWasm } from "../../rewards/verifiers/code/quickjs/node-wasm";
import { probeBreak, restoreSnapshot, takeSnapshot } from "../../rewards/verifiers/code/quickjs/snapshot";

const limits: RunLimits = { timeMs: 2_000, memoryBytes: 256 * 2 ** 20, outputBytes: 1024 * 1024 };
const tests = (code: string, t: string) => ({ kind: "tests" as const, code, tests: t });
/** The parts of an outcome that are the verdict (fuel and wall time vary with the sample). */
const verdict = (o: RunOutcome) => ({
  completed: o.completed,
  limit: o.limit,
  loadError: o.loadError,
  runError: o.runError,
  asyncErrors: o.asyncErrors,
  assertionFailures: o.assertionFailures,
  assertionMessages: o.assertionMessages,
  stdout: o.stdout,
});
const clean = {
  completed: true,
  limit: undefined,
  loadError: undefined,
  runError: undefined,
  asyncErrors: [],
  assertionFailures: 0,
  assertionMessages: [],
  stdout: "",
};

describe("QuickJS heap snapshot", () => {
  it("writes the memory back byte for byte and zeroes the heap a sample grew past the snapshot's break", async () => {
    const memory = new WebAssembly.Memory({ initial: 256, maximum: 32_768 });
    const { module, globals } = await loadQuickJs(nodeQuickJsWasm(), memory);
    expect(globals.length).toBe(1); // the metered binary exports its stack pointer
    const probe = probeBreak(memory, Number(globals[0]!.value));
    const rt = module.newRuntime();
    const ctx = rt.newContext();
    ctx.unwrapResult(ctx.evalCode("globalThis.kept = { n: 41 }")).dispose();
    const snap = takeSnapshot(memory, globals, probe);
    // The layout was confirmed and the break found: only static data and the heap are copied, not the stack.
    expect(snap.breakAddress).toBeDefined();
    expect(snap.low.length).toBeGreaterThan(0);
    expect(snap.heapStart).toBe(Number(globals[0]!.value));
    expect(snap.bytes).toBeLessThan(2 * 2 ** 20);

    // A sample that patches the realm and allocates ~64 MiB (the heap grows past the snapshot's break).
    ctx
      .unwrapResult(
        ctx.evalCode(
          "kept.n = 0; globalThis.leak = 1; Object.prototype.polluted = 1; Symbol.for('registered');" +
            "globalThis.big = []; for (let i = 0; i < 64; i++) big.push(new Uint8Array(2 ** 20).fill(171));",
        ),
      )
      .dispose();
    const grownBreak = new DataView(memory.buffer).getInt32(snap.breakAddress!, true);
    expect(grownBreak).toBeGreaterThan(snap.breakAtSnapshot + 64 * 2 ** 20);

    restoreSnapshot(snap);
    const u8 = new Uint8Array(memory.buffer);
    expect(Buffer.from(u8.subarray(0, snap.low.length)).equals(Buffer.from(snap.low))).toBe(true);
    expect(
      Buffer.from(u8.subarray(snap.heapStart, snap.heapStart + snap.high.length)).equals(Buffer.from(snap.high)),
    ).toBe(true);
    expect(u8.subarray(snap.breakAtSnapshot, grownBreak).every((b) => b === 0)).toBe(true);
    expect(globals[0]!.value).toBe(snap.globalValues[0]);

    // The same runtime and context work on, in the state of the snapshot.
    const probeResult = ctx.unwrapResult(ctx.evalCode("[kept.n, typeof leak, ({}).polluted, typeof big].join(',')"));
    expect(ctx.getString(probeResult)).toBe("41,undefined,,undefined");
  });

  it("runs ordinary samples on one module: no rebuild, every run after the first starts from the snapshot", async () => {
    const sandbox = new QuickJsSandbox({ load: (memory) => loadQuickJs(nodeQuickJsWasm(), memory) });
    for (let i = 0; i < 5; i++) {
      const o = await sandbox.run(tests(`const f = () => ${i}`, `console.assert(f() === ${i})`), limits);
      expect(verdict(o)).toEqual(clean);
    }
    expect(sandbox.stats).toMatchObject({ builds: 1, dropped: 0, broken: 0, restores: 4 });
    expect(sandbox.stats.snapshotBytes).toBeGreaterThan(0);
  });

  it("gives no sample the state a previous one left: globals, prototypes, the prelude's objects, timers, registries", async () => {
    const sandbox = new QuickJsSandbox({ load: (memory) => loadQuickJs(nodeQuickJsWasm(), memory) });
    // What the model's code can reach and change despite the lockdown: its own globals, module.exports,
    // the assert library's AssertionError class, the global symbol registry, timers, pending promises.
    const poison = [
      "globalThis.leak = 1; var leakedVar = 2; module.exports.leaked = 3;",
      "try { assert.AssertionError.prototype.poisoned = 1 } catch (e) {}",
      "Symbol.for('assay-leak'); globalThis.held = new Array(1e5).fill('x');",
      "setTimeout(() => { globalThis.late = 1 }, 1e9); new Promise(() => {});",
      "console.log('first');",
      "const f = () => 1;",
    ].join("\n");
    const first = await sandbox.run(tests(poison, "console.assert(f() === 1 && leak === 1)"), limits);
    expect(verdict(first)).toEqual({ ...clean, stdout: "first\n" });

    const probe =
      "const f = () => [typeof leak, typeof leakedVar, module.exports.leaked, assert.AssertionError.prototype.poisoned, typeof late, typeof held];";
    const second = await sandbox.run(
      tests(
        probe,
        "assert.deepStrictEqual(f(), ['undefined', 'undefined', undefined, undefined, 'undefined', 'undefined'])",
      ),
      limits,
    );
    expect(verdict(second)).toEqual(clean);
    expect(sandbox.stats).toMatchObject({ builds: 1, dropped: 0, restores: 1 });
  });

  it("undoes a run stopped at a limit by the next restore: same verdict and fuel after it, a rebuild only after a refused heap growth", async () => {
    const sandbox = new QuickJsSandbox({ load: (memory) => loadQuickJs(nodeQuickJsWasm(), memory) });
    const sample = tests(
      "const sum = (n) => { let s = 0; for (let i = 0; i < n; i++) s += i; return s }",
      "console.assert(sum(1000) === 499500); console.log(sum(10))",
    );
    const alone = await sandbox.run(sample, limits);
    expect(verdict(alone)).toEqual({ ...clean, stdout: "45\n" });
    const runaways: [string, RunLimits, string][] = [
      // This one reaches the WASM heap cap, and a refused heap growth costs a rebuild, by design (the
      // module is left mid-allocation in C); every other limit is undone by the restore alone.
      ["globalThis.x = []; for (;;) x.push('y'.repeat(1024))", { ...limits, memoryBytes: 32 * 2 ** 20 }, "memory"],
      ["globalThis.x = 1; while (true) {}", { ...limits, timeMs: 50 }, "time"],
      [
        "globalThis.x = 1; JSON.parse('[' + '1,'.repeat(3e6) + '1]').sort((a, b) => b - a); while (true) {}",
        { ...limits, timeMs: 50 },
        "time",
      ],
      ["for (;;) console.log('z'.repeat(4096))", limits, "output"],
      ["const deep = (n) => deep(n + 1) + 1; deep(0)", limits, "stack"],
    ];
    for (const [code, l, limit] of runaways) {
      const stopped = await sandbox.run(tests(code, ""), l);
      expect(stopped.limit, code).toBe(limit);
      const after = await sandbox.run(sample, limits);
      expect(verdict(after), code).toEqual(verdict(alone));
      // The same work costs the same fuel as from the fresh module.
      expect(after.ticks, code).toBe(alone.ticks);
    }
    expect(sandbox.stats).toMatchObject({ builds: 2, dropped: 1, broken: 0 });
  });
});
