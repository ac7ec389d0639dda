/**
 * Python code execution: the 164 HumanEval canonical solutions checked one after another, in process
 * through the code_tests verifier (Pyodide in Node, the same sandbox code workerd runs: every sample
 * starts from the restored snapshot, so nothing one sample did reaches the next) next to a `python3`
 * subprocess per problem (prompt + solution + tests + check(entry_point), the isolation many harnesses
 * use). Prints both rates, the ratio, per-sample p50/p99 and the cold start (boot + snapshot + first
 * sample).
 * Run: npm run bench -- code-python   (or node_modules/.bin/tsx tests/bench/code-python.bench.ts)
 * BENCH_ROUNDS (default 3) repeats the in-process pass; the subprocess pass runs once.
 */
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { nodePythonSandbox } from "../../functions/lib/node-services";
import { ascending, percentile } from "../../rewards/core/stats";
import { createCodeRunner, type Sandbox } from "../../rewards/verifiers/code";
import { FUEL_PER_MS } from "../../rewards/verifiers/code/python/sandbox";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CORPUS = join(import.meta.dirname, "../../../shared/corpora/code/HumanEval.jsonl.gz");
const PYTHON = process.env.PYTHON ?? "/usr/bin/python3";

interface Problem {
  task_id: string;
  prompt: string;
  canonical_solution: string;
  test: string;
  entry_point: string;
}

/** The p-th percentile of unsorted latencies. */
const percentileOf = (xs: number[], p: number) => percentile(ascending(xs), p);
const ms = (x: number) => `${x.toFixed(2)} ms`;

function subprocessRun(code: string): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn(PYTHON, ["-c", code], { stdio: "ignore", timeout: 5_000 });
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
    .map((l) => JSON.parse(l) as Problem);

  const t0 = performance.now();
  const sandbox = nodePythonSandbox();
  const runner = createCodeRunner({ python: sandbox });
  const input = (p: Problem) => ({
    language: "python" as const,
    code: p.prompt + p.canonical_solution,
    tests: p.test,
    entryPoint: p.entry_point,
    timeoutMs: 5_000,
    memoryMb: 256,
  });
  await runner.run(input(problems[0]!));
  const coldMs = performance.now() - t0;
  const lat: number[] = [];
  let passed = 0;
  let wall = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const r0 = performance.now();
    for (const p of problems) {
      const s0 = performance.now();
      const r = await runner.run(input(p));
      lat.push(performance.now() - s0);
      if (round === 0 && r.score === 1) passed++;
    }
    wall += performance.now() - r0;
  }
  const inRate = (problems.length * ROUNDS) / (wall / 1000);
  const s = sandbox.stats;

  // The same pass with Pyodide's unmetered main module (the fuel metering's cost), and the fuel per ms of
  // the metered runs (the calibration of FUEL_PER_MS).
  const fuelPerMs: number[] = [];
  const recording: Sandbox = {
    async run(job, limits) {
      const o = await sandbox.run(job, limits);
      if (o.ms > 0.5) fuelPerMs.push(o.ticks / o.ms);
      return o;
    },
  };
  const recordRunner = createCodeRunner({ python: recording });
  for (const p of problems) await recordRunner.run(input(p));
  const plain = nodePythonSandbox(false);
  const plainRunner = createCodeRunner({ python: plain });
  await plainRunner.run(input(problems[0]!));
  let plainWall = 0;
  let meteredWall = 0;
  for (let round = 0; round < ROUNDS; round++) {
    for (const [r, add] of [
      [plainRunner, (x: number) => (plainWall += x)],
      [runner, (x: number) => (meteredWall += x)],
    ] as const) {
      const r0 = performance.now();
      for (const p of problems) await r.run(input(p));
      add(performance.now() - r0);
    }
  }

  const subLat: number[] = [];
  let subPassed = 0;
  const c0 = performance.now();
  for (const p of problems) {
    const s0 = performance.now();
    if (await subprocessRun(`${p.prompt}${p.canonical_solution}\n${p.test}\ncheck(${p.entry_point})\n`)) subPassed++;
    subLat.push(performance.now() - s0);
  }
  const subRate = problems.length / ((performance.now() - c0) / 1000);

  console.log(`HumanEval Python, ${problems.length} canonical solutions (node ${process.version}, Pyodide 314.0.7)`);
  console.log("");
  console.log("                               samples/s       p50        p99   passed");
  console.log(
    `Pyodide sandbox in process ${inRate.toFixed(0).padStart(12)} ${ms(percentileOf(lat, 50)).padStart(10)} ${ms(percentileOf(lat, 99)).padStart(10)}   ${passed}/${problems.length}`,
  );
  console.log(
    `python3 subprocess        ${subRate.toFixed(0).padStart(13)} ${ms(percentileOf(subLat, 50)).padStart(10)} ${ms(percentileOf(subLat, 99)).padStart(10)}   ${subPassed}/${problems.length}`,
  );
  console.log("");
  console.log(`ratio (sandbox / subprocess): ${(inRate / subRate).toFixed(1)}x`);
  console.log(
    `fuel metering overhead (metered / unmetered wall time, ${ROUNDS} interleaved rounds each): ${((meteredWall / plainWall - 1) * 100).toFixed(1)}%`,
  );
  const f = [...fuelPerMs].sort((a, b) => a - b);
  console.log(
    `fuel per ms of wall time over the samples: p10 ${percentile(f, 10).toFixed(0)}, median ${percentile(f, 50).toFixed(0)}, p90 ${percentile(f, 90).toFixed(0)} (FUEL_PER_MS = ${FUEL_PER_MS})`,
  );
  console.log(
    `clean state: ${s.restores} snapshot restores (mean ${ms(s.restoreMs / Math.max(1, s.restores))}, included above), ${s.builds} boot(s), ${s.dropped} rebuild(s)`,
  );
  console.log(
    `cold start: boot + pre-imports + snapshot ${ms(s.coldStartMs ?? 0)}, with the first sample ${ms(coldMs)}`,
  );
}

await main();
// A booted Pyodide keeps timers of its own alive; the bench is done.
process.exit(0);
