import { sql } from "drizzle-orm";
import { index, integer, primaryKey, real, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

/**
 * One scored sample of an eval run, keyed by the item it answers. `sampleKey` is `step:batchKey:i`, so a
 * retried rewards call stores nothing twice. Paired comparisons read these rows per item.
 */
export const evalItemScores = sqliteTable(
  "eval_item_scores",
  {
    runId: text("run_id").notNull(),
    projectId: text("project_id").notNull().default("prj_default"),
    itemId: text("item_id").notNull(),
    sampleKey: text("sample_key").notNull(),
    score: real("score").notNull(),
    valid: integer("valid", { mode: "boolean" }).notNull(),
    /** The item's cluster (a `cluster` field of the row), for cluster-robust standard errors. */
    cluster: text("cluster"),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.runId, t.itemId, t.sampleKey] })],
);

/**
 * An experiment's champions over time: the row with `until` null is the current one (at most one, by the
 * partial unique index), the rest are its history with why each was promoted.
 */
export const championHistory = sqliteTable(
  "champion_history",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    projectId: text("project_id").notNull().default("prj_default"),
    experimentId: text("experiment_id").notNull(),
    runId: text("run_id").notNull(),
    reason: text("reason").notNull(),
    /** The retraining cycle that promoted it; null when set by hand. */
    cycleId: text("cycle_id"),
    since: integer("since").notNull(),
    until: integer("until"),
  },
  (t) => [
    uniqueIndex("champion_current_idx").on(t.experimentId).where(sql`until is null`),
    index("champion_history_experiment_idx").on(t.experimentId, t.id),
  ],
);

export const retrainingPolicies = sqliteTable(
  "retraining_policies",
  {
    id: text("id").primaryKey(),
    projectId: text("project_id").notNull().default("prj_default"),
    experimentId: text("experiment_id").notNull(),
    name: text("name").notNull(),
    /** The validated policy: feedback sources, trigger, curation, run template, gate. */
    spec: text("spec", { mode: "json" }).$type<Record<string, unknown>>().notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [index("retraining_policies_experiment_idx").on(t.projectId, t.experimentId, t.id)],
);

export type CycleStatus = "curating" | "training" | "evaluating" | "succeeded" | "failed";

/**
 * One retraining cycle: curate → train → evaluate both models → decide. Each step's output id is written
 * to its column before the thing is created (reserved), so a redelivered or crashed step finds it and
 * continues instead of creating a second one; status moves only by guarded updates.
 */
export const retrainingCycles = sqliteTable(
  "retraining_cycles",
  {
    id: text("id").primaryKey(),
    projectId: text("project_id").notNull().default("prj_default"),
    policyId: text("policy_id").notNull(),
    experimentId: text("experiment_id").notNull(),
    status: text("status").$type<CycleStatus>().notNull(),
    /** What fired it: `{ kind: "manual"|"feedback"|"age"|"drift", ... }`. */
    trigger: text("trigger", { mode: "json" }).$type<Record<string, unknown>>().notNull(),
    /** Feedback received after this instant was new to this cycle (the previous cycle's start, or the policy's). */
    feedbackSince: integer("feedback_since").notNull(),
    feedbackCount: integer("feedback_count").notNull().default(0),
    /** The champion when the cycle started (null: none yet, the base model is the incumbent). */
    championRunId: text("champion_run_id"),
    /** The frozen holdout both models are evaluated on. */
    holdoutDatasetId: text("holdout_dataset_id"),
    curationId: text("curation_id"),
    datasetId: text("dataset_id"),
    runId: text("run_id"),
    championEvalId: text("champion_eval_id"),
    challengerEvalId: text("challenger_eval_id"),
    decision: text("decision", { mode: "json" }).$type<Record<string, unknown>>(),
    error: text("error"),
    /** Every step taken, with when: the cycle's own log. */
    log: text("log", { mode: "json" }).$type<{ at: number; step: string; detail?: string }[]>().notNull(),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
    endedAt: integer("ended_at"),
  },
  (t) => [
    index("retraining_cycles_policy_idx").on(t.policyId, t.id),
    // One open cycle per policy: a trigger that fires while one runs (cron and a manual trigger at once) inserts nothing.
    uniqueIndex("retraining_cycles_open_idx")
      .on(t.policyId)
      .where(sql`status in ('curating', 'training', 'evaluating')`),
    index("retraining_cycles_status_idx").on(t.status),
    index("retraining_cycles_run_idx").on(t.runId),
    index("retraining_cycles_champion_eval_idx").on(t.championEvalId),
    index("retraining_cycles_challenger_eval_idx").on(t.challengerEvalId),
  ],
);
