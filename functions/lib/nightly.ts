/**
 * Continuous evaluation: every monitored experiment's champion is evaluated on its frozen holdout once per
 * UTC night, and the result joins the series of `GET /v1/experiments/{id}/evaluations`.
 *
 * 1. Claim. After the config's `nightlyAtUtc`, the cron inserts the night's row (unique experiment + night,
 *    INSERT … ON CONFLICT DO NOTHING) with the eval run's id reserved in it. Only the inserter goes on, so a
 *    re-run cron, a redelivered message or two overlapping crons start one evaluation.
 * 2. Dispatch. The champion (its base model and adapter), the holdout (the config's `evalDataset`, else the
 *    champion's training dataset: its frozen holdout split) and the grader (the config's `evalGrader`, else
 *    the experiment's eval grader: its newest retraining policy's gate grader or run template grader, else
 *    the champion run's own grader) make an eval run, created under the reserved id through the backend the
 *    champion was trained with. Nothing to evaluate is recorded as `skipped` with the reason; a refusal
 *    (the dataset's rows do not fit, an invalid grader) as `failed`. A claim whose claimer died before the run
 *    was created is taken again after PENDING_RETRY_MS; the reserved id makes the run once.
 * 3. Settle. When the eval run ends (its `run.finished` hook queues a `nightly` message; the cron looks too),
 *    its per-item scores give the night's KPIs and are paired with the previous evaluation's, if that one used
 *    the same grader version and holdout, in the champion gate's test (`comparePaired`, margin `alertMargin`,
 *    confidence `alertConfidence`). A drop past the margin raises `evaluation.regressed`. A different grader
 *    version starts a new segment (`graderChanged: true`) and is never compared. The update is guarded by the
 *    status, so a night settles, and alerts, once.
 */
import { and, asc, desc, eq, lt } from "drizzle-orm";
import * as z from "zod";
import type { Db } from "../../db/client";
import { currentChampion } from "../../db/queries/champions";
import { getRun } from "../../db/queries/runs";
import {
  datasets,
  experimentMonitoring,
  type NightlyStatus,
  nightlyEvaluations,
  retrainingPolicies,
} from "../../db/schema";
import { SPEC_OF_KIND } from "../../gpu-jobs/spec";
import type { MonitoringConfig } from "./drift-check";
import { ApiError } from "./errors";
import { newId } from "./ids";
import { configOf, settleNight } from "./nightly-series";
import { cachedGrader, graderHash } from "./scoring";
import { adapterOf, createDispatchedRun, type JobMessage } from "./training";

export interface NightlyJob {
  id: string;
  projectId: string;
  experimentId: string;
  night: string;
  /** The eval run's id, reserved when the night was claimed. */
  evalRunId: string;
  config: MonitoringConfig;
}

export type NightlyOutcome =
  | {
      status: "dispatched";
      championRunId: string;
      evalRunId: string;
      graderId: string;
      graderVersion: string;
      graderConfig: Record<string, unknown>;
      datasetId: string;
      baseModel: string;
      backend: string;
    }
  | { status: "skipped" | "failed"; reason: string; championRunId?: string };

/** A claimed night whose eval run was not created within this long (its claimer died) is dispatched again. */
export const PENDING_RETRY_MS = 5 * 60_000;
/** A claim that could not be dispatched for this long (D1 or R2 failing all along) is failed. */
export const PENDING_GIVE_UP_MS = 6 * 3_600_000;
/** How many open nights one cron tick looks at. */
const SETTLE_BATCH = 50;

const log = (msg: string, data: Record<string, unknown>) =>
  console.log(JSON.stringify({ level: "info", msg, ...data }));

/** The UTC night `now` falls in, and whether it is past the config's "HH:MM". */
export function nightOf(now: number, atUtc: string): { night: string; due: boolean } {
  const d = new Date(now);
  const [hh, mm] = atUtc.split(":").map(Number) as [number, number];
  const minutes = d.getUTCHours() * 60 + d.getUTCMinutes();
  return { night: d.toISOString().slice(0, 10), due: minutes >= hh * 60 + mm };
}

/** The grader's id (its `name`, else its type) and a version that changes with its code or its config. */
export async function graderIdentity(config: Record<string, unknown>, projectId: string) {
  const ref = cachedGrader(config, projectId).ref;
  const id = typeof config.name === "string" && config.name ? config.name : String(config.type ?? ref);
  return { id, version: `${ref}#${(await graderHash(config)).slice(0, 12)}` };
}

const asGrader = (g: unknown): Record<string, unknown> | null =>
  g && typeof g === "object" && !Array.isArray(g) ? (g as Record<string, unknown>) : null;

/** The experiment's eval grader: its newest retraining policy's gate grader (or run template grader). */
async function experimentEvalGrader(db: Db, projectId: string, experimentId: string) {
  const policies = await db
    .select({ spec: retrainingPolicies.spec })
    .from(retrainingPolicies)
    .where(and(eq(retrainingPolicies.projectId, projectId), eq(retrainingPolicies.experimentId, experimentId)))
    .orderBy(desc(retrainingPolicies.id))
    .limit(20);
  for (const p of policies) {
    const spec = p.spec as { gate?: { grader?: unknown }; run?: { grader?: unknown } };
    const g = asGrader(spec.gate?.grader) ?? asGrader(spec.run?.grader);
    if (g) return g;
  }
  return null;
}

/**
 * Dispatches one night's eval run of the champion under the reserved id (creating it once however often it
 * is called). Answers what was dispatched, or why nothing was.
 */
export async function evaluateChampion(db: Db, env: Env, job: NightlyJob, now: number): Promise<NightlyOutcome> {
  const { projectId, experimentId, config } = job;
  const champion = await currentChampion(db, projectId, experimentId);
  if (!champion) return { status: "skipped", reason: "the experiment has no champion to evaluate" };
  const run = await getRun(db, projectId, champion.runId);
  const championRunId = champion.runId;
  if (!run) return { status: "skipped", reason: `the champion run ${championRunId} no longer exists`, championRunId };
  const datasetId = config.evalDataset ?? run.datasetId;
  if (!datasetId) {
    return {
      status: "skipped",
      reason: `the champion ${run.id} names no dataset, so there is no frozen holdout: set evalDataset in the monitoring config`,
      championRunId,
    };
  }
  const [ds] = await db
    .select({ id: datasets.id, holdoutRows: datasets.holdoutRows })
    .from(datasets)
    .where(and(eq(datasets.projectId, projectId), eq(datasets.id, datasetId)))
    .limit(1);
  if (!ds) return { status: "skipped", reason: `the holdout dataset ${datasetId} does not exist`, championRunId };
  if (ds.holdoutRows === 0) {
    return { status: "skipped", reason: `dataset ${datasetId} has no holdout rows to evaluate on`, championRunId };
  }
  const grader =
    asGrader(config.evalGrader) ??
    (await experimentEvalGrader(db, projectId, experimentId)) ??
    asGrader((run.spec as { grader?: unknown } | null)?.grader);
  if (!grader) {
    return {
      status: "skipped",
      reason:
        "no eval grader: set evalGrader in the monitoring config (the experiment has no retraining policy with a grader and the champion run names none)",
      championRunId,
    };
  }
  const baseModel = run.baseModel;
  if (!baseModel) return { status: "skipped", reason: `the champion ${run.id} names no base model`, championRunId };
  const backend = run.backend === "aws-batch" ? "aws-batch" : "local";
  const adapter = await adapterOf(db, run.id);
  const identity = await graderIdentity(grader, projectId);
  const spec = SPEC_OF_KIND.eval.parse({
    kind: "eval",
    name: `nightly evaluation ${job.night}: champion ${run.id} on the holdout of ${datasetId}`,
    model: { baseModel, ...(adapter ? { adapterOf: run.id } : {}) },
    dataset: datasetId,
    split: "holdout",
    grader,
    samplesPerItem: 1,
    backend,
    parentRunId: run.id,
  });
  await createDispatchedRun(db, env, {
    id: job.evalRunId,
    projectId,
    experimentId,
    spec,
    now,
    reason: `nightly evaluation ${job.id} (${job.night})`,
  });
  return {
    status: "dispatched",
    championRunId,
    evalRunId: job.evalRunId,
    graderId: identity.id,
    graderVersion: identity.version,
    graderConfig: grader,
    datasetId,
    baseModel,
    backend,
  };
}

/** The hook the cron calls; a test may wrap it (to count calls), the default is the real evaluator. */
export const NIGHTLY: { evaluate: (db: Db, env: Env, job: NightlyJob, now: number) => Promise<NightlyOutcome> } = {
  evaluate: evaluateChampion,
};

/** Runs the evaluator for a claimed night and records what it did (from `pending` only: once). */
async function dispatchNight(db: Db, env: Env, job: NightlyJob, now: number): Promise<NightlyStatus> {
  let outcome: NightlyOutcome;
  try {
    outcome = await NIGHTLY.evaluate(db, env, job, now);
  } catch (err) {
    // A refusal by the platform (rows that do not fit an eval run, an invalid grader) ends the night; anything
    // else (D1 or R2 unavailable) leaves it pending for the retry after PENDING_RETRY_MS.
    if (err instanceof ApiError && err.status < 500) {
      outcome = { status: "failed", reason: `the eval run was refused: ${err.message}` };
    } else if (err instanceof z.ZodError) {
      const first = err.issues[0];
      outcome = {
        status: "failed",
        reason: `the eval run spec is invalid: ${first?.path.join(".")}: ${first?.message}`,
      };
    } else {
      log("nightly evaluation dispatch failed", { id: job.id, error: String(err) });
      return "pending";
    }
  }
  const set =
    outcome.status === "dispatched"
      ? {
          status: "dispatched" as const,
          reason: null,
          championRunId: outcome.championRunId,
          evalRunId: outcome.evalRunId,
          graderId: outcome.graderId,
          graderVersion: outcome.graderVersion,
          graderConfig: outcome.graderConfig,
          datasetId: outcome.datasetId,
          baseModel: outcome.baseModel,
          backend: outcome.backend,
        }
      : {
          status: outcome.status,
          reason: outcome.reason.slice(0, 1000),
          championRunId: outcome.championRunId ?? null,
          evalRunId: null,
          finishedAt: now,
        };
  await db
    .update(nightlyEvaluations)
    .set({ ...set, updatedAt: now })
    .where(and(eq(nightlyEvaluations.id, job.id), eq(nightlyEvaluations.status, "pending")));
  log("nightly evaluation", { id: job.id, experimentId: job.experimentId, night: job.night, status: set.status });
  return set.status;
}

/**
 * Cron task: claims each monitored experiment's night once it is due and dispatches its evaluation, takes
 * up claims whose claimer died, and settles nights whose eval run ended. Returns the ids it claimed.
 */
export async function runNightlyEvaluations(env: Env, db: Db, now = Date.now()): Promise<string[]> {
  const configs = await db.select().from(experimentMonitoring).orderBy(asc(experimentMonitoring.experimentId));
  // Every config's night is today's UTC date: one read skips the experiments already claimed, so a tick
  // after the first writes nothing for them (the unique index still decides every race).
  const today = nightOf(now, "00:00").night;
  const done = new Set(
    (
      await db
        .select({ experimentId: nightlyEvaluations.experimentId })
        .from(nightlyEvaluations)
        .where(eq(nightlyEvaluations.night, today))
    ).map((r) => r.experimentId),
  );
  const claimed: string[] = [];
  for (const config of configs) {
    const { night, due } = nightOf(now, config.nightlyAtUtc);
    if (!due || done.has(config.experimentId)) continue;
    const id = newId("evl", now);
    const evalRunId = newId("run", now);
    const inserted = await db
      .insert(nightlyEvaluations)
      .values({
        id,
        projectId: config.projectId,
        experimentId: config.experimentId,
        night,
        status: "pending",
        reason: "claimed",
        evalRunId,
        createdAt: now,
        updatedAt: now,
      })
      .onConflictDoNothing()
      .returning({ id: nightlyEvaluations.id });
    if (inserted.length === 0) continue;
    claimed.push(id);
    const job = { id, projectId: config.projectId, experimentId: config.experimentId, night, evalRunId, config };
    await dispatchNight(db, env, job, now);
  }
  await retryPending(db, env, now);
  await settleOpen(db, env, now);
  return claimed;
}

/** Claims older than PENDING_RETRY_MS that never reached their eval run: dispatched under the reserved id. */
async function retryPending(db: Db, env: Env, now: number) {
  const stale = await db
    .select()
    .from(nightlyEvaluations)
    .where(and(eq(nightlyEvaluations.status, "pending"), lt(nightlyEvaluations.updatedAt, now - PENDING_RETRY_MS)))
    .limit(SETTLE_BATCH);
  for (const row of stale) {
    if (!row.evalRunId) continue;
    if (now - row.createdAt > PENDING_GIVE_UP_MS) {
      await db
        .update(nightlyEvaluations)
        .set({
          status: "failed",
          reason: `the eval run could not be dispatched within ${PENDING_GIVE_UP_MS / 3_600_000} h of the claim (see the logs)`,
          evalRunId: null,
          finishedAt: now,
          updatedAt: now,
        })
        .where(and(eq(nightlyEvaluations.id, row.id), eq(nightlyEvaluations.status, "pending")));
      continue;
    }
    const config = await configOf(db, row);
    await dispatchNight(
      db,
      env,
      {
        id: row.id,
        projectId: row.projectId,
        experimentId: row.experimentId,
        night: row.night,
        evalRunId: row.evalRunId,
        config,
      },
      now,
    );
  }
}

async function settleOpen(db: Db, env: Env, now: number) {
  const open = await db
    .select({ id: nightlyEvaluations.id })
    .from(nightlyEvaluations)
    .where(eq(nightlyEvaluations.status, "dispatched"))
    .orderBy(asc(nightlyEvaluations.updatedAt))
    .limit(SETTLE_BATCH);
  for (const row of open) await settleNight(db, env, row.id, now);
}

/** A `run.finished` hook: queues the settling of the nights this run is the eval of. Never throws. */
export async function notifyNightlyOfRun(db: Db, env: Env, runId: string) {
  try {
    const rows = await db
      .select({ id: nightlyEvaluations.id })
      .from(nightlyEvaluations)
      .where(and(eq(nightlyEvaluations.evalRunId, runId), eq(nightlyEvaluations.status, "dispatched")));
    for (const r of rows) await env.JOBS.send({ type: "nightly", evaluationId: r.id } satisfies JobMessage);
  } catch (err) {
    // The cron's settle pass picks the night up within a minute.
    log("queueing a nightly settle failed", { runId, error: String(err) });
  }
}

export {
  type Compared,
  type Comparison,
  evalGraderIssues,
  evaluationPage,
  evaluationView,
  type NightlyRow,
  settleNight,
} from "./nightly-series";
