import { index, integer, real, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

/**
 * How an experiment is monitored in production. Without a row an experiment is not monitored by the
 * cron; `GET …/drift` still works when a reference dataset can be found.
 */
export const experimentMonitoring = sqliteTable(
  "experiment_monitoring",
  {
    experimentId: text("experiment_id").primaryKey(),
    projectId: text("project_id").notNull().default("prj_default"),
    /** The dataset whose inputs are the drift reference; null: the champion's training dataset (when there is one). */
    referenceDataset: text("reference_dataset"),
    /** Length of the current window, as given ("24h") and in ms. */
    window: text("window").notNull().default("24h"),
    windowMs: integer("window_ms").notNull().default(86_400_000),
    /** Feedback sources whose events are the current inputs; null: every source tied to the experiment. */
    sources: text("sources", { mode: "json" }).$type<string[]>(),
    /** Largest drop of the champion's KPI against the previous nightly evaluation before an alert. */
    alertMargin: real("alert_margin").notNull().default(0.02),
    /** "HH:MM" (UTC) after which the nightly evaluation runs. */
    nightlyAtUtc: text("nightly_at_utc").notNull().default("02:00"),
    /** Grader config of the nightly evaluation; null: the experiment's eval grader (see lib/nightly.ts). */
    evalGrader: text("eval_grader", { mode: "json" }).$type<Record<string, unknown>>(),
    /** Dataset whose holdout split is the nightly evaluation's frozen holdout; null: the champion's dataset. */
    evalDataset: text("eval_dataset"),
    /** Confidence of the paired test that judges a nightly drop (the champion gate's test). */
    alertConfidence: real("alert_confidence").notNull().default(0.95),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [index("experiment_monitoring_project_idx").on(t.projectId, t.experimentId)],
);

/** One stored drift check: the report for one window. The cron writes at most one per (experiment, window). */
export const driftChecks = sqliteTable(
  "drift_checks",
  {
    id: text("id").primaryKey(),
    projectId: text("project_id").notNull().default("prj_default"),
    experimentId: text("experiment_id").notNull(),
    windowStart: integer("window_start").notNull(),
    windowEnd: integer("window_end").notNull(),
    /** "cron" for the scheduled series, "api" for a check requested with POST. */
    trigger: text("trigger").$type<"cron" | "api">().notNull(),
    referenceDataset: text("reference_dataset"),
    referenceN: integer("reference_n").notNull(),
    currentN: integer("current_n").notNull(),
    drifted: integer("drifted", { mode: "boolean" }).notNull(),
    report: text("report", { mode: "json" }).$type<Record<string, unknown>>().notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [
    // Idempotency of the cron: a second run for the same window inserts nothing.
    uniqueIndex("drift_checks_window_idx").on(t.experimentId, t.trigger, t.windowStart, t.windowEnd),
    index("drift_checks_project_idx").on(t.projectId, t.experimentId, t.id),
  ],
);

/**
 * A receiver of outgoing events. The `whsec_…` signing secret is stored only encrypted (AES-GCM under
 * ASSAY_ENCRYPTION_KEY, base64(iv ‖ ciphertext)).
 */
export const eventSubscriptions = sqliteTable(
  "event_subscriptions",
  {
    id: text("id").primaryKey(),
    projectId: text("project_id").notNull().default("prj_default"),
    url: text("url").notNull(),
    events: text("events", { mode: "json" }).$type<string[]>().notNull(),
    secretEnc: text("secret_enc").notNull(),
    description: text("description"),
    /** When the oldest failure of the current failing streak happened; null while deliveries succeed. */
    failingSince: integer("failing_since"),
    disabledAt: integer("disabled_at"),
    disabledReason: text("disabled_reason"),
    createdAt: integer("created_at").notNull(),
    deletedAt: integer("deleted_at"),
  },
  (t) => [index("event_subscriptions_project_idx").on(t.projectId, t.id)],
);

export type DeliveryStatus = "pending" | "succeeded" | "failed";

/** One event for one subscription. Its id is the `webhook-id`: the same on every retry. */
export const eventDeliveries = sqliteTable(
  "event_deliveries",
  {
    id: text("id").primaryKey(),
    projectId: text("project_id").notNull().default("prj_default"),
    subscriptionId: text("subscription_id").notNull(),
    type: text("type").notNull(),
    /** The exact body sent (JSON text), signed as is. */
    body: text("body").notNull(),
    status: text("status").$type<DeliveryStatus>().notNull(),
    attempts: integer("attempts").notNull().default(0),
    nextAttemptAt: integer("next_attempt_at"),
    /** A worker holds the delivery until then, so two queue messages never send it twice at once. */
    leaseUntil: integer("lease_until"),
    lastError: text("last_error"),
    createdAt: integer("created_at").notNull(),
    deliveredAt: integer("delivered_at"),
  },
  (t) => [
    index("event_deliveries_subscription_idx").on(t.subscriptionId, t.id),
    index("event_deliveries_due_idx").on(t.status, t.nextAttemptAt),
  ],
);

/** Every attempt at a delivery, kept for `GET /v1/event-subscriptions/{id}/deliveries`. */
export const eventDeliveryAttempts = sqliteTable(
  "event_delivery_attempts",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    deliveryId: text("delivery_id").notNull(),
    attempt: integer("attempt").notNull(),
    at: integer("at").notNull(),
    outcome: text("outcome").$type<"succeeded" | "failed">().notNull(),
    responseCode: integer("response_code"),
    error: text("error"),
    durationMs: integer("duration_ms").notNull(),
    nextRetryAt: integer("next_retry_at"),
  },
  (t) => [uniqueIndex("event_delivery_attempts_idx").on(t.deliveryId, t.attempt)],
);

/**
 * `pending`: claimed, the eval run not yet created; `dispatched`: the eval run is on its way; `succeeded`:
 * scored and compared; `skipped` (nothing to evaluate: no champion, no holdout, no grader) and `failed` (the
 * eval run or its dispatch failed) carry a reason.
 */
export type NightlyStatus = "pending" | "dispatched" | "succeeded" | "skipped" | "failed";

/**
 * One nightly evaluation per experiment and UTC night. The row is claimed before anything is
 * dispatched (unique experiment + night), so a re-run cron, a redelivered message or two overlapping
 * crons start one evaluation. The eval run and its KPIs are filled in by the evaluator.
 */
export const nightlyEvaluations = sqliteTable(
  "nightly_evaluations",
  {
    id: text("id").primaryKey(),
    projectId: text("project_id").notNull().default("prj_default"),
    experimentId: text("experiment_id").notNull(),
    /** The UTC date of the night, "YYYY-MM-DD". */
    night: text("night").notNull(),
    status: text("status").$type<NightlyStatus>().notNull(),
    reason: text("reason"),
    championRunId: text("champion_run_id"),
    evalRunId: text("eval_run_id"),
    graderVersion: text("grader_version"),
    kpis: text("kpis", { mode: "json" }).$type<Record<string, number>>(),
    /** The grader's id (its config's `name`, else its type); the version is `graderVersion`. */
    graderId: text("grader_id"),
    /** The grader config the eval run was dispatched with. */
    graderConfig: text("grader_config", { mode: "json" }).$type<Record<string, unknown>>(),
    /** The dataset whose holdout split was evaluated, and the champion's model. */
    datasetId: text("dataset_id"),
    baseModel: text("base_model"),
    backend: text("backend"),
    /** The evaluation this one was compared with (same grader version and holdout), or null. */
    previousId: text("previous_id"),
    /** true: the grader version differs from the previous evaluation's, so a new segment starts here. */
    graderChanged: integer("grader_changed", { mode: "boolean" }).notNull().default(false),
    /** The paired comparison with the previous evaluation, or `{ note }` saying why there is none. */
    comparison: text("comparison", { mode: "json" }).$type<Record<string, unknown>>(),
    regressed: integer("regressed", { mode: "boolean" }).notNull().default(false),
    finishedAt: integer("finished_at"),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [
    uniqueIndex("nightly_evaluations_night_idx").on(t.experimentId, t.night),
    index("nightly_evaluations_project_idx").on(t.projectId, t.experimentId, t.night),
    // The cron's settle pass finds open evaluations, and a finished eval run finds its evaluation.
    index("nightly_evaluations_status_idx").on(t.status, t.updatedAt),
    index("nightly_evaluations_run_idx").on(t.evalRunId),
  ],
);
