/**
 * How soon a run is stopped at its time limit: every case of the abuse corpora
 * (tests/fixtures/code-abuse/*.jsonl) that ends in "time limit exceeded" (endless loops, long work inside
 * native builtins, waits, busy waits on the clock), run in process through the code_tests verifier, and
 * the wall time until its verdict divided by its `timeout_ms`. Side by side: the binaries the platform
 * runs (fuel charged at every loop back-edge and at the entry of every function that calls another) and,
 * as the peer, the same binaries metered at loop back-edges alone (the previous build of
 * scripts/meter-wasm.mjs, written in memory here), where call-heavy native work such as `sum(range(n))`
 * ran long past its limit. The issue's bar is 2x.
 * Run: npm run bench -- limits
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createCodeRunner, loadQuickJs, QuickJsSandbox } from "../../rewards/verifiers/code";
import { nodePyodideAssets } from "../../rewards/verifiers/code/python/node-assets";
import { PyodideSandbox } from "../../rewards/verifiers/code/python/sandbox";
import type { AbuseCase } from "../workers/code-abuse";

const FIXTURES = join(import.meta.dirname, "../fixtures/code-abuse");

const compile = (bytes: Uint8Array) =>
  new (WebAssembly.Module as unknown as new (b: Uint8Array) => WebAssembly.Module)(bytes);

async function meteredBinaries(entries: boolean) {
  const { TARGETS, meter } = await import("../../scripts/meter-wasm.mjs");
  const build = (name: "quickjs" | "pyodide") => {
    const t = TARGETS[name];
    return compile(meter(readFileSync(t.input()), { entries, exportGlobals: "exportGlobals" in t }).bytes);
  };
  return { quickjs: build("quickjs"), pyodide: build("pyodide") };
}

function timeCases(file: string): AbuseCase[] {
  return readFileSync(join(FIXTURES, file), "utf8")
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as AbuseCase)
    .filter((c) => c.expect.reason?.includes("time limit"));
}

async function measure(wasm: { quickjs: WebAssembly.Module; pyodide: WebAssembly.Module }, cases: AbuseCase[]) {
  const python = new PyodideSandbox({
    assets: async () => ({ ...(await nodePyodideAssets(true)), wasm: wasm.pyodide }),
  });
  const javascript = new QuickJsSandbox({ load: (memory) => loadQuickJs(wasm.quickjs, memory) });
  const runner = createCodeRunner({ javascript, python });
  // Boots both interpreters before anything is timed (Pyodide's boot is 2.5 s).
  for (const [language, tests] of [
    ["javascript", "console.assert(true)"],
    ["python", "pass"],
  ] as const)
    await runner.run({ language, code: "x = 1", tests, timeoutMs: 5_000, memoryMb: 64 });
  const out = new Map<string, { ratio: number; reason: string }>();
  for (const c of cases) {
    const timeoutMs = c.timeout_ms ?? 1_000;
    const t0 = performance.now();
    const r = await runner.run({
      language: c.language,
      code: c.code,
      tests: c.tests,
      timeoutMs,
      memoryMb: c.memory_mb ?? 64,
    });
    out.set(c.id, { ratio: (performance.now() - t0) / timeoutMs, reason: r.reason ?? "" });
  }
  return out;
}

async function main() {
  const cases = [...timeCases("js.jsonl"), ...timeCases("python.jsonl")];
  const platform = await measure(await meteredBinaries(true), cases);
  const loopsOnly = await measure(await meteredBinaries(false), cases);
  console.log(`${cases.length} time-limit cases of the abuse corpora, wall time until the verdict / timeout_ms`);
  console.log("case                                  loops + calls   loops only (peer)   verdict (loops + calls)");
  for (const c of cases) {
    const a = platform.get(c.id)!;
    const b = loopsOnly.get(c.id)!;
    const verdict = a.reason.includes("time limit") ? "time limit" : `UNEXPECTED: ${a.reason.slice(0, 60)}`;
    console.log(`${c.id.padEnd(38)}${a.ratio.toFixed(2).padStart(13)}${b.ratio.toFixed(2).padStart(20)}   ${verdict}`);
  }
  const worst = (m: typeof platform) => Math.max(...[...m.values()].map((v) => v.ratio));
  console.log(
    `worst case: ${worst(platform).toFixed(2)}x its limit with calls charged, ${worst(loopsOnly).toFixed(2)}x with loops alone (ratio ${(worst(loopsOnly) / worst(platform)).toFixed(2)})`,
  );
}

await main();
// A booted Pyodide keeps timers of its own alive; the bench is done.
process.exit(0);
