import { applyD1Migrations, createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import worker from "../../functions/index";
import { sha256Hex } from "../../functions/lib/crypto";
import { BASE } from "./helpers";

/**
 * The projects migration on a database written by wave 1: migrations up to 0007 on an empty D1, rows in
 * the shapes of then (no project_id, no role), then the rest of the migrations.
 */
const db = env.MIGRATION_DB;
const number = (name: string) => Number.parseInt(name, 10);
const FIRST_PROJECTS_MIGRATION = 8;

// A key as wave 1 made them: ak_ + 43 base64url characters, no checksum.
const OLD_KEY = "ak_wave1wave1wave1wave1wave1wave1wave1wave1wav";
const T = 1_780_000_000_000;
const ids = {
  key: "key_01wave1000000000000000000",
  experiment: "exp_01wave1000000000000000000",
  run: "run_01wave1000000000000000000",
  rft: "run_01wave1000000000000000001",
  dataset: "ds_01wave10000000000000000000",
  sweep: "swp_01wave1000000000000000000",
  certificate: "cert_01wave100000000000000000",
};
const IDEMPOTENT_BODY = JSON.stringify({ name: "retried" });

async function callOld(method: string, path: string, body?: string, headers: Record<string, string> = {}) {
  const ctx = createExecutionContext();
  const res = await worker.fetch(
    new Request(`${BASE}${path}`, {
      method,
      body,
      headers: {
        authorization: `Bearer ${OLD_KEY}`,
        ...(body ? { "content-type": "application/json" } : {}),
        ...headers,
      },
    }),
    { ...env, DB: db },
    ctx,
  );
  await waitOnExecutionContext(ctx);
  const text = await res.text();
  return { status: res.status, text, json: text ? JSON.parse(text) : undefined, headers: res.headers };
}

const expectOk = (res: { status: number; text: string }, status: number) =>
  expect(res.status, res.text.slice(0, 500)).toBe(status);

beforeAll(async () => {
  const all = env.TEST_MIGRATIONS;
  const wave1 = all.filter((m) => number(m.name) < FIRST_PROJECTS_MIGRATION);
  expect(wave1.map((m) => m.name).at(-1)).toBe("0007_feedback.sql");
  await applyD1Migrations(db, wave1);
  const cols = await db.prepare("select name from pragma_table_info('experiments')").all<{ name: string }>();
  expect(cols.results.map((c) => c.name)).not.toContain("project_id");

  const rows = ['{"q":"a","answer":"1"}', '{"q":"b","answer":"2"}'].join("\n");
  for (const part of ["original", "train", "holdout"]) {
    await env.BLOBS.put(`datasets/${ids.dataset}/${part}.jsonl`, part === "holdout" ? "" : rows);
  }
  const spec = JSON.stringify({
    kind: "rft",
    baseModel: "tiny",
    dataset: ids.dataset,
    grader: { type: "reward", name: "format-answer" },
    backend: "local",
  });
  const idemKey = `key:${ids.key}:wave1-retry`;
  const idemHash = await sha256Hex(`POST /v1/experiments\n${IDEMPOTENT_BODY}`);
  const stored = JSON.stringify({
    id: "exp_01wave1000000000000000009",
    name: "retried",
    description: null,
    tags: [],
    createdAt: new Date(T).toISOString(),
  });
  await db.batch([
    db
      .prepare("insert into api_keys (id, name, prefix, hash, created_at, revoked_at) values (?, ?, ?, ?, ?, null)")
      .bind(ids.key, "wave-1 key", OLD_KEY.slice(0, 10), await sha256Hex(OLD_KEY), T),
    db
      .prepare("insert into experiments (id, name, description, tags, created_at) values (?, ?, null, ?, ?)")
      .bind(ids.experiment, "wave-1 experiment", '["old"]', T),
    db
      .prepare(`insert into datasets (id, name, sha256, rows, bytes, train_rows, holdout_rows, holdout_fraction,
        object_key, train_key, holdout_key, stats, created_at) values (?, 'old', ?, 2, ?, 2, 0, 0.1, ?, ?, ?, ?, ?)`)
      .bind(
        ids.dataset,
        "ab".repeat(32),
        rows.length,
        `datasets/${ids.dataset}/original.jsonl`,
        `datasets/${ids.dataset}/train.jsonl`,
        `datasets/${ids.dataset}/holdout.jsonl`,
        '{"labelled":2,"preferencePairs":0,"verifiable":2,"fields":{"q":2,"answer":2}}',
        T,
      ),
    db
      .prepare(`insert into runs (id, experiment_id, kind, status, name, params, dataset_id, created_at, updated_at)
        values (?, ?, 'eval', 'succeeded', 'old eval', '{}', ?, ?, ?)`)
      .bind(ids.run, ids.experiment, ids.dataset, T, T),
    db
      .prepare(`insert into runs (id, experiment_id, kind, status, name, params, spec, dataset_id, backend, sweep_id,
        sweep_index, created_at, updated_at) values (?, ?, 'rft', 'queued', 'old sweep #0', '{}', ?, ?, 'local', ?, 0, ?, ?)`)
      .bind(ids.rft, ids.experiment, spec, ids.dataset, ids.sweep, T, T),
    db
      .prepare("insert into run_status_history (run_id, status, reason, at) values (?, 'succeeded', 'old', ?)")
      .bind(ids.run, T),
    db
      .prepare("insert into artifacts (run_id, kind, uri, created_at) values (?, 'adapter', 'r2://old/adapter', ?)")
      .bind(ids.run, T),
    db.prepare("insert into metrics (run_id, name, step, value, ts) values (?, 'acc', 1, 0.75, ?)").bind(ids.run, T),
    db
      .prepare(`insert into reward_batches (run_id, step, batch_key, samples, valid, score_sum, score_sum_sq, groups,
        zero_std_groups, sub_scores, latency_p50, latency_p99, created_at) values (?, 0, 'b', 1, 1, 1, 1, 0, 0, '{}', 1, 1, ?)`)
      .bind(ids.rft, T),
    db
      .prepare(`insert into sweeps (id, experiment_id, name, spec, metric, mode, backend, created_at)
        values (?, ?, 'old sweep', '{"points":[{}]}', 'acc', 'max', 'local', ?)`)
      .bind(ids.sweep, ids.experiment, T),
    db
      .prepare(`insert into certificates (id, grader_hash, grader_ref, verdict, report, created_at)
        values (?, 'h', 'string_check', 'pass', '{}', ?)`)
      .bind(ids.certificate, T),
    db
      .prepare(`insert into idempotency_keys (key, method, path, request_hash, status, body, created_at)
        values (?, 'POST', '/v1/experiments', ?, 201, ?, ?)`)
      .bind(idemKey, idemHash, stored, Date.now()),
  ]);
  await applyD1Migrations(db, all);
});

describe("the projects migration on a wave-1 database", () => {
  it("puts every existing row in the default project and seeds that project", async () => {
    const project = await db.prepare("select id, name from projects").all();
    expect(project.results).toEqual([{ id: "prj_default", name: "default" }]);
    const tables = ["experiments", "runs", "datasets", "certificates", "sweeps", "api_keys", "idempotency_keys"];
    const counts: Record<string, unknown> = {};
    for (const t of tables) {
      counts[t] = await db
        .prepare(`select count(*) as n, sum(project_id = 'prj_default') as inDefault from ${t}`)
        .first();
    }
    expect(counts).toEqual({
      experiments: { n: 1, inDefault: 1 },
      runs: { n: 2, inDefault: 2 },
      datasets: { n: 1, inDefault: 1 },
      certificates: { n: 1, inDefault: 1 },
      sweeps: { n: 1, inDefault: 1 },
      api_keys: { n: 1, inDefault: 1 },
      idempotency_keys: { n: 1, inDefault: 1 },
    });
    expect(await db.prepare("select role, expires_at, last_used_at from api_keys").first()).toEqual({
      role: "write",
      expires_at: null,
      last_used_at: null,
    });
  });

  it("keeps the old key working with write rights on the old rows", async () => {
    const list = await callOld("GET", "/v1/experiments");
    expectOk(list, 200);
    expect(list.json.data.map((e: { id: string }) => e.id)).toEqual([ids.experiment]);
    const run = await callOld("GET", `/v1/runs/${ids.run}`);
    expectOk(run, 200);
    expect(run.json).toMatchObject({
      id: ids.run,
      status: "succeeded",
      dataset: { id: ids.dataset },
      statusHistory: [{ status: "succeeded", reason: "old" }],
      artifacts: [{ kind: "adapter", uri: "r2://old/adapter" }],
    });
    const series = await callOld("GET", `/v1/runs/${ids.run}/metrics`);
    expect(series.json.series).toEqual([
      { name: "acc", points: [{ step: 1, value: 0.75, ts: new Date(T).toISOString() }] },
    ]);
    const compare = await callOld("GET", `/v1/experiments/${ids.experiment}/compare?metric=acc`);
    expect(compare.json.runs[0]).toMatchObject({ rank: 1, runId: ids.run, best: 0.75 });
    const sweep = await callOld("GET", `/v1/sweeps/${ids.sweep}`);
    expectOk(sweep, 200);
    expect(sweep.json.runs.map((r: { runId: string }) => r.runId)).toEqual([ids.rft]);
    const rows = await callOld("GET", `/v1/datasets/${ids.dataset}/rows?split=train`);
    expectOk(rows, 200);
    expect(rows.json.data).toEqual([
      { q: "a", answer: "1" },
      { q: "b", answer: "2" },
    ]);

    const created = await callOld("POST", "/v1/experiments", JSON.stringify({ name: "after" }));
    expectOk(created, 201);
    const newRun = await callOld(
      "POST",
      `/v1/experiments/${ids.experiment}/runs`,
      JSON.stringify({ kind: "eval", dataset: ids.dataset }),
    );
    expectOk(newRun, 201);
    const claim = await callOld("POST", "/v1/runner/claim", "{}");
    expectOk(claim, 200);
    expect(claim.json.run).toEqual({ id: ids.rft, experimentId: ids.experiment });
    const keys = await callOld("POST", "/v1/api-keys", JSON.stringify({ name: "no" }));
    expectOk(keys, 403);
    expect(keys.json.error.message).toBe("POST /v1/api-keys needs a key with role admin; this key's role is write");
    const used = await db
      .prepare("select last_used_at as t from api_keys where id = ?")
      .bind(ids.key)
      .first<{ t: number }>();
    expect(used?.t).toEqual(expect.any(Number));
  });

  it("replays a POST stored under wave 1's idempotency key", async () => {
    const res = await callOld("POST", "/v1/experiments", IDEMPOTENT_BODY, { "idempotency-key": "wave1-retry" });
    expectOk(res, 201);
    expect(res.headers.get("idempotent-replayed")).toBe("true");
    expect(res.json.id).toBe("exp_01wave1000000000000000009");
  });
});
