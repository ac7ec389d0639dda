/**
 * Curation: 100,000 generated feedback events curated end to end, with exact + near dedup (MinHash/LSH,
 * the defaults) next to an exact-hash-only pass over the same events, in one run; prints rows/s and the
 * near-dup pass's share of the time.
 *
 * Two paths:
 * - in process, 100,000 events (BENCH_CURATION_N): the real job code (runCurationStep: D1 reads of each
 *   chunk, chunk files in R2, the finish step, the dataset store) against local D1 and R2 from
 *   getPlatformProxy, each step called directly instead of through the Queue;
 * - through the Queue, 5,000 events (BENCH_CURATION_QUEUE_N): POST /v1/curations on `wrangler dev` and
 *   the local Queue consumer, timed until GET /v1/curations/{id} reports success. Smaller, because a
 *   100,000-event run through wrangler dev takes minutes on this shared machine.
 * Run: npm run bench -- curation
 */

import { getPlatformProxy } from "wrangler";
import { createDb, type Db } from "../../db/client";
import { prepareCuration, runCurationStep } from "../../functions/lib/curation/job";
import { newId } from "../../functions/lib/ids";
import { api, fmt, ROOT, startDev } from "./lib/wrangler-dev";

const N = Number(process.env.BENCH_CURATION_N ?? 100_000);
const QUEUE_N = Number(process.env.BENCH_CURATION_QUEUE_N ?? 5_000);
const CHUNK = 5_000;

function lcg(seed: number) {
  let s = seed >>> 0 || 1;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

/**
 * Events like production feedback: 20–60-word prompts, 10–30-word outputs; 10% exact repeats of an
 * earlier event (case and punctuation changed), 10% near repeats (one word of the prompt changed), 10%
 * without any signal; ratings, some corrections and references.
 */
function generate(n: number, seed = 1, source = "fs_bench") {
  const rnd = lcg(seed);
  const syl = ["ka", "lo", "mi", "ne", "ru", "ta", "vi", "so", "pe", "da", "fu", "gi", "ho", "ja", "zu", "be"];
  const vocab = Array.from({ length: 4000 }, () => {
    let w = "";
    for (let k = 2 + Math.floor(rnd() * 2); k > 0; k--) w += syl[Math.floor(rnd() * syl.length)];
    return w;
  });
  const text = (min: number, max: number) =>
    Array.from(
      { length: min + Math.floor(rnd() * (max - min + 1)) },
      () => vocab[Math.floor(rnd() * vocab.length)],
    ).join(" ");
  const t0 = Date.UTC(2026, 0, 1);
  const events: Record<string, unknown>[] = [];
  for (let i = 0; i < n; i++) {
    const at = t0 + i * 10;
    const r = rnd();
    let input: string;
    let output: string;
    const prev = events.length > 0 ? events[Math.floor(rnd() * events.length)]! : null;
    if (prev && r < 0.1) {
      input = `${(prev.input_text as string).toUpperCase()}!`;
      output = prev.output as string;
    } else if (prev && r < 0.2) {
      const ws = (prev.input_text as string).split(" ");
      ws[Math.floor(rnd() * ws.length)] = vocab[Math.floor(rnd() * vocab.length)]!;
      input = ws.join(" ");
      output = prev.output as string;
    } else {
      input = text(20, 60);
      output = text(10, 30);
    }
    const kind = rnd();
    const signal = kind >= 0.1;
    const id = newId("fb", at);
    events.push({
      id,
      project_id: "prj_default",
      source_id: source,
      delivery_id: id,
      model: "bench-model",
      // The input column holds JSON (a string or messages).
      input: JSON.stringify(input),
      input_text: input,
      output,
      rating: signal ? (rnd() < 0.6 ? "up" : "down") : null,
      rating_value: null,
      correction: signal && kind < 0.2 ? text(10, 30) : null,
      reference: signal && kind > 0.9 ? JSON.stringify({ answer: text(1, 3) }) : null,
      redactions: "{}",
      occurred_at: at,
      received_at: at,
    });
    const e = events[events.length - 1]!;
    e.rating_value = e.rating === "up" ? 1 : e.rating === "down" ? 0 : null;
  }
  return events;
}

/** Bulk insert through one JSON parameter per 1,000 rows (D1 binds at most 100 parameters a statement). */
async function seed(d1: D1Database, events: Record<string, unknown>[]) {
  const cols = Object.keys(events[0]!);
  const sql =
    `INSERT INTO feedback_events (${cols.join(", ")}) SELECT ${cols.map((c) => `json_extract(value, '$.${c}')`).join(", ")} ` +
    "FROM json_each(?)";
  for (let i = 0; i < events.length; i += 1000) {
    await d1
      .prepare(sql)
      .bind(JSON.stringify(events.slice(i, i + 1000)))
      .run();
  }
}

async function migrate(d1: D1Database) {
  const { readD1Migrations } = await import("@cloudflare/vitest-pool-workers");
  for (const m of await readD1Migrations(`${ROOT}/db/migrations`)) for (const q of m.queries) await d1.prepare(q).run();
}

async function runJob(db: Db, env: Env, near: boolean, source = "fs_bench") {
  const t0 = performance.now();
  const cur = await prepareCuration(db, "prj_default", {
    feedback: { source },
    into: "sft",
    chunkSize: CHUNK,
    dedup: near ? undefined : { exact: true, near: false },
  });
  let next: { chunk?: number } | null = { chunk: 0 };
  let scanMs = 0;
  while (next) {
    const t = performance.now();
    const msg = await runCurationStep(db, env, cur.id, next.chunk);
    if (msg) scanMs += performance.now() - t;
    next = msg && msg.type === "curate" ? msg : null;
  }
  const ms = performance.now() - t0;
  const [row] = await db.$client.prepare("SELECT status, report, error FROM curations WHERE id = ?").bind(cur.id).raw();
  if (row?.[0] !== "succeeded") throw new Error(`curation ${cur.id} ended ${row?.[0]}: ${row?.[2]}`);
  return { ms, scanMs, finishMs: ms - scanMs, report: JSON.parse(row[1] as string) };
}

async function inProcess() {
  const proxy = await getPlatformProxy<Env>({ configPath: `${ROOT}/wrangler.toml`, persist: false });
  try {
    await migrate(proxy.env.DB);
    const events = generate(N);
    const t = performance.now();
    await seed(proxy.env.DB, events);
    console.log(`seeded ${fmt(N)} events into local D1 in ${fmt((performance.now() - t) / 1000, 1)} s (not timed)`);
    const db = createDb(proxy.env.DB);
    // Warm-up on other events, so neither timed pass pays for JIT compilation or first storage calls.
    await seed(proxy.env.DB, generate(5_000, 3, "fs_warm"));
    await runJob(db, proxy.env, false, "fs_warm");
    await runJob(db, proxy.env, true, "fs_warm");
    const exactOnly = await runJob(db, proxy.env, false);
    const full = await runJob(db, proxy.env, true);
    return { full, exactOnly };
  } finally {
    await proxy.dispose();
  }
}

async function viaQueue() {
  const server = await startDev({
    async beforeStart(persistTo) {
      const proxy = await getPlatformProxy<Env>({
        configPath: `${ROOT}/wrangler.toml`,
        persist: { path: `${persistTo}/v3` },
      });
      try {
        await seed(proxy.env.DB, generate(QUEUE_N, 2));
      } finally {
        await proxy.dispose();
      }
    },
  });
  try {
    const time = async (dedup?: unknown) => {
      const t0 = performance.now();
      const { id } = await api(server, "POST", "/v1/curations", {
        feedback: { source: "fs_bench" },
        into: "sft",
        dedup,
      });
      for (;;) {
        const cur = await api(server, "GET", `/v1/curations/${id}`);
        if (cur.status === "succeeded") return { ms: performance.now() - t0, report: cur.report };
        if (cur.status === "failed") throw new Error(`curation failed: ${cur.error}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    await time({ exact: true, near: false }); // warm-up
    const exactOnly = await time({ exact: true, near: false });
    const full = await time();
    return { full, exactOnly };
  } finally {
    await server.stop();
  }
}

export async function main() {
  console.log(
    `\n## Curation: ${fmt(N)} events in process (real job steps on local D1 + R2), ${fmt(QUEUE_N)} through the Queue`,
  );
  const a = await inProcess();
  const q = await viaQueue();
  const line = (path: string, n: number, r: { ms: number; report: any }, scan?: number) =>
    `| ${path} | ${fmt(n)} | ${fmt(r.report.output)} | ${fmt(r.report.dropped.duplicate)} | ${fmt(r.report.dropped.nearDuplicate)} | ${fmt(r.ms / 1000, 2)} | ${fmt(n / (r.ms / 1000))} | ${scan === undefined ? "" : fmt(scan / 1000, 2)} |`;
  console.log("| pass | events | rows out | exact dups | near dups | seconds | events/s | of which scan s |");
  console.log("|---|---:|---:|---:|---:|---:|---:|---:|");
  console.log(line("in process, exact + near (MinHash 128, 18×7 LSH)", N, a.full, a.full.scanMs));
  console.log(line("in process, exact hash only", N, a.exactOnly, a.exactOnly.scanMs));
  console.log(line("Queue on wrangler dev, exact + near", QUEUE_N, q.full));
  console.log(line("Queue on wrangler dev, exact hash only", QUEUE_N, q.exactOnly));
  const share = (f: { ms: number }, e: { ms: number }) => Math.max(0, (f.ms - e.ms) / f.ms);
  console.log(`near-dup pass share of the in-process time: ${(share(a.full, a.exactOnly) * 100).toFixed(1)}%`);
  console.log(`near-dup pass share of the Queue time: ${(share(q.full, q.exactOnly) * 100).toFixed(1)}%`);
  console.log(`ratio exact+near / exact-only throughput (in process): ${(a.exactOnly.ms / a.full.ms).toFixed(2)}`);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
