import { describe, expect, it } from "vitest";
import { call, createApiKey, expectError, expectStatus } from "./helpers";

async function experiment(name = "exp", extra: Record<string, unknown> = {}) {
  const res = await call("POST", "/v1/experiments", { body: { name, ...extra } });
  expectStatus(res, 201);
  return res.json;
}

async function run(expId: string, body: Record<string, unknown> = { kind: "eval" }) {
  const res = await call("POST", `/v1/experiments/${expId}/runs`, { body });
  expectStatus(res, 201);
  return res.json;
}

describe("experiments", () => {
  it("creates, reads and lists an experiment", async () => {
    const exp = await experiment("gsm8k-grpo", { description: "baseline", tags: ["math", "grpo"] });
    expect(exp).toEqual({
      id: expect.stringMatching(/^exp_/),
      name: "gsm8k-grpo",
      description: "baseline",
      tags: ["math", "grpo"],
      createdAt: expect.any(String),
    });
    const got = await call("GET", `/v1/experiments/${exp.id}`);
    expectStatus(got, 200);
    expect(got.json).toEqual({ ...exp, runs: {} });
    const listed = await call("GET", "/v1/experiments?tag=grpo&limit=500");
    expectStatus(listed, 200);
    expect(listed.json.data).toContainEqual(exp);
  });

  it("pages through experiments with a cursor, each exactly once", async () => {
    const key = await createApiKey("pager");
    const made = [];
    for (let i = 0; i < 5; i++) made.push((await experiment(`page-${i}`, { tags: ["pager-test"] })).id);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res = await call("GET", `/v1/experiments?tag=pager-test&limit=2${cursor ? `&cursor=${cursor}` : ""}`, {
        key: key.key,
      });
      expectStatus(res, 200);
      expect(res.json.data.length).toBeLessThanOrEqual(2);
      seen.push(...res.json.data.map((e: { id: string }) => e.id));
      cursor = res.json.nextCursor;
    } while (cursor);
    expect(seen).toEqual(made);
  });

  it("rejects invalid bodies with the issues", async () => {
    const res = await call("POST", "/v1/experiments", { body: { name: "", tags: "x" } });
    expectError(res, 400, "BAD_REQUEST");
    expect(res.json.error.issues.map((i: { path: string[] }) => i.path[0]).sort()).toEqual(["name", "tags"]);
    expectError(await call("POST", "/v1/experiments", { body: { name: "x", extra: 1 } }), 400, "BAD_REQUEST");
    expectError(await call("GET", "/v1/experiments?limit=0"), 400, "BAD_REQUEST");
  });

  it("requires a key", async () => {
    expectError(await call("POST", "/v1/experiments", { key: null, body: { name: "x" } }), 401, "UNAUTHORIZED");
    expectError(await call("GET", "/v1/experiments/exp_x", { key: "ak_wrong" }), 401, "UNAUTHORIZED");
  });

  it("answers 404 for an unknown experiment", async () => {
    expectError(await call("GET", "/v1/experiments/exp_missing"), 404, "NOT_FOUND");
    expectError(await call("POST", "/v1/experiments/exp_missing/runs", { body: { kind: "eval" } }), 404, "NOT_FOUND");
  });

  it("replays a create sent twice with the same Idempotency-Key", async () => {
    const headers = { "idempotency-key": `exp-create-${crypto.randomUUID()}` };
    const first = await call("POST", "/v1/experiments", { body: { name: "once" }, headers });
    const second = await call("POST", "/v1/experiments", { body: { name: "once" }, headers });
    expectStatus(first, 201);
    expectStatus(second, 201);
    expect(second.json).toEqual(first.json);
    expect(second.headers.get("idempotent-replayed")).toBe("true");
    const other = await call("POST", "/v1/experiments", { body: { name: "different" }, headers });
    expectError(other, 409, "CONFLICT");
  });
});

describe("runs", () => {
  it("creates a run with its parameters, lineage and first status", async () => {
    const exp = await experiment();
    const parent = await run(exp.id, { kind: "sft", baseModel: "qwen2.5-0.5b" });
    const r = await run(exp.id, { kind: "eval", name: "holdout", params: { temperature: 0 }, parentRunId: parent.id });
    expect(r).toMatchObject({
      id: expect.stringMatching(/^run_/),
      experimentId: exp.id,
      kind: "eval",
      name: "holdout",
      status: "queued",
      params: { temperature: 0 },
      dataset: null,
      parentRunId: parent.id,
      summary: null,
      stopRequested: false,
      artifacts: [],
      statusHistory: [{ status: "queued", reason: null, at: r.createdAt }],
    });
    const got = await call("GET", `/v1/runs/${r.id}`);
    expectStatus(got, 200);
    expect(got.json).toEqual(r);
  });

  it("lists runs of one experiment", async () => {
    const exp = await experiment();
    const a = await run(exp.id);
    const b = await run(exp.id, { kind: "dpo" });
    await run((await experiment()).id);
    const res = await call("GET", `/v1/runs?experiment=${exp.id}`);
    expectStatus(res, 200);
    expect(res.json.data.map((r: { id: string }) => r.id)).toEqual([a.id, b.id]);
    expect(res.json.nextCursor).toBeNull();
    const counts = await call("GET", `/v1/experiments/${exp.id}`);
    expect(counts.json.runs).toEqual({ queued: 2 });
  });

  it("moves status forward with history, merges the summary and appends artifacts once", async () => {
    const exp = await experiment();
    const r = await run(exp.id);
    const running = await call("PATCH", `/v1/runs/${r.id}`, { body: { status: "running" } });
    expectStatus(running, 200);
    const art = { kind: "lora-adapter", uri: "r2://assay/artifacts/a.safetensors" };
    const done = await call("PATCH", `/v1/runs/${r.id}`, {
      body: { status: "succeeded", reason: "max steps", summary: { reward: 0.8 }, artifacts: [art] },
    });
    expectStatus(done, 200);
    expect(done.json.status).toBe("succeeded");
    expect(done.json.summary).toEqual({ reward: 0.8 });
    expect(done.json.statusHistory.map((h: { status: string; reason: string | null }) => [h.status, h.reason])).toEqual(
      [
        ["queued", null],
        ["running", null],
        ["succeeded", "max steps"],
      ],
    );
    expect(done.json.artifacts).toEqual([{ ...art, createdAt: expect.any(String) }]);
    // A retried PATCH with the same status and artifact changes nothing.
    const again = await call("PATCH", `/v1/runs/${r.id}`, { body: { status: "succeeded", artifacts: [art] } });
    expectStatus(again, 200);
    expect(again.json.statusHistory).toHaveLength(3);
    expect(again.json.artifacts).toHaveLength(1);
  });

  it("refuses to move an ended run and to change its summary", async () => {
    const exp = await experiment();
    const r = await run(exp.id);
    expectStatus(await call("PATCH", `/v1/runs/${r.id}`, { body: { status: "cancelled" } }), 200);
    expectError(await call("PATCH", `/v1/runs/${r.id}`, { body: { status: "running" } }), 409, "CONFLICT");
    expectError(await call("PATCH", `/v1/runs/${r.id}`, { body: { summary: { x: 1 } } }), 409, "CONFLICT");
  });

  it("records the dataset hash when given a dataset id and refuses an unknown one", async () => {
    const exp = await experiment();
    const bad = await call("POST", `/v1/experiments/${exp.id}/runs`, { body: { kind: "sft", dataset: "ds_missing" } });
    expectError(bad, 400, "BAD_REQUEST");
    expect(bad.json.error.issues).toEqual([{ path: ["dataset"], message: "unknown dataset" }]);
  });

  it("validates run bodies and patches", async () => {
    const exp = await experiment();
    expectError(await call("POST", `/v1/experiments/${exp.id}/runs`, { body: { kind: "ppo" } }), 400, "BAD_REQUEST");
    const r = await run(exp.id);
    expectError(await call("PATCH", `/v1/runs/${r.id}`, { body: {} }), 400, "BAD_REQUEST");
    expectError(await call("PATCH", `/v1/runs/${r.id}`, { body: { status: "exploded" } }), 400, "BAD_REQUEST");
    expectError(await call("PATCH", "/v1/runs/run_missing", { body: { status: "running" } }), 404, "NOT_FOUND");
    expectError(await call("GET", "/v1/runs/run_missing"), 404, "NOT_FOUND");
  });

  it("requires a key on every run route", async () => {
    expectError(await call("GET", "/v1/runs", { key: null }), 401, "UNAUTHORIZED");
    expectError(await call("GET", "/v1/runs/run_x", { key: null }), 401, "UNAUTHORIZED");
    expectError(
      await call("PATCH", "/v1/runs/run_x", { key: "nope", body: { status: "running" } }),
      401,
      "UNAUTHORIZED",
    );
  });
});

describe("GET /v1/experiments/{id}/compare", () => {
  it("ranks runs by their best value and reports the last one, runs without the metric last", async () => {
    const exp = await experiment("compare");
    const series: Record<string, number[]> = { a: [0.1, 0.6, 0.4], b: [0.2, 0.3, 0.9], c: [0.5, 0.5] };
    const ids: Record<string, string> = {};
    for (const [name, values] of Object.entries(series)) {
      const r = await run(exp.id, { kind: "eval", name });
      ids[name] = r.id;
      const points = values.map((value, step) => ({ name: "eval/accuracy", step, value }));
      expectStatus(await call("POST", `/v1/runs/${r.id}/metrics`, { body: { points } }), 200);
    }
    const silent = await run(exp.id, { kind: "eval", name: "silent" });
    const max = await call("GET", `/v1/experiments/${exp.id}/compare?metric=eval/accuracy&mode=max`);
    expectStatus(max, 200);
    expect(max.json).toEqual({
      metric: "eval/accuracy",
      mode: "max",
      runs: [
        {
          rank: 1,
          runId: ids.b,
          name: "b",
          status: "queued",
          best: 0.9,
          bestStep: 2,
          last: 0.9,
          lastStep: 2,
          points: 3,
        },
        {
          rank: 2,
          runId: ids.a,
          name: "a",
          status: "queued",
          best: 0.6,
          bestStep: 1,
          last: 0.4,
          lastStep: 2,
          points: 3,
        },
        {
          rank: 3,
          runId: ids.c,
          name: "c",
          status: "queued",
          best: 0.5,
          bestStep: 0,
          last: 0.5,
          lastStep: 1,
          points: 2,
        },
        {
          rank: null,
          runId: silent.id,
          name: "silent",
          status: "queued",
          best: null,
          bestStep: null,
          last: null,
          lastStep: null,
          points: 0,
        },
      ],
    });
    const min = await call("GET", `/v1/experiments/${exp.id}/compare?metric=eval/accuracy&mode=min`);
    expect(min.json.runs.map((r: { name: string; best: number | null }) => [r.name, r.best])).toEqual([
      ["a", 0.1],
      ["b", 0.2],
      ["c", 0.5],
      ["silent", null],
    ]);
  });

  it("validates the query and answers 404 for an unknown experiment", async () => {
    const exp = await experiment();
    expectError(await call("GET", `/v1/experiments/${exp.id}/compare`), 400, "BAD_REQUEST");
    expectError(await call("GET", `/v1/experiments/${exp.id}/compare?metric=x&mode=best`), 400, "BAD_REQUEST");
    expectError(await call("GET", "/v1/experiments/exp_missing/compare?metric=x"), 404, "NOT_FOUND");
    expectError(await call("GET", `/v1/experiments/${exp.id}/compare?metric=x`, { key: null }), 401, "UNAUTHORIZED");
  });
});
