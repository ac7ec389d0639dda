import { createDb } from "../db/client";
import { reconcile } from "./jobs";
import { resumeStalledCurations } from "./lib/curation/job";
import { retrainingCron } from "./lib/cycle-triggers";
import { runDriftChecks } from "./lib/drift-check";
import { enqueueDueDeliveries } from "./lib/events";
import { feedbackOutbox } from "./lib/feedback";
import { runNightlyEvaluations } from "./lib/nightly";
import { advanceSearchingSweeps } from "./lib/sweep-search";

/**
 * One scheduled task: what the every-minute cron does besides the others. Each task runs on its own, so
 * one that throws is logged and the rest still run.
 */
export interface CronTask {
  name: string;
  run(env: Env, now: number): Promise<void>;
}

/** Every task the cron runs, in order. A capability with periodic work adds its task here. */
export const CRON_TASKS: CronTask[] = [
  { name: "reconcile-runs", run: (env, now) => reconcile(env, now) },
  { name: "advance-sweeps", run: (env, now) => advanceSearchingSweeps(createDb(env.DB), env, now) },
  { name: "feedback-outbox", run: async (env, now) => void (await feedbackOutbox(env, now)) },
  // After reconciliation, so that a run it just failed ends its cycle in the same tick.
  { name: "retraining", run: (env, now) => retrainingCron(env, now) },
  { name: "resume-curations", run: (env, now) => resumeStalledCurations(createDb(env.DB), env, now) },
  // One drift check per window per monitored experiment (idempotent per window), at most one per minute.
  { name: "drift-checks", run: async (env, now) => void (await runDriftChecks(env, createDb(env.DB), now)) },
  // Each monitored experiment's nightly evaluation, once per UTC night (scaffolding: see lib/nightly.ts).
  {
    name: "nightly-evaluations",
    run: async (env, now) => void (await runNightlyEvaluations(env, createDb(env.DB), now)),
  },
  // Outgoing event deliveries that are due but have no queue message on the way.
  { name: "event-deliveries", run: async (env, now) => void (await enqueueDueDeliveries(createDb(env.DB), env, now)) },
];

export async function runCron(env: Env, now = Date.now(), tasks: CronTask[] = CRON_TASKS): Promise<void> {
  for (const task of tasks) {
    try {
      await task.run(env, now);
    } catch (err) {
      console.error(JSON.stringify({ level: "error", msg: "cron task failed", task: task.name, error: String(err) }));
    }
  }
}
