/**
 * SQL execution match: pairs/s for the 207 Spider gold pairs (prediction gold_sql, reference
 * gold_sql_spider_original), the SQL verifier in this process (SQLite in WASM: fresh read-only copy of the
 * fixture per query, step budget, authorizer, Spider comparison) next to CPython's sqlite3 running the
 * same pairs on a reused connection (tests/bench/sql_peer.py), and the ratio.
 * Two verifier figures: "cold" runs both queries of every pair (reference cache emptied each round),
 * "warm" is the steady state of a grader, with reference results cached per (fixture sha256, SQL).
 * Then the same pairs through the API: the Worker under `wrangler dev` (fixtures uploaded with PUT
 * /v1/fixtures, all 207 pairs in one POST /v1/graders/run), and the latency of a 256-sample batch.
 * Run: npm run bench -- sql   (BENCH_ROUNDS=5 by default)
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { dirFixtureStore } from "../../functions/lib/node-services";
import { nodeSqlEngine } from "../../functions/lib/sql-engine-node";
import { percentile } from "../../rewards/core/stats";
import { createSqlVerifier, newSqlCaches } from "../../rewards/verifiers/sql";
import { batchLatencies, fmt as fmtN, startDev } from "./lib/wrangler-dev";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const HERE = dirname(fileURLToPath(import.meta.url));
const CORPUS = resolve(HERE, "../../../shared/corpora/sql");

interface Pair {
  id: string;
  db_id: string;
  gold_sql: string;
  gold_sql_spider_original: string;
  orig_equal_strict: boolean;
}

const pairs: Pair[] = JSON.parse(readFileSync(`${CORPUS}/spider_gold_pairs.json`, "utf8"));

async function inProcess(warm: boolean): Promise<{ pairsPerS: number; matched: number }> {
  const fixtures = dirFixtureStore([CORPUS]);
  let caches = newSqlCaches();
  let best = Number.POSITIVE_INFINITY;
  let matched = 0;
  for (let round = 0; round <= ROUNDS; round++) {
    // Images stay cached (a Worker keeps them); reference results only in the warm variant.
    if (!warm) caches = { images: caches.images, references: newSqlCaches().references };
    const v = createSqlVerifier({ engine: nodeSqlEngine, fixtures, caches });
    matched = 0;
    const t0 = performance.now();
    for (const p of pairs) {
      const r = await v.execMatch({
        database: p.db_id,
        predicted: p.gold_sql,
        reference: p.gold_sql_spider_original,
        deadline: Date.now() + 10_000,
      });
      if (!r.valid) throw new Error(`${p.id}: ${JSON.stringify(r)}`);
      matched += r.score;
    }
    const dt = performance.now() - t0;
    if (round > 0) best = Math.min(best, dt); // round 0 warms up the JIT and the caches
  }
  return { pairsPerS: (pairs.length / best) * 1000, matched };
}

function python(): { pairsPerS: number; matched: number } {
  const out = execFileSync("python3", [resolve(HERE, "sql_peer.py"), CORPUS, String(ROUNDS)], { encoding: "utf8" });
  const j = JSON.parse(out.trim().split("\n").at(-1)!);
  return { pairsPerS: j.pairs_per_s, matched: j.matched };
}

/** The same pairs through the API: fixtures uploaded with PUT /v1/fixtures, scored by POST /v1/graders/run. */
export async function viaHttp(baseUrl: string, key: string): Promise<{ pairsPerS: number; matched: number }> {
  const headers = { authorization: `Bearer ${key}` };
  for (const db of new Set(pairs.map((p) => p.db_id))) {
    const res = await fetch(`${baseUrl}/v1/fixtures/${db}`, {
      method: "PUT",
      headers: { ...headers, "content-type": "application/octet-stream" },
      body: readFileSync(`${CORPUS}/${db}.sqlite`),
    });
    if (!res.ok) throw new Error(`PUT /v1/fixtures/${db}: HTTP ${res.status} ${await res.text()}`);
  }
  const body = JSON.stringify({
    grader: { type: "sql_exec_match", name: "spider", database: "{{item.db_id}}", reference: "{{item.query}}" },
    samples: pairs.map((p) => ({
      completion: p.gold_sql,
      item: { db_id: p.db_id, query: p.gold_sql_spider_original },
    })),
  });
  let best = Number.POSITIVE_INFINITY;
  let matched = 0;
  for (let round = 0; round <= ROUNDS; round++) {
    const t0 = performance.now();
    const res = await fetch(`${baseUrl}/v1/graders/run`, {
      method: "POST",
      headers: { ...headers, "content-type": "application/json" },
      body,
    });
    const json = (await res.json()) as { results: { score: number }[] };
    if (!res.ok) throw new Error(`POST /v1/graders/run: HTTP ${res.status} ${JSON.stringify(json)}`);
    const dt = performance.now() - t0;
    matched = json.results.reduce((s, r) => s + r.score, 0);
    if (round > 0) best = Math.min(best, dt);
  }
  return { pairsPerS: (pairs.length / best) * 1000, matched };
}

const fmt = (x: number) => x.toFixed(0).padStart(8);

async function main() {
  const cold = await inProcess(false);
  const warm = await inProcess(true);
  const py = python();
  console.log(`Spider gold pairs: ${pairs.length}, best of ${ROUNDS} rounds`);
  console.log(`                                        pairs/s   matched   vs CPython`);
  console.log(`CPython sqlite3 (reused connection)   ${fmt(py.pairsPerS)}   ${py.matched}       1.00x`);
  console.log(
    `verifier in process, cold references  ${fmt(cold.pairsPerS)}   ${cold.matched}       ${(cold.pairsPerS / py.pairsPerS).toFixed(2)}x`,
  );
  console.log(
    `verifier in process, warm references  ${fmt(warm.pairsPerS)}   ${warm.matched}       ${(warm.pairsPerS / py.pairsPerS).toFixed(2)}x`,
  );
  const server = await startDev();
  try {
    const http = await viaHttp(server.url, server.adminKey);
    console.log(
      `POST /v1/graders/run (wrangler dev)   ${fmt(http.pairsPerS)}   ${http.matched}       ${(http.pairsPerS / py.pairsPerS).toFixed(2)}x`,
    );
    const batch = Array.from({ length: 256 }, (_, i) => pairs[i % pairs.length]!);
    const lat = await batchLatencies(
      server,
      {
        grader: { type: "sql_exec_match", name: "spider", database: "{{item.db_id}}", reference: "{{item.query}}" },
        samples: batch.map((p) => ({
          completion: p.gold_sql,
          item: { db_id: p.db_id, query: p.gold_sql_spider_original },
        })),
      },
      30,
    );
    console.log(
      `256-sample batch through the API: p50 ${fmtN(percentile(lat, 50), 1)} ms, p99 ${fmtN(percentile(lat, 99), 1)} ms (30 batches)`,
    );
  } finally {
    await server.stop();
  }
}

await main();
