import { index, integer, primaryKey, real, sqliteTable, text } from "drizzle-orm/sqlite-core";

/**
 * One scored batch of a training run's reward callback, as aggregates. `(run, step, batch)` is the key,
 * so a retried callback is recorded once; per-step reward telemetry is computed from these rows.
 */
export const rewardBatches = sqliteTable(
  "reward_batches",
  {
    runId: text("run_id").notNull(),
    step: integer("step").notNull(),
    batchKey: text("batch_key").notNull(),
    samples: integer("samples").notNull(),
    valid: integer("valid").notNull(),
    scoreSum: real("score_sum").notNull(),
    scoreSumSq: real("score_sum_sq").notNull(),
    groups: integer("groups").notNull(),
    zeroStdGroups: integer("zero_std_groups").notNull(),
    /** Per sub-grader (metric) name: [sum of scores, count]. */
    subScores: text("sub_scores", { mode: "json" }).$type<Record<string, [number, number]>>().notNull(),
    latencyP50: real("latency_p50").notNull(),
    latencyP99: real("latency_p99").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.runId, t.step, t.batchKey] })],
);

export const sweeps = sqliteTable(
  "sweeps",
  {
    id: text("id").primaryKey(),
    projectId: text("project_id").notNull().default("prj_default"),
    experimentId: text("experiment_id").notNull(),
    name: text("name"),
    /** The base run spec and the search space as given. */
    spec: text("spec", { mode: "json" }).$type<Record<string, unknown>>().notNull(),
    metric: text("metric").notNull(),
    mode: text("mode").$type<"max" | "min">().notNull(),
    backend: text("backend").notNull(),
    jobId: text("job_id"),
    error: text("error"),
    /** When a searching sweep (`bayes`) proposed its last run and that run ended: the cron stops looking. */
    doneAt: integer("done_at"),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [
    index("sweeps_experiment_idx").on(t.experimentId, t.createdAt),
    index("sweeps_project_idx").on(t.projectId, t.id),
  ],
);

/**
 * Successive-halving decisions: one row when a sweep's run first reached a rung, with its metric there and
 * whether it went on. Rows of a rung, in insertion order, are what a later run at that rung is ranked
 * against, so each decision is made once and never revised.
 */
export const sweepRungs = sqliteTable(
  "sweep_rungs",
  {
    sweepId: text("sweep_id").notNull(),
    rung: integer("rung").notNull(),
    runId: text("run_id").notNull(),
    step: integer("step").notNull(),
    value: real("value").notNull(),
    rank: integer("rank").notNull(),
    /** How many values the rung held at the decision, this one included, and how many of them go on. */
    n: integer("n").notNull(),
    keep: integer("keep").notNull(),
    continued: integer("continued", { mode: "boolean" }).notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.sweepId, t.rung, t.runId] })],
);
