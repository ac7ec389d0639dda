import { and, asc, eq } from "drizzle-orm";
import { createDb, type Db } from "../db/client";
import { getRun, updateRun } from "../db/queries/runs";
import { liveBatchRuns, staleRuns } from "../db/queries/training";
import { isTerminal } from "../db/run-lifecycle";
import { runs, sweeps } from "../db/schema";
import { PermanentDispatchError } from "../gpu-jobs/backend";
import { createBackend } from "../gpu-jobs/backends";
import { DispatchUnavailableError } from "../gpu-jobs/backends/aws-batch";
import type { Resources } from "../gpu-jobs/spec";
import { runCurationStep } from "./lib/curation/job";
import { advanceCycle } from "./lib/cycles";
import { deliver } from "./lib/events";
import { handleFeedbackMessages } from "./lib/feedback";
import { settleNight } from "./lib/nightly";
import { announceRunFinished } from "./lib/run-events";
import { advanceSweep } from "./lib/sweep-search";
import { issueRunToken, type JobMessage } from "./lib/training";

/** Queue deliveries of one message before a transient AWS failure fails the run. */
export const MAX_DISPATCH_ATTEMPTS = 5;

const log = (msg: string, data: Record<string, unknown>) =>
  console.log(JSON.stringify({ level: "info", msg, ...data }));

const jobName = (prefix: string, id: string) => `assay-${prefix}-${id}`.replace(/[^\w-]/g, "-").slice(0, 128);

/**
 * Dispatches a queued aws-batch run: a fresh run token, then SubmitJob. Idempotent: a run that is no
 * longer queued (already dispatched, cancelled) is left alone, so a redelivered message does nothing.
 */
async function dispatchRun(db: Db, env: Env, runId: string, attempt: number): Promise<"done" | "retry"> {
  const run = await getRun(db, null, runId);
  // A ledger-only record has no spec and no backend: nothing to dispatch.
  if (run?.status !== "queued" || run.backend !== "aws-batch" || !run.spec) return "done";
  const spec = run.spec;
  const { token, hash } = await issueRunToken();
  if (
    !(await updateRun(
      db,
      runId,
      { status: "dispatching", reason: "submitting to AWS Batch", fields: { tokenHash: hash } },
      ["queued"],
    ))
  ) {
    return "done";
  }
  try {
    const backend = createBackend("aws-batch", env);
    const { jobId } = await backend.submit({
      runId,
      experimentId: run.experimentId,
      runToken: token,
      apiUrl: env.ASSAY_API_URL,
      resources: spec.resources as Resources,
      name: jobName("run", runId),
    });
    await updateRun(db, runId, { fields: { jobId } });
    log("dispatched", { runId, jobId });
    return "done";
  } catch (err) {
    return (await settleFailedDispatch(db, [runId], err, attempt)).permanent ? "done" : "retry";
  }
}

/**
 * The one place that tells a transient dispatch failure from a permanent one, for single runs and sweeps
 * alike. Only a backend that says it is unavailable, before the last attempt, is transient: its runs go
 * back to queued so the redelivered message dispatches them again. Anything else fails them for good.
 */
async function settleFailedDispatch(db: Db, runIds: readonly string[], err: unknown, attempt: number) {
  const message = err instanceof Error ? err.message : String(err);
  const permanent =
    err instanceof PermanentDispatchError ||
    attempt >= MAX_DISPATCH_ATTEMPTS ||
    !(err instanceof DispatchUnavailableError);
  for (const id of runIds) {
    await updateRun(
      db,
      id,
      permanent
        ? { status: "failed", reason: `dispatch failed: ${message}`, fields: { error: message } }
        : { status: "queued", reason: `dispatch will be retried: ${message}` },
      ["dispatching"],
    );
  }
  return { permanent, message };
}

/** Dispatches a sweep's queued aws-batch runs as one array job; child i runs the sweep's run of index i. */
async function dispatchSweep(db: Db, env: Env, sweepId: string, attempt: number): Promise<"done" | "retry"> {
  const [sweep] = await db.select().from(sweeps).where(eq(sweeps.id, sweepId)).limit(1);
  if (!sweep || sweep.jobId) return "done";
  const members = await db
    .select()
    .from(runs)
    .where(and(eq(runs.sweepId, sweepId), eq(runs.status, "queued")))
    .orderBy(asc(runs.sweepIndex));
  if (members.length === 0) return "done";
  const tokens: { runId: string; runToken: string }[] = [];
  for (const r of members) {
    const { token, hash } = await issueRunToken();
    if (
      await updateRun(
        db,
        r.id,
        { status: "dispatching", reason: "submitting the sweep's array job", fields: { tokenHash: hash } },
        ["queued"],
      )
    ) {
      tokens.push({ runId: r.id, runToken: token });
    }
  }
  const ids = tokens.map((t) => t.runId);
  try {
    const spec = members[0]!.spec!;
    const { jobId } = await createBackend("aws-batch", env).submitArray({
      sweepId,
      experimentId: sweep.experimentId,
      apiUrl: env.ASSAY_API_URL,
      runs: tokens,
      resources: spec.resources as Resources,
      name: jobName("sweep", sweepId),
    });
    await db.update(sweeps).set({ jobId }).where(eq(sweeps.id, sweepId));
    for (const [i, id] of ids.entries()) await updateRun(db, id, { fields: { jobId: `${jobId}:${i}` } });
    return "done";
  } catch (err) {
    const { permanent, message } = await settleFailedDispatch(db, ids, err, attempt);
    if (permanent) await db.update(sweeps).set({ error: message }).where(eq(sweeps.id, sweepId));
    return permanent ? "done" : "retry";
  }
}

async function terminate(db: Db, env: Env, runId: string, reason: string) {
  const run = await getRun(db, null, runId);
  if (!run?.jobId || run.backend !== "aws-batch") return;
  // A stopped run that completed on its own within the grace period needs no TerminateJob.
  if (run.status !== "cancelled" && isTerminal(run.status)) return;
  await createBackend("aws-batch", env).terminate(run.jobId, reason);
  log("terminated", { runId, jobId: run.jobId, reason });
}

/** The Worker's queue handler: dispatch, terminate and feedback messages, retried by the queue on transient failure. */
export async function handleQueue(batch: MessageBatch<JobMessage>, env: Env) {
  const db = createDb(env.DB);
  // Feedback messages are processed as a group (a few statements per batch, not per event); their retries
  // and dead letters are decided inside.
  const feedback = batch.messages.filter(
    (m): m is Message<Extract<JobMessage, { type: "feedback" }>> => m.body.type === "feedback",
  );
  if (feedback.length) {
    const outcomes = await handleFeedbackMessages(
      db,
      env,
      feedback.map((m) => ({ eventId: m.body.eventId, attempts: m.attempts })),
    );
    feedback.forEach((m, i) => {
      const delay = outcomes[i]?.retryAfterSeconds;
      if (delay !== undefined) m.retry({ delaySeconds: delay });
      else m.ack();
    });
  }
  for (const msg of batch.messages) {
    try {
      const body = msg.body;
      if (body.type === "feedback") continue;
      let outcome: "done" | "retry" = "done";
      if (body.type === "dispatch") outcome = await dispatchRun(db, env, body.runId, msg.attempts);
      else if (body.type === "dispatch-sweep") outcome = await dispatchSweep(db, env, body.sweepId, msg.attempts);
      else if (body.type === "terminate") await terminate(db, env, body.runId, body.reason);
      else if (body.type === "sweep-advance") await advanceSweep(db, env, body.sweepId);
      else if (body.type === "cycle") await advanceCycle(env, body.cycleId, Date.now(), { poll: true });
      else if (body.type === "curate") {
        const next = await runCurationStep(db, env, body.curationId, body.chunk);
        if (next) await env.JOBS.send(next);
      } else if (body.type === "deliver") await deliver(db, env, body.deliveryId);
      else if (body.type === "nightly") await settleNight(db, env, body.evaluationId);
      if (outcome === "retry") msg.retry({ delaySeconds: Math.min(300, 10 * 2 ** msg.attempts) });
      else msg.ack();
    } catch (err) {
      console.error(JSON.stringify({ level: "error", msg: "job message failed", body: msg.body, error: String(err) }));
      msg.retry({ delaySeconds: 30 });
    }
  }
}

const BATCH_TERMINAL: Record<string, "succeeded" | "failed" | undefined> = { SUCCEEDED: "succeeded", FAILED: "failed" };

/**
 * The cron handler. (1) Runs whose heartbeat is older than their timeout are marked failed and their
 * job terminated. (2) aws-batch runs are synced with DescribeJobs, so a job that ended without calling
 * back (crash, spot loss, lost network) does not leave its run "running" forever.
 */
export async function reconcile(env: Env, now = Date.now()) {
  const db = createDb(env.DB);
  const defaultTimeoutMs = Number(env.HEARTBEAT_TIMEOUT_S || 600) * 1000;
  const candidates = await staleRuns(db, now - Math.min(defaultTimeoutMs, 30_000));
  for (const run of candidates) {
    const timeoutMs = (run.spec?.limits?.heartbeatTimeoutSeconds ?? defaultTimeoutMs / 1000) * 1000;
    const last = run.heartbeatAt ?? run.updatedAt;
    if (now - last < timeoutMs) continue;
    const reason = `no heartbeat for ${Math.round((now - last) / 1000)} s (timeout ${timeoutMs / 1000} s): the container is presumed lost`;
    if (
      await updateRun(db, run.id, { status: "failed", reason, fields: { error: reason } }, ["dispatching", "running"])
    ) {
      log("reconciled lost run", { runId: run.id });
      await announceRunFinished(db, env, run.id);
      if (run.backend === "aws-batch" && run.jobId) {
        await createBackend("aws-batch", env)
          .terminate(run.jobId, reason)
          .catch((err) => log("terminate failed", { runId: run.id, error: String(err) }));
      }
    }
  }
  await syncBatchJobs(db, env);
}

async function syncBatchJobs(db: Db, env: Env) {
  const live = await liveBatchRuns(db);
  if (live.length === 0) return;
  let statuses: Awaited<ReturnType<ReturnType<typeof createBackend>["describe"]>>;
  try {
    statuses = await createBackend("aws-batch", env).describe(live.map((r) => r.jobId!));
  } catch (err) {
    log("describe jobs failed", { error: String(err) });
    return;
  }
  const byJob = new Map(statuses.map((s) => [s.jobId, s]));
  for (const run of live) {
    const s = byJob.get(run.jobId!);
    const ended = s ? BATCH_TERMINAL[s.state] : undefined;
    if (!s) {
      // AWS no longer knows the job (Batch forgets jobs after a while): nothing will ever call back.
      await updateRun(
        db,
        run.id,
        { status: "failed", reason: `AWS Batch has no job ${run.jobId}`, fields: { error: "job lost" } },
        ["dispatching", "running"],
      );
    } else if (ended) {
      const reason = `AWS Batch job ${s.state}${s.reason ? `: ${s.reason}` : ""} without the container completing the run`;
      const status = ended === "succeeded" ? (run.stopRequested ? "stopped" : "failed") : "failed";
      if (
        await updateRun(db, run.id, { status, reason, fields: { error: status === "failed" ? reason : null } }, [
          "dispatching",
          "running",
        ])
      ) {
        await announceRunFinished(db, env, run.id);
      }
    }
  }
}
