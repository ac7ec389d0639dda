/**
 * Nightly evaluation: SCAFFOLDING for the retraining work, which owns champions and eval runs.
 *
 * What is here: the cron task that decides, per monitored experiment and UTC night, that the nightly
 * evaluation is due (after the config's `nightlyAtUtc`), claims the night in `nightly_evaluations`
 * (unique experiment + night: a re-run cron, a redelivered message or two overlapping crons claim it
 * once), and hands it to `NIGHTLY.evaluate`.
 *
 * What is not: the evaluation itself. Until the retraining work sets `NIGHTLY.evaluate` to a function
 * that finds the champion and dispatches an eval run on its frozen holdout through the experiment's
 * backend, each night is recorded as `skipped` with the reason, never as a fake result. When the eval
 * run completes, that work fills in `kpis` and `graderVersion`, compares with the previous night (the
 * champion gate's paired comparison, margin `alertMargin`), and raises `evaluation.regressed` with
 * `emitEvent`.
 */
import { and, eq } from "drizzle-orm";
import type { Db } from "../../db/client";
import { experimentMonitoring, nightlyEvaluations } from "../../db/schema";
import type { MonitoringConfig } from "./drift-check";
import { newId } from "./ids";

export interface NightlyJob {
  id: string;
  projectId: string;
  experimentId: string;
  night: string;
  config: MonitoringConfig;
}

export type NightlyOutcome =
  | { status: "dispatched"; championRunId: string; evalRunId: string; graderVersion?: string }
  | { status: "skipped"; reason: string };

/** The hook the retraining work sets: dispatch the champion's eval run for one night. */
export const NIGHTLY: { evaluate: (db: Db, env: Env, job: NightlyJob) => Promise<NightlyOutcome> } = {
  evaluate: async () => ({ status: "skipped", reason: "no champion evaluator is registered (NIGHTLY.evaluate)" }),
};

/** The UTC night `now` falls in, and whether it is past the config's "HH:MM". */
export function nightOf(now: number, atUtc: string): { night: string; due: boolean } {
  const d = new Date(now);
  const [hh, mm] = atUtc.split(":").map(Number) as [number, number];
  const minutes = d.getUTCHours() * 60 + d.getUTCMinutes();
  return { night: d.toISOString().slice(0, 10), due: minutes >= hh * 60 + mm };
}

/** Cron task: claims and evaluates each monitored experiment's night once. Returns the claimed ids. */
export async function runNightlyEvaluations(env: Env, db: Db, now = Date.now()): Promise<string[]> {
  const configs = await db.select().from(experimentMonitoring);
  const claimed: string[] = [];
  for (const config of configs) {
    const { night, due } = nightOf(now, config.nightlyAtUtc);
    if (!due) continue;
    const id = newId("evl", now);
    const inserted = await db
      .insert(nightlyEvaluations)
      .values({
        id,
        projectId: config.projectId,
        experimentId: config.experimentId,
        night,
        status: "skipped",
        reason: "claimed",
        createdAt: now,
        updatedAt: now,
      })
      .onConflictDoNothing()
      .returning({ id: nightlyEvaluations.id });
    if (inserted.length === 0) continue;
    claimed.push(id);
    let outcome: NightlyOutcome | { status: "failed"; reason: string };
    try {
      outcome = await NIGHTLY.evaluate(db, env, {
        id,
        projectId: config.projectId,
        experimentId: config.experimentId,
        night,
        config,
      });
    } catch (err) {
      outcome = { status: "failed", reason: String(err).slice(0, 500) };
    }
    await db
      .update(nightlyEvaluations)
      .set(
        outcome.status === "dispatched"
          ? {
              status: "dispatched",
              reason: null,
              championRunId: outcome.championRunId,
              evalRunId: outcome.evalRunId,
              graderVersion: outcome.graderVersion ?? null,
              updatedAt: now,
            }
          : { status: outcome.status, reason: outcome.reason, updatedAt: now },
      )
      .where(and(eq(nightlyEvaluations.id, id)));
  }
  return claimed;
}
