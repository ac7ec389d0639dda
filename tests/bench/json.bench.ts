/**
 * JSON Schema scoring: samples/s for 1,000 completions validated in one process. First the validators
 * alone, side by side in one run (JSON.parse + validate, a validator built once): Assay's own
 * (rewards/verifiers/json-schema/validator.ts, the one the grader uses) against @cfworker/json-schema,
 * which the grader ran on before (target: ours at least 0.8x). Then the json_schema grader through the
 * scoring engine (extraction, cached validator, partial credit, metrics).
 * Then the same 1,000 samples through POST /v1/graders/run on the Worker under `wrangler dev` (one request),
 * against the raw library loop (target: HTTP within 3x), and the latency of a 256-sample batch.
 * Run: npm run bench -- json   (or node_modules/.bin/tsx tests/bench/json.bench.ts); BENCH_JSON_HTTP=0 skips
 * the wrangler dev part.
 */
import { dereference, type Schema, validate } from "@cfworker/json-schema";
import { scoreBatch } from "../../rewards/core/engine";
import { percentile } from "../../rewards/core/stats";
import type { Sample } from "../../rewards/core/types";
import { buildGrader } from "../../rewards/graders/index";
import { compileSchemaSync } from "../../rewards/verifiers/json-schema";
import { batchLatencies, fmt as fmtN, startDev } from "./lib/wrangler-dev";

const N = 1_000;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);

const schema = {
  $schema: "https://json-schema.org/draft/2020-12/schema",
  type: "object",
  required: ["id", "customer", "items", "total", "status"],
  additionalProperties: false,
  properties: {
    id: { type: "string", pattern: "^ord_[a-z0-9]{6}$" },
    customer: {
      type: "object",
      required: ["name", "email"],
      properties: {
        name: { type: "string", minLength: 1, maxLength: 80 },
        email: { type: "string", format: "email" },
        vip: { type: "boolean" },
      },
    },
    items: {
      type: "array",
      minItems: 1,
      maxItems: 20,
      items: {
        type: "object",
        required: ["sku", "qty", "price"],
        properties: {
          sku: { type: "string", pattern: "^[A-Z]{3}-\\d{3}$" },
          qty: { type: "integer", minimum: 1 },
          price: { type: "number", exclusiveMinimum: 0 },
        },
      },
    },
    total: { type: "number", minimum: 0 },
    status: { enum: ["pending", "paid", "shipped"] },
    notes: { type: "string" },
  },
};

/** Deterministic completions: 60% valid, 30% partly wrong, 10% without JSON. */
function completions(): string[] {
  let seed = 42;
  const rnd = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  return Array.from({ length: N }, (_, i) => {
    const items = Array.from({ length: 1 + Math.floor(rnd() * 4) }, (_, j) => ({
      sku: `ABC-${String(100 + j).padStart(3, "0")}`,
      qty: 1 + Math.floor(rnd() * 3),
      price: Math.round(rnd() * 10000) / 100 + 0.01,
    }));
    const doc: Record<string, unknown> = {
      id: `ord_${i.toString(36).padStart(6, "0")}`,
      customer: { name: `Customer ${i}`, email: `c${i}@example.com`, vip: i % 7 === 0 },
      items,
      total: items.reduce((s, x) => s + x.qty * x.price, 0),
      status: ["pending", "paid", "shipped"][i % 3],
    };
    const r = i % 10;
    if (r === 9) return "I could not produce the order.";
    if (r >= 6) {
      (doc.items as any[])[0].qty = "two";
      if (r === 8) delete doc.status;
      if (r === 7) doc.extra = true;
    }
    return i % 2 ? JSON.stringify(doc) : `Here is the order:\n\`\`\`json\n${JSON.stringify(doc, null, 2)}\n\`\`\``;
  });
}

const texts = completions();
const samples: Sample[] = texts.map((completion) => ({ completion, item: {} }));
const grader = { type: "json_schema", name: "order", schema };

function rate(fn: () => unknown): number {
  fn(); // warm-up
  let best = 0;
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = performance.now();
    fn();
    best = Math.max(best, N / ((performance.now() - t0) / 1000));
  }
  return best;
}

async function rateAsync(fn: () => Promise<unknown>): Promise<number> {
  await fn();
  let best = 0;
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = performance.now();
    await fn();
    best = Math.max(best, N / ((performance.now() - t0) / 1000));
  }
  return best;
}

/** A validator alone in a loop, JSON found by the same rule the grader uses by default. */
function rawLoop(validateDoc: (doc: unknown) => boolean): number {
  const fence = /```(?:json)?\s*\n([\s\S]*?)```/;
  return rate(() => {
    let valid = 0;
    for (const t of texts) {
      let doc: unknown;
      try {
        doc = JSON.parse(t);
      } catch {
        const m = fence.exec(t);
        if (!m) continue;
        doc = JSON.parse(m[1]!);
      }
      if (validateDoc(doc)) valid++;
    }
    if (valid !== 600) throw new Error(`raw: ${valid} valid, expected 600`);
  });
}

/** The peer: @cfworker/json-schema, as the grader used it before. */
function rawCfworker(): number {
  const root = structuredClone(schema) as Schema;
  const lookup = dereference(root);
  return rawLoop((doc) => validate(doc, root, "2020-12", lookup, true).valid);
}

/** Assay's validator, compiled once, format asserted (the grader's default). */
function rawAssay(): number {
  const compiled = compileSchemaSync(schema, { draft: "2020-12", format: "assert" });
  return rawLoop((doc) => compiled.validate(doc).valid);
}

async function inProcessGrader(): Promise<number> {
  const built = buildGrader(grader);
  const context = { fixtures: { get: async () => null }, log: { debug() {}, info() {}, warn() {} }, services: {} };
  return rateAsync(async () => {
    const out = await scoreBatch(built.score, samples, { context, concurrency: 1 });
    const full = out.results.filter((r) => r.score === 1).length;
    if (full !== 600 || out.summary.validCount !== N)
      throw new Error(`grader: ${full} full scores, ${out.summary.validCount} valid`);
  });
}

/** Through the API: POST /v1/graders/run with all 1,000 samples at once. */
export async function viaHttp(baseUrl: string, key: string): Promise<number> {
  const post = async () => {
    const res = await fetch(`${baseUrl}/v1/graders/run`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({ grader, samples }),
    });
    if (!res.ok) throw new Error(`POST /v1/graders/run: HTTP ${res.status}: ${(await res.text()).slice(0, 500)}`);
    const body = (await res.json()) as { results: { score: number }[] };
    if (body.results.length !== N) throw new Error(`got ${body.results.length} results`);
  };
  return rateAsync(post);
}

const fmt = (x: number) => Math.round(x).toLocaleString("en-US");
// Interleaved, so that both validators see the same machine load.
let cf = 0;
let raw = 0;
for (let i = 0; i < 3; i++) {
  cf = Math.max(cf, rawCfworker());
  raw = Math.max(raw, rawAssay());
}
const graded = await inProcessGrader();
console.log(`JSON Schema scoring, ${N} samples (60% valid, 30% partly wrong, 10% no JSON), best of ${ROUNDS}`);
console.log(`  @cfworker/json-schema alone (parse + validate)   ${fmt(cf).padStart(9)} samples/s`);
console.log(`  Assay validator alone (parse + validate)         ${fmt(raw).padStart(9)} samples/s`);
console.log(`  Assay / @cfworker                                ${(raw / cf).toFixed(2)}x (target >= 0.8x)`);
console.log(`  json_schema grader, in process (scoreBatch)      ${fmt(graded).padStart(9)} samples/s`);
console.log(`  grader / raw validator                           ${(graded / raw).toFixed(2)}x`);
if (process.env.BENCH_JSON_HTTP === "0") process.exit(0);
const server = await startDev();
try {
  const http = await viaHttp(server.url, server.adminKey);
  console.log(`  POST /v1/graders/run (wrangler dev)              ${fmt(http).padStart(9)} samples/s`);
  console.log(`  raw validator / HTTP                             ${(raw / http).toFixed(2)}x (target <= 3x)`);
  const lat = await batchLatencies(server, { grader, samples: samples.slice(0, 256) }, 30);
  console.log(
    `  256-sample batch through the API: p50 ${fmtN(percentile(lat, 50), 1)} ms, p99 ${fmtN(percentile(lat, 99), 1)} ms (30 batches)`,
  );
} finally {
  await server.stop();
}
