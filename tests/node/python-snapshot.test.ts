// The Python sandbox's heap snapshot (rewards/verifiers/code/python/snapshot.ts): kept as the heap's
// non-zero stretches only, it must still write back every byte outside the dead C stack.
import { describe, expect, it } from "vitest";
import { nodePythonSandbox } from "../../functions/lib/node-services";
import { createCodeRunner } from "../../rewards/verifiers/code";

describe("the Python heap snapshot", () => {
  it("holds less than the heap and writes the heap back byte for byte after runs that dirtied and grew it", async () => {
    const sandbox = nodePythonSandbox();
    const runner = createCodeRunner({ python: sandbox });
    const run = (code: string) =>
      runner.run({ language: "python", code, tests: "pass", timeoutMs: 5_000, memoryMb: 64 });
    expect(await run("x = 1")).toMatchObject({ valid: true, score: 1 });
    const engine = await sandbox.ready();
    // (Internals, read for the test: the heap, and the dead stack the restore leaves alone.)
    const internal = engine as unknown as {
      ex: { memory: WebAssembly.Memory };
      snap: { deadStackFrom: number; deadStackTo: number };
    };
    engine.restore();
    const pristine = new Uint8Array(internal.ex.memory.buffer).slice();
    expect(engine.snapshotBytes).toBeLessThan(engine.baseBytes * 0.8);
    expect(engine.snapshotBytes).toBeGreaterThan(0);

    // Dirties the heap all over (objects, strings, a bytearray that grows it) and leaves it so.
    const out = await run(
      "keep = [str(i) * 50 for i in range(20000)]\nb = bytearray(8 * 2**20)\nb[::4096] = b'x' * len(b[::4096])",
    );
    expect(out).toMatchObject({ valid: true, score: 1 });
    expect(new Uint8Array(internal.ex.memory.buffer).length).toBeGreaterThan(pristine.length);
    engine.restore();
    const heap = new Uint8Array(internal.ex.memory.buffer);
    const { deadStackFrom, deadStackTo } = internal.snap;
    const differs = (from: number, to: number) => {
      for (let i = from; i < to; i++) if (heap[i] !== pristine[i]) return i;
      return -1;
    };
    expect(differs(0, deadStackFrom)).toBe(-1);
    expect(differs(deadStackTo, pristine.length)).toBe(-1);
    // The grown tail reads as zeros again.
    expect(heap.subarray(pristine.length).every((b) => b === 0)).toBe(true);
    // And the interpreter still works from there.
    expect(await run("import json\nassert json.loads('[1]') == [1]")).toMatchObject({ valid: true, score: 1 });
  });

  it("never lets the heap grow past the snapshot's size plus the memory limit, Emscripten's overgrowth included", async () => {
    const sandbox = nodePythonSandbox();
    const runner = createCodeRunner({ python: sandbox });
    for (const memoryMb of [16, 64]) {
      const r = await runner.run({
        language: "python",
        code: "a = []\nwhile True:\n    a.append(bytearray(10**6))",
        tests: "pass",
        timeoutMs: 5_000,
        memoryMb,
      });
      expect(r.reason).toContain("memory limit exceeded");
      const engine = await sandbox.ready();
      // Without the ceiling Emscripten grew a 64 MB run's heap to 108 MiB (1.2x steps past what was asked).
      expect(engine.heapBytes).toBeLessThanOrEqual(engine.baseBytes + memoryMb * 2 ** 20);
      expect(engine.heapBytes).toBeGreaterThan(engine.baseBytes + (memoryMb - 8) * 2 ** 20);
    }
  });
});
