import { index, integer, primaryKey, real, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import type { DispatchSpec } from "../../gpu-jobs/spec";
import type { RunStatus } from "../run-lifecycle";

export const experiments = sqliteTable(
  "experiments",
  {
    id: text("id").primaryKey(),
    projectId: text("project_id").notNull().default("prj_default"),
    name: text("name").notNull(),
    description: text("description"),
    tags: text("tags", { mode: "json" }).$type<string[]>().notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [index("experiments_created_idx").on(t.createdAt), index("experiments_project_idx").on(t.projectId, t.id)],
);

export type { RunStatus } from "../run-lifecycle";

export const runs = sqliteTable(
  "runs",
  {
    id: text("id").primaryKey(),
    projectId: text("project_id").notNull().default("prj_default"),
    experimentId: text("experiment_id")
      .notNull()
      .references(() => experiments.id),
    kind: text("kind").$type<"rft" | "eval" | "sft" | "dpo" | "kto">().notNull(),
    status: text("status").$type<RunStatus>().notNull(),
    name: text("name"),
    params: text("params", { mode: "json" }).$type<Record<string, unknown>>().notNull(),
    /** The whole validated run spec (grader, hyperparameters, backend, rules, limits) for kinds that carry one. */
    spec: text("spec", { mode: "json" }).$type<DispatchSpec>(),
    datasetId: text("dataset_id"),
    datasetSha256: text("dataset_sha256"),
    baseModel: text("base_model"),
    /** `name@version` of the reward or grader the run is pinned to. */
    graderRef: text("grader_ref"),
    backend: text("backend"),
    parentRunId: text("parent_run_id"),
    sweepId: text("sweep_id"),
    /** Position in its sweep (the AWS Batch array index). */
    sweepIndex: integer("sweep_index"),
    summary: text("summary", { mode: "json" }).$type<Record<string, unknown>>(),
    stopRequested: integer("stop_requested", { mode: "boolean" }).notNull().default(false),
    stopReason: text("stop_reason"),
    error: text("error"),
    jobId: text("job_id"),
    tokenHash: text("token_hash"),
    heartbeatAt: integer("heartbeat_at"),
    /** When the container first reported in (its first heartbeat): wall-clock limits count from here. */
    startedAt: integer("started_at"),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [
    index("runs_experiment_idx").on(t.experimentId, t.createdAt),
    index("runs_status_idx").on(t.status),
    index("runs_sweep_idx").on(t.sweepId),
    // A searching sweep proposes runs one index at a time; a redelivered proposal finds its index taken.
    uniqueIndex("runs_sweep_index_idx").on(t.sweepId, t.sweepIndex),
    index("runs_project_idx").on(t.projectId, t.id),
  ],
);

export const runStatusHistory = sqliteTable(
  "run_status_history",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    runId: text("run_id")
      .notNull()
      .references(() => runs.id),
    status: text("status").$type<RunStatus>().notNull(),
    reason: text("reason"),
    at: integer("at").notNull(),
  },
  (t) => [index("run_status_history_run_idx").on(t.runId, t.id)],
);

export const artifacts = sqliteTable(
  "artifacts",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    runId: text("run_id")
      .notNull()
      .references(() => runs.id),
    kind: text("kind").notNull(),
    uri: text("uri").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [uniqueIndex("artifacts_run_kind_uri_idx").on(t.runId, t.kind, t.uri)],
);

/**
 * Step-wise KPIs. `(run, name, step)` is the key: the identical point again is a duplicate,
 * a different value is a conflict and the whole batch is refused (see db/queries/metrics.ts).
 */
export const metrics = sqliteTable(
  "metrics",
  {
    runId: text("run_id").notNull(),
    name: text("name").notNull(),
    step: integer("step").notNull(),
    value: real("value").notNull(),
    ts: integer("ts").notNull(),
  },
  (t) => [primaryKey({ columns: [t.runId, t.name, t.step] })],
);
