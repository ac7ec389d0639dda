import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { reconcile } from "../../functions/jobs";
import { call, createApiKey, expectError, expectStatus } from "./helpers";

const GRADER = { type: "reward", name: "format-answer" };
const good = (a: string | number) => `<think>t</think><answer>${a}</answer>`;

let datasetId: string;
let apiKey: string;

async function certify() {
  const samples = Array.from({ length: 12 }, (_, i) => ({
    completion: good(i % 2 ? 1 : 2),
    item: { answer: 1 },
    group: i % 3,
  }));
  const res = await call("POST", "/v1/graders/preflight", { body: { grader: GRADER, samples } });
  expectStatus(res, 200);
  expect(res.json.verdict).toBe("pass");
}

async function experiment() {
  const res = await call("POST", "/v1/experiments", { body: { name: "training" }, key: apiKey });
  expectStatus(res, 201);
  return res.json.id as string;
}

function spec(extra: Record<string, unknown> = {}) {
  return { kind: "rft", baseModel: "tiny-policy", dataset: datasetId, grader: GRADER, backend: "local", ...extra };
}

async function createRun(extra: Record<string, unknown> = {}) {
  const res = await call("POST", `/v1/experiments/${await experiment()}/runs`, { body: spec(extra), key: apiKey });
  expectStatus(res, 201);
  return res.json;
}

/** Creates a local rft run and claims it the way the runner does; returns its id and token. */
async function claimedRun(extra: Record<string, unknown> = {}) {
  const run = await createRun(extra);
  for (;;) {
    const claim = await call("POST", "/v1/runner/claim", { body: { runner: "test" }, key: apiKey });
    expectStatus(claim, 200);
    expect(claim.json.run).not.toBeNull();
    if (claim.json.run.id === run.id) return { id: run.id as string, token: claim.json.token as string };
  }
}

beforeAll(async () => {
  apiKey = (await createApiKey("training")).key;
  const rows = Array.from({ length: 40 }, (_, i) => JSON.stringify({ question: `${i}+1`, answer: i + 1 })).join("\n");
  const res = await call("POST", "/v1/datasets?name=demo", {
    raw: rows,
    headers: { "content-type": "application/x-ndjson" },
  });
  expectStatus(res, 201);
  datasetId = res.json.id;
});

describe("creating an rft run", () => {
  it("refuses dispatch without a passing certificate unless forced", async () => {
    const exp = await experiment();
    const grader = { type: "reward", name: "structured-output" };
    const refused = await call("POST", `/v1/experiments/${exp}/runs`, { body: spec({ grader }), key: apiKey });
    expectError(refused, 409, "CONFLICT");
    expect(refused.json.error.reasons).toEqual([expect.stringContaining("no pre-flight certificate")]);
    const forced = await call("POST", `/v1/experiments/${exp}/runs`, {
      body: spec({ grader, force: true }),
      key: apiKey,
    });
    expectStatus(forced, 201);
    expect(forced.json).toMatchObject({
      kind: "rft",
      status: "queued",
      backend: "local",
      grader: expect.stringMatching(/^structured-output@/),
    });
  });

  it("pins the grader version, records the dataset hash and applies defaults", async () => {
    await certify();
    const run = await createRun({ hyperparams: { learningRate: 2e-5, groupSize: 4 } });
    expect(run).toMatchObject({
      kind: "rft",
      status: "queued",
      grader: expect.stringMatching(/^format-answer@[0-9a-f]{12}$/),
      dataset: { id: datasetId, sha256: expect.stringMatching(/^[0-9a-f]{64}$/) },
      baseModel: "tiny-policy",
      params: expect.objectContaining({ learningRate: 2e-5, groupSize: 4, batchSize: 16, klBeta: 0.04 }),
    });
  });

  it("validates the whole spec", async () => {
    await certify();
    const exp = await experiment();
    for (const [bad, path] of [
      [{ hyperparams: { learningRate: 1 } }, ["hyperparams", "learningRate"]],
      [{ hyperparams: { groupSize: 1 } }, ["hyperparams", "groupSize"]],
      [{ backend: "gcp" }, ["backend"]],
      [{ earlyStopping: [{ metric: "reward/mean", mode: "up", patience: 3 }] }, ["earlyStopping", 0, "mode"]],
      [{ dataset: "ds_missing" }, ["dataset"]],
      [{ grader: { type: "reward", name: "nope" } }, ["grader", "name"]],
    ] as const) {
      const res = await call("POST", `/v1/experiments/${exp}/runs`, { body: spec(bad), key: apiKey });
      expectError(res, 400, "BAD_REQUEST");
      expect(res.json.error.issues.map((i: { path: unknown[] }) => i.path)).toContainEqual(path);
    }
  });
});

describe("the container protocol", () => {
  it("serves the spec and the dataset rows to the run's token", async () => {
    await certify();
    const { id, token } = await claimedRun();
    const spec = await call("GET", `/v1/runs/${id}/spec`, { key: token });
    expectStatus(spec, 200);
    expect(spec.json).toMatchObject({
      runId: id,
      baseModel: "tiny-policy",
      grader: { ref: expect.stringMatching(/^format-answer@/), config: GRADER },
      dataset: { id: datasetId, rows: 40, trainRows: `/v1/runs/${id}/dataset/rows?split=train` },
    });
    const rows = await call("GET", `${spec.json.dataset.trainRows}&limit=1000`, { key: token });
    expectStatus(rows, 200);
    const holdout = await call("GET", `${spec.json.dataset.holdoutRows}&limit=1000`, { key: token });
    expect(rows.json.data.length + holdout.json.data.length).toBe(40);
  });

  it("scopes run tokens to their own run and refuses API keys on container endpoints", async () => {
    await certify();
    const a = await claimedRun();
    const b = await claimedRun();
    expectError(await call("GET", `/v1/runs/${a.id}/spec`, { key: b.token }), 401, "UNAUTHORIZED");
    expectError(await call("GET", `/v1/runs/${a.id}/spec`, { key: apiKey }), 403, "FORBIDDEN");
    expectError(await call("POST", `/v1/runs/${a.id}/heartbeat`, { key: apiKey, body: {} }), 403, "FORBIDDEN");
    expectError(await call("GET", `/v1/runs/${a.id}`, { key: a.token }), 403, "FORBIDDEN");
    expectError(await call("GET", "/v1/experiments", { key: a.token }), 403, "FORBIDDEN");
    expectError(await call("GET", `/v1/runs/${a.id}/spec`, { key: "rt_forged" }), 401, "UNAUTHORIZED");
    // The run's own token works on its metrics.
    const m = await call("POST", `/v1/runs/${a.id}/metrics`, {
      key: a.token,
      body: { points: [{ name: "loss", step: 0, value: 1 }] },
    });
    expectStatus(m, 200);
  });

  it("moves the run to running on the first heartbeat", async () => {
    await certify();
    const { id, token } = await claimedRun();
    const hb = await call("POST", `/v1/runs/${id}/heartbeat`, { key: token, body: { step: 0 } });
    expectStatus(hb, 200);
    expect(hb.json).toEqual({ stop: false });
    const run = await call("GET", `/v1/runs/${id}`, { key: apiKey });
    expect(run.json.status).toBe("running");
    expect(run.json.statusHistory.map((h: { status: string }) => h.status)).toEqual([
      "queued",
      "dispatching",
      "running",
    ]);
  });

  it("scores rewards with the pinned grader and records per-step telemetry once per batch", async () => {
    await certify();
    const { id, token } = await claimedRun();
    const samples = [
      { completion: good(1), item: { answer: 1 }, group: 0 },
      { completion: good(2), item: { answer: 1 }, group: 0 },
      { completion: good(1), item: { answer: 1 }, group: 1 },
      { completion: good(1), item: { answer: 1 }, group: 1 },
      { completion: good(1), item: {}, group: 2 },
    ];
    const first = await call("POST", `/v1/runs/${id}/rewards`, { key: token, body: { step: 3, samples } });
    expectStatus(first, 200);
    expect(first.json.results.map((r: { score: number; valid: boolean }) => [r.score, r.valid])).toEqual([
      [1, true],
      [0, true],
      [1, true],
      [1, true],
      [0, false],
    ]);
    expect(first.json.stop).toBe(false);
    // A retry of the same batch is recorded once.
    expectStatus(await call("POST", `/v1/runs/${id}/rewards`, { key: token, body: { step: 3, samples } }), 200);
    const metrics = await call("GET", `/v1/runs/${id}/metrics`, { key: apiKey });
    const at = (name: string) => metrics.json.series.find((s: { name: string }) => s.name === name)?.points;
    expect(at("reward/mean")).toEqual([{ step: 3, value: 0.75, ts: expect.any(String) }]);
    expect(at("reward/std")[0].value).toBeCloseTo(Math.sqrt(0.75 - 0.75 ** 2), 12);
    expect(at("reward/invalid_rate")[0].value).toBeCloseTo(0.2, 12);
    expect(at("reward/samples")[0].value).toBe(5);
    expect(at("frac_reward_zero_std")[0].value).toBe(0.5);
    expect(at("rewards/correct/mean")[0].value).toBe(0.75);
    expect(at("verifier/latency_p99_ms")[0].value).toBeGreaterThanOrEqual(0);
    // A second batch of the same step updates the step's aggregate.
    await call("POST", `/v1/runs/${id}/rewards`, {
      key: token,
      body: { step: 3, samples: [{ completion: good(2), item: { answer: 1 } }] },
    });
    const again = await call("GET", `/v1/runs/${id}/metrics?name=reward/mean,reward/samples`, { key: apiKey });
    expect(
      again.json.series.map((s: { name: string; points: { value: number }[] }) => [s.name, s.points[0]!.value]),
    ).toEqual([
      ["reward/mean", 0.6],
      ["reward/samples", 6],
    ]);
  });

  it("stops a run whose metric stops improving, and completes it as stopped", async () => {
    await certify();
    const { id, token } = await claimedRun({
      earlyStopping: [{ metric: "eval/acc", mode: "max", patience: 2, minDelta: 0.01 }],
    });
    const post = (step: number, value: number) =>
      call("POST", `/v1/runs/${id}/metrics`, { key: token, body: { points: [{ name: "eval/acc", step, value }] } });
    expect((await post(0, 0.5)).json.stop).toBe(false);
    expect((await post(1, 0.6)).json.stop).toBe(false);
    expect((await post(2, 0.605)).json.stop).toBe(false);
    const fired = await post(3, 0.59);
    expect(fired.json).toEqual({
      accepted: 1,
      duplicates: 0,
      stop: true,
      stopReason: "early stopping: eval/acc has not improved by more than 0.01 for 2 reports (best 0.6 at step 1, max)",
    });
    const hb = await call("POST", `/v1/runs/${id}/heartbeat`, { key: token, body: {} });
    expect(hb.json).toEqual({ stop: true, stopReason: fired.json.stopReason });
    const artifact = { kind: "adapter", uri: `r2://assay-blobs/artifacts/${id}/adapter.json` };
    const done = await call("POST", `/v1/runs/${id}/complete`, {
      key: token,
      body: { status: "succeeded", artifacts: [artifact] },
    });
    expectStatus(done, 200);
    expect(done.json).toMatchObject({ status: "stopped", stopRequested: true, stopReason: fired.json.stopReason });
    expect(done.json.artifacts).toEqual([{ ...artifact, createdAt: expect.any(String) }]);
    // A retried complete answers the same and changes nothing; the token no longer works elsewhere.
    const retry = await call("POST", `/v1/runs/${id}/complete`, { key: token, body: { status: "failed" } });
    expectStatus(retry, 200);
    expect(retry.json).toEqual(done.json);
    expectError(await call("POST", `/v1/runs/${id}/heartbeat`, { key: token, body: {} }), 401, "UNAUTHORIZED");
    expectError(await post(4, 0.7), 401, "UNAUTHORIZED");
  });

  it("stops on limits and on the reward-hacking alarm", async () => {
    await certify();
    const limited = await claimedRun({ limits: { maxSteps: 5 } });
    const res = await call("POST", `/v1/runs/${limited.id}/metrics`, {
      key: limited.token,
      body: { points: [{ name: "loss", step: 5, value: 1 }] },
    });
    expect(res.json.stopReason).toBe("limit: step 5 reached maxSteps 5");
    const hacked = await claimedRun({
      hackingAlarm: { trainMetric: "reward/mean", holdoutMetric: "holdout/score", window: 3 },
    });
    const points = [0, 1, 2].flatMap((step) => [
      { name: "reward/mean", step, value: 0.5 + step * 0.1 },
      { name: "holdout/score", step, value: 0.5 - step * 0.1 },
    ]);
    const alarm = await call("POST", `/v1/runs/${hacked.id}/metrics`, { key: hacked.token, body: { points } });
    expect(alarm.json.stop).toBe(true);
    expect(alarm.json.stopReason).toMatch(/^reward-hacking alarm: reward\/mean rising .* while holdout\/score falls/);
  });

  it("stores an uploaded artifact in R2", async () => {
    await certify();
    const { id, token } = await claimedRun();
    const bytes = new TextEncoder().encode(JSON.stringify({ weights: [1, 2, 3] }));
    const res = await call("PUT", `/v1/runs/${id}/artifacts/adapter.json`, {
      key: token,
      raw: bytes,
      headers: { "content-type": "application/octet-stream", "content-length": String(bytes.length) },
    });
    expectStatus(res, 201);
    expect(res.json).toEqual({
      uri: `r2://assay-blobs/artifacts/${id}/adapter.json`,
      bytes: bytes.length,
      etag: expect.any(String),
    });
    const obj = await env.BLOBS.get(`artifacts/${id}/adapter.json`);
    expect(await obj?.text()).toBe(JSON.stringify({ weights: [1, 2, 3] }));
  });
});

describe("runner, cancel and reconciliation", () => {
  it("answers run: null when nothing is queued for the local runner", async () => {
    for (;;) {
      const claim = await call("POST", "/v1/runner/claim", { body: {}, key: apiKey });
      if (claim.json.run === null) break;
    }
    const none = await call("POST", "/v1/runner/claim", { body: {}, key: apiKey });
    expect(none.json).toEqual({ run: null });
  });

  it("cancels a queued run and refuses to cancel an ended one", async () => {
    await certify();
    const run = await createRun();
    const cancelled = await call("POST", `/v1/runs/${run.id}/cancel`, {
      body: { reason: "changed my mind" },
      key: apiKey,
    });
    expectStatus(cancelled, 200);
    expect(cancelled.json).toMatchObject({ status: "cancelled", stopRequested: true, stopReason: "changed my mind" });
    expectStatus(await call("POST", `/v1/runs/${run.id}/cancel`, { body: {}, key: apiKey }), 200);
    const { id, token } = await claimedRun();
    await call("POST", `/v1/runs/${id}/complete`, { key: token, body: { status: "failed", error: "oom" } });
    expectError(await call("POST", `/v1/runs/${id}/cancel`, { body: {}, key: apiKey }), 409, "CONFLICT");
  });

  it("marks a run failed when its heartbeat is older than its timeout", async () => {
    await certify();
    const { id, token } = await claimedRun({ limits: { heartbeatTimeoutSeconds: 60 } });
    await call("POST", `/v1/runs/${id}/heartbeat`, { key: token, body: {} });
    await reconcile(env, Date.now() + 30_000);
    expect((await call("GET", `/v1/runs/${id}`, { key: apiKey })).json.status).toBe("running");
    await reconcile(env, Date.now() + 61_000);
    const run = await call("GET", `/v1/runs/${id}`, { key: apiKey });
    expect(run.json.status).toBe("failed");
    expect(run.json.statusHistory.at(-1).reason).toMatch(/^no heartbeat for \d+ s \(timeout 60 s\)/);
    expectError(await call("POST", `/v1/runs/${id}/heartbeat`, { key: token, body: {} }), 401, "UNAUTHORIZED");
  });
});
