/**
 * Drift detection: the false-alarm and detection matrix at n = 500, 5,000 and 50,000 inputs per side,
 * and the time of one 50,000 vs 50,000 comparison next to its peer, one pass of the hashed embedding
 * over the same inputs (the least any text-based check must spend), with the ratio.
 * Run: npm run bench -- drift   (BENCH_DRIFT_SEEDS=20, BENCH_DRIFT_SEEDS_50K=5 by default: 20 seeds at
 * 50k take ~5 min on one core)
 */
import { compareDrift } from "../../functions/lib/drift";
import { HashedEmbedder } from "../../functions/lib/drift-embedding";
import { generate } from "../lib/drift-generator";

const SEEDS = Number(process.env.BENCH_DRIFT_SEEDS ?? 20);
const SEEDS_50K = Number(process.env.BENCH_DRIFT_SEEDS_50K ?? 5);
/** Cloudflare Workers Paid: 30 s CPU per invocation by default, up to 300 s with [limits] cpu_ms. */
const CRON_CPU_LIMIT_MS = 30_000;

const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

console.log("n per side | shift | seeds | alarms | rate | mean CPU ms per comparison");
for (const n of [500, 5_000, 50_000]) {
  const seeds = n >= 50_000 ? SEEDS_50K : SEEDS;
  for (const shift of [0, 0.3]) {
    let alarms = 0;
    let cpu = 0;
    for (let s = 0; s < seeds; s++) {
      const ref = generate(n, 10_000 + s);
      const cur = generate(n, 20_000 + s, shift);
      const t = cpuMs();
      if (compareDrift(ref, cur, { seed: s + 1 }).drifted) alarms++;
      cpu += cpuMs() - t;
    }
    console.log(
      `${String(n).padStart(10)} | ${shift.toFixed(1).padStart(5)} | ${String(seeds).padStart(5)} | ${String(alarms).padStart(6)} | ${(alarms / seeds).toFixed(2)} | ${(cpu / seeds).toFixed(0)}`,
    );
  }
}

const ref = generate(50_000, 1);
const cur = generate(50_000, 2, 0.3);
const embedder = new HashedEmbedder();
let t = cpuMs();
let w = performance.now();
for (const x of ref) embedder.embed(x.text);
for (const x of cur) embedder.embed(x.text);
const peerCpu = cpuMs() - t;
const peerWall = performance.now() - w;
t = cpuMs();
w = performance.now();
const report = compareDrift(ref, cur, { seed: 1 });
const cpu = cpuMs() - t;
const wall = performance.now() - w;
const heap = process.memoryUsage().heapUsed / 2 ** 20;
console.log(
  `\n50,000 vs 50,000: compareDrift ${cpu.toFixed(0)} ms CPU (${wall.toFixed(0)} ms wall), drifted=${report.drifted}; ` +
    `peer (one embedding pass) ${peerCpu.toFixed(0)} ms CPU (${peerWall.toFixed(0)} ms wall); ratio ${(cpu / peerCpu).toFixed(2)}x`,
);
console.log(
  `CPU vs the cron's default limit of ${CRON_CPU_LIMIT_MS / 1000} s: ${((100 * cpu) / CRON_CPU_LIMIT_MS).toFixed(0)}% ` +
    `(process heap after, including the 100,000 generated inputs: ${heap.toFixed(0)} MiB)`,
);
