import { and, desc, eq, inArray } from "drizzle-orm";
import { getRun, insertRunOnce, type RunRow } from "../../db/queries/runs";
import { latestCertificate, runProgress, series } from "../../db/queries/training";
import { artifacts, datasets, runs } from "../../db/schema";
import { rowMismatch } from "../../gpu-jobs/row-formats";
import type { DispatchSpec, RftSpec } from "../../gpu-jobs/spec";
import { checkHacking, checkLimits, checkRule, type StopDecision } from "../../gpu-jobs/stopping";
import { validateGrader } from "../../rewards/graders";
import type { Db } from "../env";
import { RUN_TOKEN_PREFIX } from "../middleware/auth";
import { randomSecret, sha256Hex } from "./crypto";
import { readRows } from "./datasets-rows";
import { ApiError } from "./errors";
import { cachedGrader, graderHash } from "./scoring";
import { ashaDecision } from "./sweep-search";

/** Messages on the JOBS queue. */
export type JobMessage =
  | { type: "dispatch"; runId: string }
  | { type: "dispatch-sweep"; sweepId: string }
  | { type: "terminate"; runId: string; reason: string }
  | { type: "sweep-advance"; sweepId: string }
  /** Follow-up work for a stored feedback event (functions/lib/feedback.ts). */
  | { type: "feedback"; eventId: string }
  | { type: "cycle"; cycleId: string }
  /** One step of a curation job; `chunk` is the chunk it was sent for (a stale one is a no-op). */
  | { type: "curate"; curationId: string; chunk?: number }
  /** One outgoing event delivery attempt (functions/lib/events.ts). */
  | { type: "deliver"; deliveryId: string }
  /** Settle a nightly evaluation whose eval run ended (functions/lib/nightly.ts). */
  | { type: "nightly"; evaluationId: string };

/** Seconds a stopped aws-batch container gets to exit on its own before TerminateJob. */
export const STOP_GRACE_SECONDS = 120;

export async function issueRunToken(): Promise<{ token: string; hash: string }> {
  const token = randomSecret(RUN_TOKEN_PREFIX);
  return { token, hash: await sha256Hex(token) };
}

export interface PreparedRft {
  graderRef: string;
  datasetSha256: string;
}

/**
 * Checks what an RFT run needs before it may be dispatched: a valid grader, an existing dataset, and a
 * passing pre-flight certificate for exactly this grader config (unless `force`). Pins the grader's
 * `name@version`.
 */
export async function prepareRft(db: Db, projectId: string, spec: RftSpec): Promise<PreparedRft> {
  const outcome = validateGrader(spec.grader);
  if (!outcome.valid) {
    throw new ApiError(
      "BAD_REQUEST",
      "invalid grader config",
      outcome.errors.map((e) => ({ path: ["grader", ...e.path], message: e.message })),
    );
  }
  const [ds] = await db
    .select({ sha256: datasets.sha256 })
    .from(datasets)
    .where(and(eq(datasets.projectId, projectId), eq(datasets.id, spec.dataset)))
    .limit(1);
  if (!ds)
    throw new ApiError("BAD_REQUEST", `dataset ${spec.dataset} does not exist`, [
      { path: ["dataset"], message: "unknown dataset" },
    ]);
  const grader = cachedGrader(spec.grader, projectId);
  if (!spec.force) {
    const cert = await latestCertificate(db, projectId, await graderHash(spec.grader));
    if (cert?.verdict !== "pass" || cert.graderRef !== grader.ref) {
      const reasons = !cert
        ? ["no pre-flight certificate for this grader config: run POST /v1/graders/preflight first"]
        : cert.graderRef !== grader.ref
          ? [`the certificate was issued for ${cert.graderRef}, the grader is now ${grader.ref}: certify it again`]
          : ((cert.report.reasons as string[] | undefined) ?? ["the pre-flight certificate failed"]);
      throw new ApiError(
        "CONFLICT",
        "the grader has no passing pre-flight certificate; send force: true to dispatch anyway",
        undefined,
        {
          reasons,
          certificate: cert?.id ?? null,
        },
      );
    }
  }
  return { graderRef: grader.ref, datasetSha256: ds.sha256 };
}

/** Artifact kinds a trainer can start from. */
export const ADAPTER_KINDS = ["adapter", "lora-adapter"] as const;

/** The newest adapter artifact of a run, or null. */
export async function adapterOf(db: Db, runId: string) {
  const [a] = await db
    .select({ kind: artifacts.kind, uri: artifacts.uri })
    .from(artifacts)
    .where(and(eq(artifacts.runId, runId), inArray(artifacts.kind, [...ADAPTER_KINDS])))
    .orderBy(desc(artifacts.id))
    .limit(1);
  return a ?? null;
}

/** Why `runId` cannot be started from (as a warm start or an evaluated adapter), or its adapter. */
export async function usableAdapter(db: Db, projectId: string, runId: string, path: (string | number)[]) {
  const run = await getRun(db, projectId, runId);
  const refuse = (message: string) => {
    throw new ApiError("BAD_REQUEST", `${path.join(".")}: ${message}`, [{ path, message }]);
  };
  if (!run) return refuse(`run ${runId} does not exist`);
  if (run.status !== "succeeded") return refuse(`run ${runId} is ${run.status}, not succeeded`);
  const adapter = await adapterOf(db, runId);
  if (!adapter) return refuse(`run ${runId} has no adapter or lora-adapter artifact`);
  return { run, adapter };
}

/** How many rows from the top of a split are checked against the run kind's format. */
export const ROW_CHECK_LIMIT = 200;

/**
 * Checks the first rows of the split a run reads against its kind's row format (gpu-jobs/row-formats.ts),
 * and refuses the run naming the first row that does not fit.
 */
export async function checkRows(
  env: Env,
  ds: { id: string; trainKey: string; holdoutKey: string },
  kind: "sft" | "dpo" | "kto" | "eval",
  split: "train" | "holdout",
) {
  const page = await readRows(env.BLOBS, split === "train" ? ds.trainKey : ds.holdoutKey, split, {
    limit: ROW_CHECK_LIMIT,
  });
  if (!page) throw new ApiError("NOT_FOUND", `the ${split} file of dataset ${ds.id} is missing from storage`);
  if (page.data.length === 0) {
    throw new ApiError("BAD_REQUEST", `dataset ${ds.id} has no ${split} rows for a ${kind} run`, [
      { path: ["dataset"], message: `empty ${split} split` },
    ]);
  }
  for (const [i, row] of page.data.entries()) {
    const why = rowMismatch(kind, row);
    if (why) {
      const label = typeof row.id === "string" || typeof row.id === "number" ? ` (id ${row.id})` : "";
      throw new ApiError(
        "BAD_REQUEST",
        `row ${i}${label} of the ${split} split of dataset ${ds.id} does not fit a ${kind} run: it ${why}`,
        [{ path: ["dataset"], message: `row ${i} ${why}` }],
        { row: i, rowPreview: JSON.stringify(row).slice(0, 300) },
      );
    }
  }
}

export interface PreparedRun {
  graderRef: string | null;
  datasetSha256: string;
}

/**
 * What any dispatched run needs: `rft` as before (certificate and all); the other kinds a valid grader
 * when they name one, a dataset whose rows fit the kind, and a usable warm start / evaluated adapter.
 */
export async function prepareRun(db: Db, env: Env, projectId: string, spec: DispatchSpec): Promise<PreparedRun> {
  if (spec.kind === "rft") {
    const p = await prepareRft(db, projectId, spec);
    if (spec.warmStart) await usableAdapter(db, projectId, spec.warmStart, ["warmStart"]);
    return p;
  }
  let graderRef: string | null = null;
  if (spec.grader) {
    const outcome = validateGrader(spec.grader);
    if (!outcome.valid) {
      throw new ApiError(
        "BAD_REQUEST",
        "invalid grader config",
        outcome.errors.map((e) => ({ path: ["grader", ...e.path], message: e.message })),
      );
    }
    graderRef = cachedGrader(spec.grader, projectId).ref;
  }
  const [ds] = await db
    .select()
    .from(datasets)
    .where(and(eq(datasets.projectId, projectId), eq(datasets.id, spec.dataset)))
    .limit(1);
  if (!ds)
    throw new ApiError("BAD_REQUEST", `dataset ${spec.dataset} does not exist`, [
      { path: ["dataset"], message: "unknown dataset" },
    ]);
  if (spec.kind === "eval") {
    if (spec.model.adapterOf) await usableAdapter(db, projectId, spec.model.adapterOf, ["model", "adapterOf"]);
    await checkRows(env, ds, "eval", spec.split);
  } else {
    const warm = spec.warmStart ?? spec.hyperparams.warmStart;
    if (warm) await usableAdapter(db, projectId, warm, ["warmStart"]);
    await checkRows(env, ds, spec.kind, "train");
  }
  return { graderRef, datasetSha256: ds.sha256 };
}

/**
 * Evaluates a run's early-stopping rules, reward-hacking alarm and limits after new metrics or rewards.
 * When one fires, the run records why and every later metrics/heartbeat/rewards answer says stop; an
 * aws-batch job is terminated if it has not exited within STOP_GRACE_SECONDS.
 */
export async function evaluateStop(db: Db, env: Env, run: RunRow): Promise<{ stop: boolean; stopReason?: string }> {
  if (run.stopRequested) return { stop: true, stopReason: run.stopReason ?? undefined };
  const s = run.spec;
  if (!s) return { stop: false };
  let decision: StopDecision | null = null;
  // Eval runs carry no early-stopping rules; only rft runs carry a reward-hacking alarm.
  for (const rule of s.kind === "eval" ? [] : s.earlyStopping) {
    decision = checkRule(rule, await series(db, run.id, rule.metric));
    if (decision) break;
  }
  if (!decision && s.kind === "rft" && s.hackingAlarm) {
    const a = s.hackingAlarm;
    decision = checkHacking(a, await series(db, run.id, a.trainMetric), await series(db, run.id, a.holdoutMetric));
  }
  if (!decision && run.sweepId) decision = await ashaDecision(db, run);
  if (!decision && s.limits) {
    const progress = await runProgress(db, run.id);
    decision = checkLimits(s.limits, { ...progress, startedAt: run.startedAt, now: Date.now() });
  }
  if (!decision) return { stop: false };
  await requestStop(db, env, run, decision.reason);
  return { stop: true, stopReason: decision.reason };
}

/** Asks a run to stop (idempotent): recorded on the run; aws-batch jobs are terminated after a grace period. */
export async function requestStop(db: Db, env: Env, run: RunRow, reason: string) {
  const changed = await db
    .update(runs)
    .set({ stopRequested: true, stopReason: reason, updatedAt: Date.now() })
    .where(eq(runs.id, run.id))
    .returning({ id: runs.id });
  if (changed.length && run.backend === "aws-batch" && run.jobId) {
    await env.JOBS.send({ type: "terminate", runId: run.id, reason } satisfies JobMessage, {
      delaySeconds: STOP_GRACE_SECONDS,
    });
  }
}

/**
 * Validates a dispatchable spec against what is stored (grader, dataset rows, warm start), inserts the run as
 * queued and hands it to dispatch. Used by run creation and by retraining cycles (which pass their own id,
 * reserved beforehand, so that a redelivered step creates the run once: a second insert of the id is ignored).
 */
export async function createDispatchedRun(
  db: Db,
  env: Env,
  opts: { id: string; projectId: string; experimentId: string; spec: DispatchSpec; now: number; reason?: string },
): Promise<boolean> {
  const { id, spec, now } = opts;
  const prepared = await prepareRun(db, env, opts.projectId, spec);
  const baseModel = spec.kind === "eval" ? spec.model.baseModel : spec.baseModel;
  const warm =
    spec.kind === "eval"
      ? spec.model.adapterOf
      : (spec.warmStart ?? (spec.hyperparams as { warmStart?: string }).warmStart);
  const inserted = await insertRunOnce(
    db,
    {
      id,
      projectId: opts.projectId,
      experimentId: opts.experimentId,
      kind: spec.kind,
      status: "queued",
      name: spec.name ?? null,
      params: spec.hyperparams as Record<string, unknown>,
      spec,
      datasetId: spec.dataset,
      datasetSha256: prepared.datasetSha256,
      baseModel,
      graderRef: prepared.graderRef,
      backend: spec.backend,
      parentRunId: spec.parentRunId ?? warm ?? null,
      createdAt: now,
      updatedAt: now,
    },
    opts.reason,
  );
  // Dispatch goes through the queue, so a slow or failing AWS call never fails this request.
  if (inserted) await env.JOBS.send({ type: "dispatch", runId: id } satisfies JobMessage);
  return inserted;
}
