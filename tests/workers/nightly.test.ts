import { env } from "cloudflare:workers";
import { eq } from "drizzle-orm";
import { Webhook } from "standardwebhooks";
import { describe, expect, inject, it } from "vitest";
import { createDb } from "../../db/client";
import { eventDeliveries } from "../../db/schema";
import { runCron } from "../../functions/cron";
import { deliver } from "../../functions/lib/events";
import { NIGHTLY, nightOf, runNightlyEvaluations, settleNight } from "../../functions/lib/nightly";
import { call, expectError, expectStatus } from "./helpers";
import { createKey, createProject } from "./projects-helpers";

const db = createDb(env.DB);
const DAY = 86_400_000;
const RECEIVER = inject("webhookReceiverUrl");
const BATCH = inject("platformBatchUrl");
const TOPICS = ["cooking", "music", "sports", "weather"];
const GRADER = {
  type: "string_check",
  name: "exact",
  input: "{{sample.output_text}}",
  reference: "{{item.answer}}",
  operation: "eq",
};

type Row = Record<string, unknown> & { id: string };
const nightAt = (t: number) => new Date(t).toISOString().slice(0, 10);

let counter = 0;
async function upload(n: number, holdout = 0.3, fixedTag?: string) {
  // Deterministic content, so that every run splits the holdout the same way (the split hashes each row).
  const tag = fixedTag ?? `n${++counter}`;
  const rows = Array.from({ length: n }, (_, i) => ({
    id: `${tag}-${i}`,
    prompt: `message ${i} about ${TOPICS[i % 4]}`,
    completion: TOPICS[i % 4],
    answer: TOPICS[i % 4],
  }));
  const res = await call("POST", `/v1/datasets?name=${tag}&holdout=${holdout}`, {
    raw: rows.map((r) => JSON.stringify(r)).join("\n"),
    headers: { "content-type": "application/x-ndjson" },
  });
  expectStatus(res, 201);
  return res.json as { id: string; splits: { train: number; holdout: number } };
}

/** Run tokens of the runs this file claimed: the runner hands out the oldest queued run first. */
const tokens = new Map<string, string>();
async function tokenOf(runId: string): Promise<string> {
  while (!tokens.has(runId)) {
    const claim = await call("POST", "/v1/runner/claim", { body: { runner: "nightly-test" } });
    expectStatus(claim, 200);
    if (!claim.json.run) throw new Error(`run ${runId} was never claimable`);
    tokens.set(claim.json.run.id, claim.json.token);
  }
  return tokens.get(runId)!;
}

/** An experiment whose champion is a finished sft run (with an adapter) trained on `dataset`, monitored nightly. */
async function monitoredChampion(dataset: string, monitoring: Record<string, unknown> = {}) {
  const exp = await call("POST", "/v1/experiments", { body: { name: `nightly-${++counter}` } });
  expectStatus(exp, 201);
  const experimentId = exp.json.id as string;
  const run = await call("POST", `/v1/experiments/${experimentId}/runs`, {
    body: { kind: "sft", baseModel: "cpu/bag-of-words", dataset, backend: "local" },
  });
  expectStatus(run, 201);
  const runId = run.json.id as string;
  const token = await tokenOf(runId);
  const bytes = new TextEncoder().encode(JSON.stringify({ format: "assay-cpu-policy/v1", runId }));
  const put = await call("PUT", `/v1/runs/${runId}/artifacts/adapter.json`, {
    key: token,
    raw: bytes,
    headers: { "content-type": "application/octet-stream", "content-length": String(bytes.length) },
  });
  expectStatus(put, 201);
  const done = await call("POST", `/v1/runs/${runId}/complete`, {
    key: token,
    body: { status: "succeeded", artifacts: [{ kind: "adapter", uri: put.json.uri }] },
  });
  expectStatus(done, 200);
  expectStatus(
    await call("PUT", `/v1/experiments/${experimentId}/champion`, { body: { run: runId, reason: "first" } }),
    200,
  );
  const mon = await call("PUT", `/v1/experiments/${experimentId}/monitoring`, {
    body: { nightlyAtUtc: "00:00", evalGrader: GRADER, alertMargin: 0.05, ...monitoring },
  });
  expectStatus(mon, 200);
  return { experimentId, championRunId: runId };
}

async function holdoutRows(datasetId: string): Promise<Row[]> {
  const res = await call("GET", `/v1/datasets/${datasetId}/rows?split=holdout&limit=1000`);
  expectStatus(res, 200);
  return res.json.data;
}

/**
 * Plays the local backend's evaluator (what `npm run runner` does with the container's evaluator): claims the
 * eval run, answers every holdout item (right when `right(i)`), posts the answers with their item ids, completes.
 */
async function playEval(runId: string, right: (i: number) => boolean, status: "succeeded" | "failed" = "succeeded") {
  const token = await tokenOf(runId);
  const run = await call("GET", `/v1/runs/${runId}`);
  expectStatus(run, 200);
  const rows = await holdoutRows(run.json.spec.dataset);
  const samples = rows.map((row, i) => ({
    completion: right(i) ? String(row.answer) : "wrong",
    item: row,
    itemId: row.id,
  }));
  if (status === "succeeded") {
    expectStatus(await call("POST", `/v1/runs/${runId}/rewards`, { key: token, body: { step: 1, samples } }), 200);
  }
  const done = await call("POST", `/v1/runs/${runId}/complete`, {
    key: token,
    body: { status, ...(status === "failed" ? { error: "evaluator crashed (test)" } : {}) },
  });
  expectStatus(done, 200);
}

async function series(experimentId: string, query = "") {
  const res = await call("GET", `/v1/experiments/${experimentId}/evaluations${query}`);
  expectStatus(res, 200);
  return res.json as { data: any[]; nextCursor: string | null };
}

async function evalRunsOf(experimentId: string) {
  const res = await call("GET", `/v1/runs?experiment=${experimentId}&limit=100`);
  expectStatus(res, 200);
  return (res.json.data as { id: string; kind: string }[]).filter((r) => r.kind === "eval");
}

async function until<T>(what: string, probe: () => Promise<T | undefined | null | false>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > end) expect.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const deliveriesOfType = (type: string) => db.select().from(eventDeliveries).where(eq(eventDeliveries.type, type));

describe("the nightly window", () => {
  it("places a time in its UTC night and says whether the configured time has passed", () => {
    expect(nightOf(Date.UTC(2026, 11, 3, 1, 59), "02:00")).toEqual({ night: "2026-12-03", due: false });
    expect(nightOf(Date.UTC(2026, 11, 3, 2, 0), "02:00")).toEqual({ night: "2026-12-03", due: true });
    expect(nightOf(Date.UTC(2026, 11, 3, 23, 59), "02:00")).toEqual({ night: "2026-12-03", due: true });
  });
});

describe("nightly evaluation of the champion through the cron", () => {
  it("dispatches one eval run of the champion on its frozen holdout, however often the cron runs that night, and appends its score", async () => {
    const ds = await upload(60);
    const { experimentId, championRunId } = await monitoredChampion(ds.id);
    const now = Date.now();
    await runCron(env, now);
    await runCron(env, now + 1_000);
    const first = await series(experimentId);
    expect(first.data).toHaveLength(1);
    const point = first.data[0];
    expect(point).toMatchObject({
      night: nightAt(now),
      status: "dispatched",
      reason: null,
      runStatus: "queued",
      champion: { run: championRunId, baseModel: "cpu/bag-of-words" },
      dataset: ds.id,
      grader: { id: "exact", version: expect.stringMatching(/^string_check#[0-9a-f]{12}$/) },
      backend: "local",
      mean: null,
      regressed: false,
    });
    const evalRun = await call("GET", `/v1/runs/${point.runId}`);
    expectStatus(evalRun, 200);
    expect(evalRun.json).toMatchObject({
      kind: "eval",
      status: "queued",
      backend: "local",
      parentRunId: championRunId,
    });
    expect(evalRun.json.spec).toMatchObject({
      model: { baseModel: "cpu/bag-of-words", adapterOf: championRunId },
      dataset: ds.id,
      split: "holdout",
      grader: GRADER,
      samplesPerItem: 1,
    });
    // Three right answers in four: the run's end queues the settling, and the queue consumer settles it.
    await playEval(point.runId, (i) => i % 4 !== 3);
    const settled = await until("the night to settle through the queue", async () => {
      const s = await series(experimentId);
      return s.data[0]?.status === "succeeded" ? s.data[0] : null;
    });
    const n = ds.splits.holdout;
    const right = Array.from({ length: n }, (_, i) => (i % 4 !== 3 ? 1 : 0)).reduce<number>((a, b) => a + b, 0);
    expect(settled).toEqual({
      ...point,
      status: "succeeded",
      runStatus: "succeeded",
      mean: right / n,
      n,
      kpis: { mean: right / n, n, items: n, invalidItems: 0, holdoutItems: n },
      graderChanged: false,
      previous: null,
      comparison: null,
      comparisonNote: "the first evaluation of the series: nothing to compare with",
      finishedAt: expect.any(String),
    });
    // The same night again, by the cron and by a redelivered settle message: nothing new.
    await runCron(env, now + 60_000);
    expect(await settleNight(db, env, point.id)).toBe("succeeded");
    expect((await series(experimentId)).data).toEqual([settled]);
    expect((await evalRunsOf(experimentId)).map((r) => r.id)).toEqual([point.runId]);
  });

  it("starts one evaluation per champion per night when crons overlap", async () => {
    const ds = await upload(40);
    const { experimentId } = await monitoredChampion(ds.id);
    const calls: string[] = [];
    const real = NIGHTLY.evaluate;
    NIGHTLY.evaluate = async (d, e, job, t) => {
      if (job.experimentId === experimentId) calls.push(job.night);
      return real(d, e, job, t);
    };
    try {
      const now = Date.now();
      await Promise.all([runCron(env, now), runCron(env, now + 10), runNightlyEvaluations(env, db, now + 20)]);
    } finally {
      NIGHTLY.evaluate = real;
    }
    expect(calls).toEqual([nightAt(Date.now())]);
    const s = await series(experimentId);
    expect(s.data.map((p) => p.status)).toEqual(["dispatched"]);
    expect((await evalRunsOf(experimentId)).map((r) => r.id)).toEqual([s.data[0].runId]);
    // A failed eval run is a failed night, with the reason.
    await playEval(s.data[0].runId, () => true, "failed");
    await runCron(env, Date.now());
    expect((await series(experimentId)).data[0]).toMatchObject({
      status: "failed",
      runStatus: "failed",
      reason: `the eval run ${s.data[0].runId} ended failed: evaluator crashed (test)`,
      mean: null,
      regressed: false,
    });
  });

  it("dispatches a claimed night again under its reserved run id when the claimer failed before creating the run", async () => {
    const ds = await upload(40);
    const { experimentId } = await monitoredChampion(ds.id);
    const real = NIGHTLY.evaluate;
    // The claim lands, then storage fails before the eval run is created (as a crash there would leave it).
    NIGHTLY.evaluate = async (d, e, job, t) => {
      if (job.experimentId === experimentId) throw new Error("D1_ERROR: storage unavailable (test)");
      return real(d, e, job, t);
    };
    const now = Date.now();
    try {
      await runNightlyEvaluations(env, db, now);
    } finally {
      NIGHTLY.evaluate = real;
    }
    const [pending] = (await series(experimentId)).data;
    expect(pending).toMatchObject({ status: "pending", reason: "claimed", runStatus: null });
    // Within the retry delay nothing happens; after it the same night is dispatched with the reserved id.
    await runNightlyEvaluations(env, db, now + 60_000);
    expect((await series(experimentId)).data[0].status).toBe("pending");
    await runNightlyEvaluations(env, db, now + 6 * 60_000);
    const [dispatched] = (await series(experimentId)).data;
    expect(dispatched).toMatchObject({
      id: pending.id,
      status: "dispatched",
      runId: pending.runId,
      runStatus: "queued",
    });
    expect((await evalRunsOf(experimentId)).map((r) => r.id)).toEqual([pending.runId]);
    await playEval(pending.runId, () => true);
    await runNightlyEvaluations(env, db, now + 7 * 60_000);
    expect((await series(experimentId)).data[0]).toMatchObject({ status: "succeeded", mean: 1 });
  });

  it("raises evaluation.regressed, signed and delivered, when the next night drops past the margin by the gate's paired test", async () => {
    const path = `/hooks/nightly-${Date.now()}`;
    const sub = await call("POST", "/v1/event-subscriptions", {
      body: { url: `${RECEIVER}${path}`, events: ["evaluation.regressed"] },
    });
    expectStatus(sub, 201);
    const ds = await upload(60);
    const { experimentId, championRunId } = await monitoredChampion(ds.id);
    const n = ds.splits.holdout;
    const now = Date.now();
    await runCron(env, now);
    const night1 = (await series(experimentId)).data[0];
    await playEval(night1.runId, () => true);
    await runCron(env, now + 1_000);
    // The second night the champion answers half the items wrong.
    await runCron(env, now + DAY);
    const night2 = (await series(experimentId)).data[0];
    expect(night2).toMatchObject({ night: nightAt(now + DAY), status: "dispatched" });
    await playEval(night2.runId, (i) => i % 2 === 0);
    // Settled by the queue, the cron and a direct call at once: one alert.
    await Promise.all([
      settleNight(db, env, night2.id, now + DAY),
      settleNight(db, env, night2.id, now + DAY),
      runCron(env, now + DAY + 1_000),
    ]);
    const [second, first] = (await series(experimentId)).data;
    const wrong = Math.floor(n / 2);
    expect(first).toMatchObject({ id: night1.id, status: "succeeded", mean: 1, n, regressed: false });
    expect(second).toMatchObject({
      id: night2.id,
      status: "succeeded",
      mean: (n - wrong) / n,
      n,
      graderChanged: false,
      previous: night1.id,
      comparisonNote: null,
      regressed: true,
    });
    const drop = wrong / n;
    const sd = Math.sqrt((n * drop * (1 - drop)) / (n - 1));
    expect(second.comparison).toMatchObject({
      compared: true,
      previous: night1.id,
      previousNight: night1.night,
      previousRunId: night1.runId,
      n,
      mean: (n - wrong) / n,
      previousMean: 1,
      df: n - 1,
      confidence: 0.95,
      margin: 0.05,
      regressed: true,
    });
    expect(second.comparison.drop).toBeCloseTo(drop, 12);
    expect(second.comparison.se).toBeCloseTo(sd / Math.sqrt(n), 12);
    expect(second.comparison.dropCiLow).toBeGreaterThan(0.05);
    expect(second.comparison.pValue).toBeLessThan(0.05);
    const mine = (await deliveriesOfType("evaluation.regressed")).filter((d) => d.subscriptionId === sub.json.id);
    expect(mine).toHaveLength(1);
    // The queue consumer delivers it; a direct attempt at the same time finds it taken or done.
    await deliver(db, env, mine[0]!.id);
    const got = await until("the receiver to get the alert", async () => {
      const r = (await (await fetch(`${RECEIVER}/__ctl/requests?path=${encodeURIComponent(path)}`)).json()) as {
        headers: Record<string, string>;
        body: string;
      }[];
      return r.length ? r : null;
    });
    expect(got).toHaveLength(1);
    const payload = new Webhook(sub.json.secret).verify(got[0]!.body, got[0]!.headers) as any;
    expect(payload).toEqual({
      type: "evaluation.regressed",
      timestamp: expect.any(String),
      data: {
        experimentId,
        evaluation: { ...second, runStatus: null },
        statistics: second.comparison,
      },
    });
    expect(payload.data.evaluation.champion).toEqual({ run: championRunId, baseModel: "cpu/bag-of-words" });
    // A third night as good as the second is no regression.
    await runCron(env, now + 2 * DAY);
    const night3 = (await series(experimentId)).data[0];
    await playEval(night3.runId, (i) => i % 2 === 0);
    await runCron(env, now + 2 * DAY + 1_000);
    expect((await series(experimentId)).data[0]).toMatchObject({
      id: night3.id,
      status: "succeeded",
      previous: night2.id,
      regressed: false,
      comparison: { drop: 0, pValue: 1, regressed: false },
    });
    expect(
      (await deliveriesOfType("evaluation.regressed")).filter((d) => d.subscriptionId === sub.json.id),
    ).toHaveLength(1);
  });

  it("marks a change of grader version as a new segment and never compares across it", async () => {
    const ds = await upload(60);
    const { experimentId } = await monitoredChampion(ds.id);
    const now = Date.now();
    await runCron(env, now);
    const night1 = (await series(experimentId)).data[0];
    await playEval(night1.runId, () => true);
    await runCron(env, now + 1_000);
    const alerts = async () => (await deliveriesOfType("evaluation.regressed")).map((d) => d.id).sort();
    const before = await alerts();
    // Same grader id, another config: another version.
    const changed = { ...GRADER, operation: "ilike" };
    const mon = await call("PUT", `/v1/experiments/${experimentId}/monitoring`, {
      body: { nightlyAtUtc: "00:00", evalGrader: changed, alertMargin: 0.05 },
    });
    expectStatus(mon, 200);
    await runCron(env, now + DAY);
    const night2 = (await series(experimentId)).data[0];
    await playEval(night2.runId, (i) => i % 2 === 0);
    await runCron(env, now + DAY + 1_000);
    const [second] = (await series(experimentId)).data;
    expect(second.grader.id).toBe("exact");
    expect(second.grader.version).not.toBe(night1.grader.version);
    expect(second).toMatchObject({
      status: "succeeded",
      graderChanged: true,
      previous: night1.id,
      comparison: null,
      comparisonNote: `the grader changed from ${night1.grader.version} to ${second.grader.version}: a new segment starts here, and evaluations under different grader versions are not compared`,
      regressed: false,
    });
    expect(await alerts()).toEqual(before);
  });

  it("records a night without a champion, or whose champion has no holdout, as skipped with the reason", async () => {
    const exp = await call("POST", "/v1/experiments", { body: { name: "nightly-no-champion" } });
    expectStatus(exp, 201);
    expectStatus(
      await call("PUT", `/v1/experiments/${exp.json.id}/monitoring`, { body: { nightlyAtUtc: "00:00" } }),
      200,
    );
    // Three fixed rows at a 1% holdout: none of them falls in it (the split hashes the row's content).
    const tiny = await upload(3, 0.01, "tiny");
    expect(tiny.splits.holdout).toBe(0);
    const { experimentId } = await monitoredChampion(tiny.id);
    await runCron(env, Date.now());
    expect((await series(exp.json.id)).data).toEqual([
      expect.objectContaining({ status: "skipped", reason: "the experiment has no champion to evaluate", runId: null }),
    ]);
    expect((await series(experimentId)).data).toEqual([
      expect.objectContaining({
        status: "skipped",
        reason: `dataset ${tiny.id} has no holdout rows to evaluate on`,
        runId: null,
        finishedAt: expect.any(String),
      }),
    ]);
    expect(await evalRunsOf(experimentId)).toEqual([]);
  });
});

describe("GET /v1/experiments/{id}/evaluations", () => {
  it("pages the series newest night first", async () => {
    const ds = await upload(40);
    const { experimentId } = await monitoredChampion(ds.id);
    const now = Date.now();
    for (const day of [0, 1, 2]) {
      await runNightlyEvaluations(env, db, now + day * DAY);
      const p = (await series(experimentId)).data[0];
      await playEval(p.runId, () => true);
      await runNightlyEvaluations(env, db, now + day * DAY + 1_000);
    }
    const page1 = await series(experimentId, "?limit=2");
    expect(page1.data.map((p) => p.night)).toEqual([nightAt(now + 2 * DAY), nightAt(now + DAY)]);
    expect(page1.nextCursor).toBe(nightAt(now + DAY));
    const page2 = await series(experimentId, `?limit=2&cursor=${page1.nextCursor}`);
    expect(page2).toEqual({ data: [expect.objectContaining({ night: nightAt(now) })], nextCursor: null });
  });

  it("needs a key, answers 404 for an unknown experiment or another project's, and 400 for bad input", async () => {
    const ds = await upload(40);
    const { experimentId } = await monitoredChampion(ds.id);
    expectError(await call("GET", `/v1/experiments/${experimentId}/evaluations`, { key: null }), 401, "UNAUTHORIZED");
    expectError(await call("GET", "/v1/experiments/exp_nope/evaluations"), 404, "NOT_FOUND");
    const other = await createProject();
    const reader = await createKey(other.id, "read");
    expectError(
      await call("GET", `/v1/experiments/${experimentId}/evaluations`, { key: reader.key }),
      404,
      "NOT_FOUND",
    );
    expectError(await call("GET", `/v1/experiments/${experimentId}/evaluations?limit=0`), 400, "BAD_REQUEST");
    const cursor = await call("GET", `/v1/experiments/${experimentId}/evaluations?cursor=evl_x`);
    expectError(cursor, 400, "BAD_REQUEST");
    expect(cursor.json.error.issues).toEqual([{ path: ["cursor"], message: "a night (YYYY-MM-DD) from nextCursor" }]);
  });

  it("refuses a monitoring config with an invalid eval grader or an unknown eval dataset", async () => {
    const exp = await call("POST", "/v1/experiments", { body: { name: "nightly-bad-config" } });
    expectStatus(exp, 201);
    const badGrader = await call("PUT", `/v1/experiments/${exp.json.id}/monitoring`, {
      body: { evalGrader: { type: "string_check", name: "x", operation: "nope" } },
    });
    expectError(badGrader, 400, "BAD_REQUEST");
    expect(badGrader.json.error.issues.length).toBeGreaterThan(0);
    expect(badGrader.json.error.issues.every((i: { path: unknown[] }) => i.path[0] === "evalGrader")).toBe(true);
    const badDs = await call("PUT", `/v1/experiments/${exp.json.id}/monitoring`, { body: { evalDataset: "ds_nope" } });
    expectError(badDs, 400, "BAD_REQUEST");
    expect(badDs.json.error.issues).toEqual([{ path: ["evalDataset"], message: "no such dataset", code: "not_found" }]);
    const ok = await call("PUT", `/v1/experiments/${exp.json.id}/monitoring`, {
      body: { evalGrader: GRADER, alertConfidence: 0.9 },
    });
    expectStatus(ok, 200);
    expect(ok.json).toMatchObject({ evalGrader: GRADER, evalDataset: null, alertConfidence: 0.9, alertMargin: 0.02 });
  });
});

/** The run token AWS Batch was handed for a run: the fake records every SubmitJob (tests/fakes/fake-batch.ts). */
async function batchTokenOf(runId: string): Promise<string> {
  return until(`the SubmitJob of ${runId}`, async () => {
    const res = await fetch(`${BATCH}/__fake/requests`);
    const { requests } = (await res.json()) as { requests: any[] };
    const env = requests
      .filter((r) => r.operation === "SubmitJob" && r.body?.containerOverrides)
      .map((r) => r.body.containerOverrides.environment as { name: string; value: string }[])
      .find((e) => e.some((v) => v.name === "ASSAY_RUN_ID" && v.value === runId));
    return env?.find((v) => v.name === "ASSAY_RUN_TOKEN")?.value;
  });
}

// Last in the file: the other tests run the cron at later nights, which would dispatch this experiment's
// nights to the fake AWS Batch too.
describe("nightly evaluation on AWS Batch", () => {
  it("submits the eval run of a champion trained on aws-batch to AWS Batch, and settles it when the container completes", async () => {
    // The fake accepts this Worker's configured credentials, queue and job definition.
    const reset = await fetch(`${BATCH}/__fake/reset`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        config: {
          region: env.AWS_REGION,
          credentials: { [env.AWS_ACCESS_KEY_ID]: env.AWS_SECRET_ACCESS_KEY },
          queues: [env.AWS_BATCH_JOB_QUEUE],
          definitions: [env.AWS_BATCH_JOB_DEFINITION],
        },
      }),
    });
    expect(reset.status).toBe(200);
    const ds = await upload(40);
    const exp = await call("POST", "/v1/experiments", { body: { name: "nightly-batch" } });
    expectStatus(exp, 201);
    const experimentId = exp.json.id as string;
    const train = await call("POST", `/v1/experiments/${experimentId}/runs`, {
      body: { kind: "sft", baseModel: "Qwen/Qwen2.5-0.5B-Instruct", dataset: ds.id, backend: "aws-batch" },
    });
    expectStatus(train, 201);
    const championRunId = train.json.id as string;
    const trainToken = await batchTokenOf(championRunId);
    const done = await call("POST", `/v1/runs/${championRunId}/complete`, {
      key: trainToken,
      body: { status: "succeeded", artifacts: [{ kind: "adapter", uri: "s3://assay-artifacts/adapter" }] },
    });
    expectStatus(done, 200);
    expectStatus(
      await call("PUT", `/v1/experiments/${experimentId}/champion`, { body: { run: championRunId, reason: "first" } }),
      200,
    );
    expectStatus(
      await call("PUT", `/v1/experiments/${experimentId}/monitoring`, {
        body: { nightlyAtUtc: "00:00", evalGrader: GRADER },
      }),
      200,
    );
    await runCron(env, Date.now());
    const [point] = (await series(experimentId)).data;
    expect(point).toMatchObject({ status: "dispatched", backend: "aws-batch", champion: { run: championRunId } });
    const token = await batchTokenOf(point.runId);
    const rows = await holdoutRows(ds.id);
    const samples = rows.map((row) => ({ completion: String(row.answer), item: row, itemId: row.id }));
    expectStatus(
      await call("POST", `/v1/runs/${point.runId}/rewards`, { key: token, body: { step: 1, samples } }),
      200,
    );
    expectStatus(
      await call("POST", `/v1/runs/${point.runId}/complete`, { key: token, body: { status: "succeeded" } }),
      200,
    );
    await runCron(env, Date.now());
    expect((await series(experimentId)).data).toEqual([
      expect.objectContaining({
        id: point.id,
        status: "succeeded",
        runStatus: "succeeded",
        backend: "aws-batch",
        mean: 1,
        n: ds.splits.holdout,
      }),
    ]);
    const evalRun = await call("GET", `/v1/runs/${point.runId}`);
    expect(evalRun.json).toMatchObject({ backend: "aws-batch", jobId: expect.any(String) });
  });
});
