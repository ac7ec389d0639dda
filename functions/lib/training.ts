import { eq } from "drizzle-orm";
import type { RunRow } from "../../db/queries/runs";
import { latestCertificate, runProgress, series } from "../../db/queries/training";
import { datasets, runs } from "../../db/schema";
import type { RftSpec } from "../../gpu-jobs/spec";
import { checkHacking, checkLimits, checkRule, type StopDecision } from "../../gpu-jobs/stopping";
import { validateGrader } from "../../rewards/graders";
import type { Db } from "../env";
import { RUN_TOKEN_PREFIX } from "../middleware/auth";
import { randomSecret, sha256Hex } from "./crypto";
import { ApiError } from "./errors";
import { cachedGrader, graderHash } from "./scoring";

/** Messages on the JOBS queue. */
export type JobMessage =
  | { type: "dispatch"; runId: string }
  | { type: "dispatch-sweep"; sweepId: string }
  | { type: "terminate"; runId: string; reason: string }
  /** One outgoing event delivery attempt (functions/lib/events.ts). */
  | { type: "deliver"; deliveryId: string };

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
export async function prepareRft(db: Db, spec: RftSpec): Promise<PreparedRft> {
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
    .where(eq(datasets.id, spec.dataset))
    .limit(1);
  if (!ds)
    throw new ApiError("BAD_REQUEST", `dataset ${spec.dataset} does not exist`, [
      { path: ["dataset"], message: "unknown dataset" },
    ]);
  const grader = cachedGrader(spec.grader);
  if (!spec.force) {
    const cert = await latestCertificate(db, await graderHash(spec.grader));
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

const spec = (run: RunRow) => run.spec as unknown as RftSpec | null;

/**
 * Evaluates a run's early-stopping rules, reward-hacking alarm and limits after new metrics or rewards.
 * When one fires, the run records why and every later metrics/heartbeat/rewards answer says stop; an
 * aws-batch job is terminated if it has not exited within STOP_GRACE_SECONDS.
 */
export async function evaluateStop(db: Db, env: Env, run: RunRow): Promise<{ stop: boolean; stopReason?: string }> {
  if (run.stopRequested) return { stop: true, stopReason: run.stopReason ?? undefined };
  const s = spec(run);
  if (!s || run.kind !== "rft") return { stop: false };
  let decision: StopDecision | null = null;
  for (const rule of s.earlyStopping ?? []) {
    decision = checkRule(rule, await series(db, run.id, rule.metric));
    if (decision) break;
  }
  if (!decision && s.hackingAlarm) {
    const a = s.hackingAlarm;
    decision = checkHacking(a, await series(db, run.id, a.trainMetric), await series(db, run.id, a.holdoutMetric));
  }
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
