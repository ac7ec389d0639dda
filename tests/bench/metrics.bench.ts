/**
 * Metric ingestion: points/s accepted by POST /v1/runs/{id}/metrics through `wrangler dev` (batches of
 * 1,000) next to a direct drizzle insert of the same rows into the same kind of local D1, in one run.
 * Run: npm run bench -- metrics
 */

import { getPlatformProxy } from "wrangler";
import { createDb } from "../../db/client";
import { insertMetricPoints } from "../../db/queries/metrics";
import { metrics } from "../../db/schema";
import { percentile } from "../../rewards/core/stats";
import { api, fmt, ROOT, startDev } from "./lib/wrangler-dev";

const BATCHES = Number(process.env.BENCH_BATCHES ?? 40);
const BATCH = 1_000;
/** D1 binds at most 100 parameters a statement: 5 columns → 20 rows per insert. */
const ROWS_PER_INSERT = 20;

function batchPoints(b: number) {
  return Array.from({ length: BATCH }, (_, i) => ({
    name: `m${i % 10}`,
    step: b * 100 + Math.floor(i / 10),
    value: Math.sin(b + i),
  }));
}

async function viaHttp() {
  const server = await startDev();
  try {
    const { key } = await api(server, "POST", "/v1/api-keys", { name: "bench" });
    const exp = await api(server, "POST", "/v1/experiments", { name: "bench" }, key);
    const run = await api(server, "POST", `/v1/experiments/${exp.id}/runs`, { kind: "eval" }, key);
    await api(server, "POST", `/v1/runs/${run.id}/metrics`, { points: batchPoints(10_000) }, key); // warm-up
    const lat: number[] = [];
    const t0 = performance.now();
    let accepted = 0;
    for (let b = 0; b < BATCHES; b++) {
      const t = performance.now();
      const res = await api(server, "POST", `/v1/runs/${run.id}/metrics`, { points: batchPoints(b) }, key);
      lat.push(performance.now() - t);
      accepted += res.accepted;
    }
    const secs = (performance.now() - t0) / 1000;
    if (accepted !== BATCHES * BATCH) throw new Error(`accepted ${accepted}, expected ${BATCHES * BATCH}`);
    lat.sort((a, b) => a - b);
    return { rate: accepted / secs, p50: percentile(lat, 50), p99: percentile(lat, 99) };
  } finally {
    await server.stop();
  }
}

/**
 * The direct path, two ways: drizzle's insert builder (20 rows a statement: D1's 100-parameter cap), and
 * the Worker's own query (db/queries/metrics.ts: the batch as one JSON parameter) called without HTTP.
 */
async function viaDrizzle(mode: "builder" | "same-sql") {
  const proxy = await getPlatformProxy<Env>({ configPath: `${ROOT}/wrangler.toml`, persist: false });
  try {
    const d1 = proxy.env.DB;
    // Same schema as the Worker's: apply the migrations to this fresh in-memory D1.
    const { readD1Migrations } = await import("@cloudflare/vitest-pool-workers");
    for (const m of await readD1Migrations(`${ROOT}/db/migrations`))
      for (const q of m.queries) await d1.prepare(q).run();
    const db = createDb(d1);
    const rows = (b: number) => batchPoints(b).map((p) => ({ runId: "run_bench", ...p, ts: Date.now() }));
    const insertBatch = async (b: number) => {
      const all = rows(b);
      if (mode === "same-sql") {
        await insertMetricPoints(db, "run_bench", all);
        return;
      }
      const stmts = [];
      for (let i = 0; i < all.length; i += ROWS_PER_INSERT) {
        stmts.push(
          db
            .insert(metrics)
            .values(all.slice(i, i + ROWS_PER_INSERT))
            .onConflictDoNothing(),
        );
      }
      await db.batch(stmts as [(typeof stmts)[0], ...typeof stmts]);
    };
    await insertBatch(10_000);
    const lat: number[] = [];
    const t0 = performance.now();
    for (let b = 0; b < BATCHES; b++) {
      const t = performance.now();
      await insertBatch(b);
      lat.push(performance.now() - t);
    }
    const secs = (performance.now() - t0) / 1000;
    const n = await d1.prepare("select count(*) as n from metrics").first<{ n: number }>();
    if (n?.n !== (BATCHES + 1) * BATCH) throw new Error(`stored ${n?.n}`);
    lat.sort((a, b) => a - b);
    return { rate: (BATCHES * BATCH) / secs, p50: percentile(lat, 50), p99: percentile(lat, 99) };
  } finally {
    await proxy.dispose();
  }
}

export async function main() {
  console.log(`\n## Metric ingestion: ${BATCHES} batches of ${fmt(BATCH)} points, sequential`);
  const direct = await viaDrizzle("builder");
  const sameSql = await viaDrizzle("same-sql");
  const http = await viaHttp();
  console.log("| path | points/s | batch p50 ms | batch p99 ms |");
  console.log("|---|---:|---:|---:|");
  console.log(
    `| HTTP POST /v1/runs/{id}/metrics (wrangler dev) | ${fmt(http.rate)} | ${fmt(http.p50, 1)} | ${fmt(http.p99, 1)} |`,
  );
  console.log(
    `| direct drizzle insert into local D1 | ${fmt(direct.rate)} | ${fmt(direct.p50, 1)} | ${fmt(direct.p99, 1)} |`,
  );
  console.log(
    `| direct insertMetricPoints (the route's SQL, no HTTP) | ${fmt(sameSql.rate)} | ${fmt(sameSql.p50, 1)} | ${fmt(sameSql.p99, 1)} |`,
  );
  console.log(`ratio HTTP / direct drizzle insert: ${(http.rate / direct.rate).toFixed(2)} (target >= 0.5)`);
  console.log(`ratio HTTP / the same SQL without HTTP: ${(http.rate / sameSql.rate).toFixed(2)}`);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
