import { and, asc, eq, gt, inArray, or, sql } from "drizzle-orm";
import { createDb, type Db } from "../../db/client";
import { getRun } from "../../db/queries/runs";
import { feedbackEvents, retrainingCycles, retrainingPolicies } from "../../db/schema";
import { advanceCycle, currentChampionRow } from "./cycles";
import { newId } from "./ids";
import { type CycleRow, OPEN_CYCLE, type PolicyRow, RetrainingPolicySpec } from "./retraining-policy";
import type { JobMessage } from "./training";

/** What starts a retraining cycle: the policy's trigger (cron), drift, and a run of an open cycle ending. */

const log = (msg: string, data: Record<string, unknown>) =>
  console.log(JSON.stringify({ level: "info", msg, ...data }));

/**
 * Starts a cycle of a policy, unless one is open (the partial unique index lets one in). `since` bounds the
 * feedback that is new to it: the previous cycle's start, or the policy's creation. Answers the cycle or null.
 */
export async function startCycle(
  env: Env,
  policy: PolicyRow,
  trigger: Record<string, unknown>,
  now = Date.now(),
): Promise<CycleRow | null> {
  const db = createDb(env.DB);
  const spec = RetrainingPolicySpec.parse(policy.spec);
  const last = await lastCycle(db, policy.id);
  // The first cycle takes every event its sources hold (feedback sent before the policy existed included);
  // each later one, what arrived since the previous cycle began.
  const since = last?.createdAt ?? 0;
  const champion = await currentChampionRow(db, policy.experimentId);
  const championRun = champion ? await getRun(db, policy.projectId, champion.runId) : null;
  const holdout = spec.gate.holdout ?? championRun?.datasetId ?? null;
  const id = newId("cyc", now);
  const inserted = await db
    .insert(retrainingCycles)
    .values({
      id,
      projectId: policy.projectId,
      policyId: policy.id,
      experimentId: policy.experimentId,
      status: "curating",
      trigger,
      feedbackSince: since,
      feedbackCount: await newFeedback(db, policy, spec, since),
      championRunId: champion?.runId ?? null,
      holdoutDatasetId: holdout,
      log: [{ at: now, step: "started", detail: JSON.stringify(trigger) }],
      createdAt: now,
      updatedAt: now,
    })
    .onConflictDoNothing()
    .returning();
  if (!inserted.length) return null;
  await env.JOBS.send({ type: "cycle", cycleId: id } satisfies JobMessage);
  log("retraining cycle started", { cycleId: id, policyId: policy.id, trigger });
  return inserted[0]!;
}

async function newFeedback(db: Db, policy: PolicyRow, spec: RetrainingPolicySpec, since: number) {
  const [r] = await db
    .select({ n: sql<number>`count(*)` })
    .from(feedbackEvents)
    .where(
      and(
        eq(feedbackEvents.projectId, policy.projectId),
        inArray(feedbackEvents.sourceId, spec.feedback.sources),
        gt(feedbackEvents.receivedAt, since),
      ),
    );
  return r?.n ?? 0;
}

/** A policy's newest cycle (ids sort by creation time), or undefined before its first. */
async function lastCycle(db: Db, policyId: string): Promise<CycleRow | undefined> {
  const [last] = await db
    .select()
    .from(retrainingCycles)
    .where(eq(retrainingCycles.policyId, policyId))
    .orderBy(sql`${retrainingCycles.id} desc`)
    .limit(1);
  return last;
}

/**
 * Whether a policy fires now on its own: no open cycle, past its cooldown, and enough new feedback
 * (`minNewFeedback`) or an old enough last cycle with some new feedback (`maxAgeHours`). Answers the trigger.
 */
export async function dueTrigger(db: Db, policy: PolicyRow, now: number): Promise<Record<string, unknown> | null> {
  const spec = RetrainingPolicySpec.parse(policy.spec);
  const { minNewFeedback, maxAgeHours, cooldownHours } = spec.trigger;
  if (minNewFeedback === undefined && maxAgeHours === undefined) return null;
  const last = await lastCycle(db, policy.id);
  if (last && OPEN_CYCLE.includes(last.status)) return null;
  const since = last?.createdAt ?? policy.createdAt;
  if (last && now - last.createdAt < cooldownHours * 3_600_000) return null;
  const fresh = await newFeedback(db, policy, spec, since);
  if (minNewFeedback !== undefined && fresh >= minNewFeedback) return { kind: "feedback", newFeedback: fresh };
  if (maxAgeHours !== undefined && fresh > 0 && now - since >= maxAgeHours * 3_600_000) {
    return { kind: "age", newFeedback: fresh, ageHours: (now - since) / 3_600_000 };
  }
  return null;
}

/** For the drift monitor: starts a cycle of every policy of the experiment that fires on drift (cooldown kept). */
export async function fireOnDrift(env: Env, experimentId: string, detail: Record<string, unknown>, now = Date.now()) {
  const db = createDb(env.DB);
  const policies = await db.select().from(retrainingPolicies).where(eq(retrainingPolicies.experimentId, experimentId));
  const started: string[] = [];
  for (const p of policies) {
    const spec = RetrainingPolicySpec.parse(p.spec);
    if (!spec.trigger.onDrift) continue;
    const [last] = await db
      .select()
      .from(retrainingCycles)
      .where(eq(retrainingCycles.policyId, p.id))
      .orderBy(sql`${retrainingCycles.id} desc`)
      .limit(1);
    if (last && now - last.createdAt < spec.trigger.cooldownHours * 3_600_000) continue;
    const c = await startCycle(env, p, { kind: "drift", ...detail }, now);
    if (c) started.push(c.id);
  }
  return started;
}

/** The cron task: fire due policies, then advance every open cycle (a lost queue message only delays a cycle). */
export async function retrainingCron(env: Env, now = Date.now()) {
  const db = createDb(env.DB);
  const policies = await db.select().from(retrainingPolicies).orderBy(asc(retrainingPolicies.id)).limit(500);
  for (const p of policies) {
    const trigger = await dueTrigger(db, p, now);
    if (trigger) await startCycle(env, p, trigger, now);
  }
  const open = await db
    .select({ id: retrainingCycles.id })
    .from(retrainingCycles)
    .where(inArray(retrainingCycles.status, OPEN_CYCLE))
    .orderBy(asc(retrainingCycles.id))
    .limit(100);
  for (const c of open) await advanceCycle(env, c.id, now);
}

/** A run of an open cycle ended: the cycle looks at it at once instead of at the next cron tick. */
export async function notifyCyclesOfRun(db: Db, env: Env, runId: string) {
  const rows = await db
    .select({ id: retrainingCycles.id })
    .from(retrainingCycles)
    .where(
      and(
        inArray(retrainingCycles.status, OPEN_CYCLE),
        or(
          eq(retrainingCycles.runId, runId),
          eq(retrainingCycles.championEvalId, runId),
          eq(retrainingCycles.challengerEvalId, runId),
        ),
      ),
    );
  for (const r of rows) await env.JOBS.send({ type: "cycle", cycleId: r.id } satisfies JobMessage);
}
