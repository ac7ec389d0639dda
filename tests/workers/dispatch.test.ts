import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, beforeEach, describe, expect, inject, it } from "vitest";
import { handleQueue, reconcile } from "../../functions/jobs";
import type { JobMessage } from "../../functions/lib/training";
import { call, createApiKey, expectError, expectStatus } from "./helpers";

// The Worker under test dispatches to a fake AWS Batch (tests/fakes/fake-batch.ts) that global setup
// started and vitest.config.ts named as its AWS_BATCH_ENDPOINT. Nothing of ours is stubbed.
const FAKE = inject("platformBatchUrl");
const GRADER = { type: "reward", name: "format-answer" };
let apiKey: string;
let datasetId: string;

async function control(method: string, path: string, body?: unknown): Promise<any> {
  const res = await fetch(`${FAKE}/__fake/${path}`, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) expect.fail(`fake control ${method} ${path}: HTTP ${res.status}: ${text}`);
  return JSON.parse(text);
}
const requests = async (op?: string) =>
  ((await control("GET", "requests")).requests as any[]).filter((r) => !op || r.operation === op);

async function until<T>(what: string, probe: () => Promise<T | undefined | null | false>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > end) expect.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const getRun = async (id: string) => (await call("GET", `/v1/runs/${id}`, { key: apiKey })).json;

async function createBatchRun(extra: Record<string, unknown> = {}) {
  const exp = await call("POST", "/v1/experiments", { body: { name: "dispatch" }, key: apiKey });
  const res = await call("POST", `/v1/experiments/${exp.json.id}/runs`, {
    key: apiKey,
    body: {
      kind: "rft",
      baseModel: "Qwen/Qwen2.5-0.5B-Instruct",
      dataset: datasetId,
      grader: GRADER,
      backend: "aws-batch",
      force: true,
      resources: { gpus: 2, vcpus: 16, memoryMib: 122_880, timeoutSeconds: 7200, attempts: 3 },
      ...extra,
    },
  });
  expectStatus(res, 201);
  return res.json as { id: string; experimentId: string };
}

beforeAll(async () => {
  apiKey = (await createApiKey("dispatch")).key;
  const rows = Array.from({ length: 10 }, (_, i) => JSON.stringify({ q: i, answer: i })).join("\n");
  const ds = await call("POST", "/v1/datasets", { raw: rows, headers: { "content-type": "application/x-ndjson" } });
  expectStatus(ds, 201);
  datasetId = ds.json.id;
});

beforeEach(async () => {
  await control("POST", "reset", {
    config: {
      region: env.AWS_REGION,
      credentials: { [env.AWS_ACCESS_KEY_ID]: env.AWS_SECRET_ACCESS_KEY },
      queues: [env.AWS_BATCH_JOB_QUEUE],
      definitions: [env.AWS_BATCH_JOB_DEFINITION],
    },
  });
});

describe("dispatch to AWS Batch through the queue", () => {
  it("submits the run with its queue, definition, variables, GPUs, retry strategy, timeout and tags", async () => {
    const run = await createBatchRun();
    const dispatched = await until("the job id", async () => {
      const r = await getRun(run.id);
      return r.jobId ? r : null;
    });
    expect(dispatched.status).toBe("dispatching");
    const [submit, ...more] = await requests("SubmitJob");
    expect(more).toEqual([]);
    const body = submit.body;
    expect(body).toMatchObject({
      jobQueue: "assay-gpu",
      jobDefinition: "assay-rft-trainer",
      timeout: { attemptDurationSeconds: 7200 },
      retryStrategy: { attempts: 3 },
      tags: { "assay:run": run.id, "assay:experiment": run.experimentId },
      propagateTags: true,
    });
    const envVars = Object.fromEntries(
      body.containerOverrides.environment.map((e: { name: string; value: string }) => [e.name, e.value]),
    );
    expect(envVars).toMatchObject({
      ASSAY_API_URL: env.ASSAY_API_URL,
      ASSAY_RUN_ID: run.id,
      ASSAY_RUN_TOKEN: expect.stringMatching(/^rt_/),
    });
    expect(body.containerOverrides.resourceRequirements).toEqual(
      expect.arrayContaining([
        { type: "GPU", value: "2" },
        { type: "VCPU", value: "16" },
        { type: "MEMORY", value: "122880" },
      ]),
    );
    expect(submit.headers.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDASSAYTEST0000001\//);
    // The token in the container's environment is the run's own.
    const hb = await call("POST", `/v1/runs/${run.id}/heartbeat`, { key: envVars.ASSAY_RUN_TOKEN, body: {} });
    expectStatus(hb, 200);
    expect((await getRun(run.id)).status).toBe("running");
  });

  it("submits dpo and eval runs that name aws-batch the same way, each with its own run token", async () => {
    const exp = await call("POST", "/v1/experiments", { body: { name: "dispatch kinds" }, key: apiKey });
    const pairs = Array.from({ length: 8 }, (_, i) =>
      JSON.stringify({ prompt: `p${i}`, chosen: "a", rejected: "b", answer: "a" }),
    );
    const ds = await call("POST", "/v1/datasets", {
      raw: pairs.join("\n"),
      headers: { "content-type": "application/x-ndjson" },
    });
    const ids: string[] = [];
    for (const body of [
      { kind: "dpo", baseModel: "Qwen/Qwen2.5-0.5B-Instruct", dataset: ds.json.id, hyperparams: { beta: 0.1 } },
      {
        kind: "eval",
        model: { baseModel: "Qwen/Qwen2.5-0.5B-Instruct" },
        dataset: ds.json.id,
        grader: GRADER,
        split: "train",
      },
    ]) {
      const res = await call("POST", `/v1/experiments/${exp.json.id}/runs`, {
        key: apiKey,
        body: { ...body, backend: "aws-batch", resources: { gpus: 1 } },
      });
      expectStatus(res, 201);
      ids.push(res.json.id);
    }
    for (const id of ids) await until(`the job id of ${id}`, async () => (await getRun(id)).jobId);
    const submits = await requests("SubmitJob");
    const runIds = submits.map(
      (s) => s.body.containerOverrides.environment.find((e: { name: string }) => e.name === "ASSAY_RUN_ID").value,
    );
    expect(runIds.sort()).toEqual([...ids].sort());
    for (const s of submits) {
      expect(s.body.containerOverrides.resourceRequirements).toEqual(
        expect.arrayContaining([{ type: "GPU", value: "1" }]),
      );
    }
  });

  it("retries throttling and then succeeds", async () => {
    await control("POST", "script", { operation: "SubmitJob", failures: [{ kind: "throttle" }, { kind: "throttle" }] });
    const run = await createBatchRun();
    await until("the job id", async () => (await getRun(run.id)).jobId);
    expect((await requests("SubmitJob")).map((r) => r.status)).toEqual([429, 429, 200]);
  });

  it("records a permanent failure on the run with AWS's message", async () => {
    await control("POST", "script", {
      operation: "SubmitJob",
      failures: [{ kind: "client", message: "Job definition is INACTIVE" }],
    });
    const run = await createBatchRun();
    const failed = await until("the failure", async () => {
      const r = await getRun(run.id);
      return r.status === "failed" ? r : null;
    });
    expect(failed.error).toContain("Job definition is INACTIVE");
    expect(failed.statusHistory.at(-1).reason).toContain("dispatch failed");
    expect(await requests("SubmitJob")).toHaveLength(1);
  });

  it("terminates the job when the run is cancelled", async () => {
    const run = await createBatchRun();
    const { jobId } = await until("the job id", async () => {
      const r = await getRun(run.id);
      return r.jobId ? r : null;
    });
    const cancelled = await call("POST", `/v1/runs/${run.id}/cancel`, {
      key: apiKey,
      body: { reason: "wrong base model" },
    });
    expectStatus(cancelled, 200);
    const [terminate] = await until("TerminateJob", async () => {
      const t = await requests("TerminateJob");
      return t.length ? t : null;
    });
    expect(terminate.body).toEqual({ jobId, reason: "wrong base model" });
  });

  it("terminates a stopped run's job that has not exited after the grace period", async () => {
    const run = await createBatchRun({ earlyStopping: [{ metric: "loss", mode: "min", patience: 1 }] });
    const { jobId } = await until("the job id", async () => {
      const r = await getRun(run.id);
      return r.jobId ? r : null;
    });
    const token = (await requests("SubmitJob"))[0].body.containerOverrides.environment.find(
      (e: any) => e.name === "ASSAY_RUN_TOKEN",
    ).value;
    const points = [
      { name: "loss", step: 0, value: 1 },
      { name: "loss", step: 1, value: 2 },
    ];
    const res = await call("POST", `/v1/runs/${run.id}/metrics`, { key: token, body: { points } });
    expect(res.json.stop).toBe(true);
    // The delayed terminate message, delivered now instead of after the grace period.
    const batch = createMessageBatch<JobMessage>("assay-jobs", [
      {
        id: "m1",
        timestamp: new Date(),
        attempts: 1,
        body: { type: "terminate", runId: run.id, reason: res.json.stopReason },
      },
    ]);
    const ctx = createExecutionContext();
    await handleQueue(batch, env);
    expect((await getQueueResult(batch, ctx)).explicitAcks).toEqual(["m1"]);
    const terminates = await requests("TerminateJob");
    expect(terminates.map((t) => t.body)).toContainEqual({ jobId, reason: res.json.stopReason });
  });
});

describe("reconciliation against DescribeJobs", () => {
  it("fails a run whose job ended without the container completing it, and one whose heartbeat stopped", async () => {
    const crashed = await createBatchRun();
    const silent = await createBatchRun({ limits: { heartbeatTimeoutSeconds: 60 } });
    const [a, b] = await Promise.all(
      [crashed, silent].map((r) => until("job ids", async () => (await getRun(r.id)).jobId as string | null)),
    );
    await control("POST", `jobs/${encodeURIComponent(a!)}`, {
      status: "FAILED",
      statusReason: "Host EC2 (instance i-0abc) terminated.",
    });
    await reconcile(env);
    const failed = await getRun(crashed.id);
    expect(failed.status).toBe("failed");
    expect(failed.statusHistory.at(-1).reason).toMatch(/^AWS Batch job FAILED: Host EC2/);
    expect((await getRun(silent.id)).status).toBe("dispatching");
    await reconcile(env, Date.now() + 120_000);
    expect((await getRun(silent.id)).status).toBe("failed");
    expect((await requests("TerminateJob")).map((t) => t.body.jobId)).toContain(b);
  });
});

describe("sweeps", () => {
  it("creates one run per grid point and submits them as one array job", async () => {
    const exp = await call("POST", "/v1/experiments", { body: { name: "sweep" }, key: apiKey });
    const res = await call("POST", `/v1/experiments/${exp.json.id}/sweeps`, {
      key: apiKey,
      body: {
        name: "lr-x-group",
        base: { baseModel: "m", dataset: datasetId, grader: GRADER, backend: "aws-batch", force: true },
        search: {
          method: "grid",
          parameters: { "hyperparams.learningRate": [1e-5, 3e-5], "hyperparams.groupSize": [4, 8] },
          maxRuns: 10,
        },
        metric: "reward/mean",
      },
    });
    expectStatus(res, 201);
    expect(res.json.runs).toHaveLength(4);
    expect(res.json.runs.map((r: any) => [r.index, r.point])).toEqual(
      expect.arrayContaining([
        [0, { "hyperparams.groupSize": 4, "hyperparams.learningRate": 1e-5 }],
        [3, { "hyperparams.groupSize": 8, "hyperparams.learningRate": 3e-5 }],
      ]),
    );
    const [submit] = await until("the array job", async () => {
      const s = await requests("SubmitJob");
      return s.length ? s : null;
    });
    expect(submit.body.arrayProperties).toEqual({ size: 4 });
    const vars = Object.fromEntries(submit.body.containerOverrides.environment.map((e: any) => [e.name, e.value]));
    const ids = (vars.ASSAY_RUN_ID as string).split(",");
    expect(ids).toHaveLength(4);
    for (const [i, id] of ids.entries()) {
      const r = await getRun(id);
      expect(r.sweepId).toBe(res.json.id);
      expect(r.params.learningRate).toBe(
        res.json.runs.find((x: any) => x.index === i).point["hyperparams.learningRate"],
      );
    }
    const sweep = await until("the sweep's job id", async () => {
      const s = await call("GET", `/v1/sweeps/${res.json.id}`, { key: apiKey });
      return s.json.jobId ? s.json : null;
    });
    expect(sweep).toMatchObject({ metric: "reward/mean", mode: "max", backend: "aws-batch" });
  });

  it("ranks a sweep's runs by a metric and validates the search space", async () => {
    const exp = await call("POST", "/v1/experiments", { body: { name: "sweep-rank" }, key: apiKey });
    const res = await call("POST", `/v1/experiments/${exp.json.id}/sweeps`, {
      key: apiKey,
      body: {
        base: { baseModel: "m", dataset: datasetId, grader: GRADER, backend: "local", force: true },
        search: {
          method: "random",
          parameters: { "hyperparams.learningRate": { min: 1e-6, max: 1e-4, scale: "log" } },
          maxRuns: 3,
          seed: 7,
        },
      },
    });
    expectStatus(res, 201);
    const lrs = res.json.runs.map((r: any) => r.point["hyperparams.learningRate"]);
    for (const lr of lrs) expect(lr).toBeGreaterThanOrEqual(1e-6);
    const values = [0.2, 0.9, 0.5];
    for (const r of res.json.runs) {
      await call("POST", `/v1/runs/${r.runId}/metrics`, {
        key: apiKey,
        body: { points: [{ name: "eval/acc", step: 0, value: values[r.index] }] },
      });
    }
    const ranked = await call("GET", `/v1/sweeps/${res.json.id}?metric=eval/acc&mode=max`, { key: apiKey });
    expect(ranked.json.runs.map((r: any) => [r.rank, r.index, r.best])).toEqual([
      [1, 1, 0.9],
      [2, 2, 0.5],
      [3, 0, 0.2],
    ]);
    const bad = await call("POST", `/v1/experiments/${exp.json.id}/sweeps`, {
      key: apiKey,
      body: {
        base: { baseModel: "m", dataset: datasetId, grader: GRADER, force: true },
        search: { method: "grid", parameters: { "grader.name": ["x"] } },
      },
    });
    expectError(bad, 400, "BAD_REQUEST");
    const outOfRange = await call("POST", `/v1/experiments/${exp.json.id}/sweeps`, {
      key: apiKey,
      body: {
        base: { baseModel: "m", dataset: datasetId, grader: GRADER, force: true },
        search: { method: "grid", parameters: { "hyperparams.learningRate": [1e-5, 5] } },
      },
    });
    expectError(outOfRange, 400, "BAD_REQUEST");
    expect(outOfRange.json.error.message).toContain("point 1");
    expectError(await call("GET", "/v1/sweeps/swp_missing", { key: apiKey }), 404, "NOT_FOUND");
  });
});
