/**
 * JavaScript code execution: HumanEval-X canonical solutions (163; 162 needs js-md5) checked one after
 * another, in process through the code_tests verifier (QuickJS, each sample from the pristine heap snapshot
 * taken after the locked-down prelude, the nonce-checked harness) next to a Node child process per problem (`node -e` with the same
 * code and tests, console.assert made to set a failing exit code: the isolation many harnesses use).
 * Prints both rates, the ratio, per-sample p50/p99 and the cold start (first module load + first sample);
 * also the unmetered QuickJS binary side by side (the fuel metering's overhead) and the fuel spent per ms.
 * Run: npm run bench -- code-js   (or node_modules/.bin/tsx tests/bench/code-js.bench.ts)
 * BENCH_ROUNDS (default 3) repeats the in-process pass; the child-process pass runs once.
 */
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { ascending, percentile } from "../../rewards/core/stats";
import { createCodeRunner, FUEL_PER_MS, loadQuickJs, QuickJsSandbox, type Sandbox } from "../../rewards/verifiers/code";
import { nodeQuickJsWasm } from "../../rewards/verifiers/code/quickjs/node-wasm";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CORPUS = join(import.meta.dirname, "../../../shared/corpora/code/humaneval_js.jsonl.gz");

interface Problem {
  task_id: string;
  prompt: string;
  canonical_solution: string;
  test: string;
}

/** The p-th percentile of unsorted latencies. */
const percentileOf = (xs: number[], p: number) => percentile(ascending(xs), p);
const ms = (x: number) => `${x.toFixed(2)} ms`;

function childRun(code: string): Promise<boolean> {
  // console.assert does not throw in Node: make a failed one fail the process, as a harness must.
  const harness = `console.assert = (c) => { if (!c) process.exitCode = 1 };\n${code}`;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["-e", harness], { stdio: "ignore", timeout: 5_000 });
    child.on("exit", (status) => resolve(status === 0));
  });
}

async function main() {
  if (!existsSync(CORPUS)) {
    console.log(`skipped: ${CORPUS} is absent (the shared corpora live one level above the repo)`);
    return;
  }
  const problems = gunzipSync(readFileSync(CORPUS))
    .toString("utf8")
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Problem)
    .filter((p) => p.task_id !== "JavaScript/162");

  // In process: the verifier as the grader calls it, with the fuel-metered QuickJS binary (what the
  // platform runs) and, side by side, the package's unmetered binary (the cost of the metering).
  const passes = {
    metered: await inProcess(problems, nodeQuickJsWasm(true)),
    unmetered: await inProcess(problems, await unmeteredWithGlobals()),
  };
  for (let round = 0; round < ROUNDS; round++) {
    await passes.metered.round(round);
    await passes.unmetered.round(round);
  }
  const { lat, passed, coldMs, sandbox, fuelPerMs } = passes.metered;
  const inRate = passes.metered.rate();
  const plainRate = passes.unmetered.rate();

  // A Node child process per problem, one at a time.
  const childLat: number[] = [];
  let childPassed = 0;
  const c0 = performance.now();
  for (const p of problems) {
    const s0 = performance.now();
    if (await childRun(`${p.prompt}${p.canonical_solution}\n${p.test}`)) childPassed++;
    childLat.push(performance.now() - s0);
  }
  const childRate = problems.length / ((performance.now() - c0) / 1000);

  console.log(`HumanEval-X JavaScript, ${problems.length} canonical solutions (node ${process.version})`);
  console.log("");
  console.log("                          samples/s       p50        p99   passed");
  console.log(
    `QuickJS in process    ${inRate.toFixed(0).padStart(12)} ${ms(percentileOf(lat, 50)).padStart(10)} ${ms(percentileOf(lat, 99)).padStart(10)}   ${passed}/${problems.length}`,
  );
  console.log(
    `  unmetered binary    ${plainRate.toFixed(0).padStart(12)} ${ms(percentileOf(passes.unmetered.lat, 50)).padStart(10)} ${ms(percentileOf(passes.unmetered.lat, 99)).padStart(10)}   ${passes.unmetered.passed}/${problems.length}`,
  );
  console.log(
    `node child process   ${childRate.toFixed(0).padStart(13)} ${ms(percentileOf(childLat, 50)).padStart(10)} ${ms(percentileOf(childLat, 99)).padStart(10)}   ${childPassed}/${problems.length}`,
  );
  console.log("");
  console.log(`ratio (in process / child process): ${(inRate / childRate).toFixed(1)}x`);
  console.log(
    `fuel metering overhead (unmetered / metered samples per s): ${((plainRate / inRate - 1) * 100).toFixed(1)}%`,
  );
  const f = [...fuelPerMs].sort((a, b) => a - b);
  console.log(
    `fuel per ms of wall time over the samples: p10 ${percentile(f, 10).toFixed(0)}, median ${percentile(f, 50).toFixed(0)}, p90 ${percentile(f, 90).toFixed(0)} (FUEL_PER_MS = ${FUEL_PER_MS})`,
  );
  console.log(
    `cold start: first module load ${ms(sandbox.stats.coldStartMs ?? 0)}, load + first sample ${ms(coldMs)}; module builds ${sandbox.stats.builds}`,
  );
  console.log(
    `heap snapshot: ${(sandbox.stats.snapshotBytes / 1024).toFixed(0)} KiB written back per sample, ${sandbox.stats.restores} restores (unmetered: ${(passes.unmetered.sandbox.stats.snapshotBytes / 1024).toFixed(0)} KiB)`,
  );
}

/**
 * The package's unmetered binary with its stack pointer exported, as scripts/meter-wasm.mjs exports it in
 * the metered one: the sandbox then restores its snapshot the same way in both, and the difference is the
 * metering alone.
 */
async function unmeteredWithGlobals(): Promise<WebAssembly.Module> {
  const { exportMutableGlobals, readForRewrite } = await import("../../scripts/meter-wasm.mjs");
  const path = createRequire(import.meta.url).resolve("@jitl/quickjs-wasmfile-release-sync/wasm");
  const m = readForRewrite(readFileSync(path));
  exportMutableGlobals(m);
  const bytes = m.emitBinary();
  m.dispose();
  return new (WebAssembly.Module as unknown as new (b: Uint8Array) => WebAssembly.Module)(bytes);
}

/** One in-process pass over the problems with the given QuickJS binary, a round at a time. */
async function inProcess(problems: Problem[], wasm: WebAssembly.Module) {
  const t0 = performance.now();
  const sandbox = new QuickJsSandbox({ load: (memory) => loadQuickJs(wasm, memory) });
  const fuelPerMs: number[] = [];
  // Records each run's fuel and wall time (the calibration of FUEL_PER_MS), passing outcomes through.
  const recording: Sandbox = {
    async run(job, limits) {
      const o = await sandbox.run(job, limits);
      if (o.ms > 0.5) fuelPerMs.push(o.ticks / o.ms);
      return o;
    },
  };
  const runner = createCodeRunner({ javascript: recording });
  const first = problems[0]!;
  await runner.run({
    language: "javascript",
    code: first.prompt + first.canonical_solution,
    tests: first.test,
    timeoutMs: 5_000,
    memoryMb: 256,
  });
  const coldMs = performance.now() - t0;
  fuelPerMs.length = 0;
  const lat: number[] = [];
  let wall = 0;
  let rounds = 0;
  const pass = {
    lat,
    passed: 0,
    coldMs,
    sandbox,
    fuelPerMs,
    rate: () => (problems.length * rounds) / (wall / 1000),
    async round(round: number) {
      const r0 = performance.now();
      for (const p of problems) {
        const s0 = performance.now();
        const r = await runner.run({
          language: "javascript",
          code: p.prompt + p.canonical_solution,
          tests: p.test,
          timeoutMs: 5_000,
          memoryMb: 256,
        });
        lat.push(performance.now() - s0);
        if (round === 0 && r.score === 1) pass.passed++;
      }
      wall += performance.now() - r0;
      rounds++;
    },
  };
  return pass;
}

await main();
