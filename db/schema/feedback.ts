import { sql } from "drizzle-orm";
import { index, integer, real, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

/**
 * Where production feedback comes from. Each source has its own Standard Webhooks secret, stored only
 * encrypted (AES-GCM under ASSAY_ENCRYPTION_KEY). During a rotation the previous secret keeps verifying
 * until `previousSecretUntil`.
 */
export const feedbackSources = sqliteTable(
  "feedback_sources",
  {
    id: text("id").primaryKey(),
    projectId: text("project_id").notNull().default("prj_default"),
    name: text("name").notNull(),
    experimentId: text("experiment_id"),
    redactPii: integer("redact_pii", { mode: "boolean" }).notNull().default(true),
    /** base64(iv ‖ AES-GCM ciphertext) of the `whsec_…` secret. */
    secretEnc: text("secret_enc").notNull(),
    previousSecretEnc: text("previous_secret_enc"),
    previousSecretUntil: integer("previous_secret_until"),
    events: integer("events").notNull().default(0),
    lastEventAt: integer("last_event_at"),
    revokedAt: integer("revoked_at"),
    createdAt: integer("created_at").notNull(),
    rotatedAt: integer("rotated_at"),
  },
  (t) => [index("feedback_sources_project_idx").on(t.projectId, t.id)],
);

export type FeedbackRating = "up" | "down" | number;

/**
 * One feedback event, stored once per (source, delivery id) and already redacted when its source says so.
 * `processedAt` is the outbox mark: null until the Queue consumer has done the follow-up work (counters,
 * triggers), so an event written just before a crash is picked up again by the cron.
 */
export const feedbackEvents = sqliteTable(
  "feedback_events",
  {
    id: text("id").primaryKey(),
    projectId: text("project_id").notNull().default("prj_default"),
    /** The source id, or "" for a batch backfill sent without `?source=`. */
    sourceId: text("source_id").notNull(),
    /** The `webhook-id` header, or a batch line's `id`: the idempotency key within the source. */
    deliveryId: text("delivery_id").notNull(),
    model: text("model").notNull(),
    /** The input as sent (a string or a list of `{ role, content }`), after redaction. */
    input: text("input", { mode: "json" }).$type<string | { role: string; content: string }[]>().notNull(),
    /** The input flattened to one string (messages joined), for dedup, contamination checks and drift. */
    inputText: text("input_text").notNull(),
    output: text("output").notNull(),
    /** "up" | "down" as text, or a number in [0, 1] as text; null when the event has no rating. */
    rating: text("rating"),
    /** The rating on [0, 1] (up = 1, down = 0), for sorting and shares. */
    ratingValue: real("rating_value"),
    correction: text("correction"),
    reference: text("reference", { mode: "json" }).$type<Record<string, unknown>>(),
    comment: text("comment"),
    labels: text("labels", { mode: "json" }).$type<string[]>(),
    metadata: text("metadata", { mode: "json" }).$type<Record<string, unknown>>(),
    embedding: text("embedding", { mode: "json" }).$type<number[]>(),
    /** Counts of what was replaced, by kind (`{ email: 2, ip: 1 }`); empty when nothing was. */
    redactions: text("redactions", { mode: "json" }).$type<Record<string, number>>().notNull(),
    /** The event's own `timestamp` (epoch ms). */
    occurredAt: integer("occurred_at").notNull(),
    receivedAt: integer("received_at").notNull(),
    processedAt: integer("processed_at"),
    attempts: integer("attempts").notNull().default(0),
    /**
     * When the outbox cron last enqueued this event. The accept path leaves it null (one write per
     * delivery); the cron sets it so that a backed-up queue is not handed the same events every minute.
     */
    enqueuedAt: integer("enqueued_at"),
  },
  (t) => [
    uniqueIndex("feedback_events_delivery_idx").on(t.projectId, t.sourceId, t.deliveryId),
    index("feedback_events_source_idx").on(t.sourceId, t.receivedAt),
    index("feedback_events_project_idx").on(t.projectId, t.receivedAt),
    index("feedback_events_model_idx").on(t.model, t.receivedAt),
    index("feedback_events_unprocessed_idx").on(t.processedAt, t.receivedAt),
  ],
);

/** Events whose follow-up processing failed after its retries; listed by the API and replayable. */
export const feedbackDeadLetters = sqliteTable(
  "feedback_dead_letters",
  {
    id: text("id").primaryKey(),
    projectId: text("project_id").notNull().default("prj_default"),
    eventId: text("event_id").notNull(),
    error: text("error").notNull(),
    attempts: integer("attempts").notNull(),
    createdAt: integer("created_at").notNull(),
    retriedAt: integer("retried_at"),
    resolvedAt: integer("resolved_at"),
  },
  (t) => [
    index("feedback_dead_letters_project_idx").on(t.projectId, t.resolvedAt, t.id),
    // At most one open dead letter per event: a replay that fails again updates it instead of adding one.
    uniqueIndex("feedback_dead_letters_open_event_idx").on(t.eventId).where(sql`resolved_at is null`),
  ],
);

export type CurationStatus = "queued" | "running" | "succeeded" | "failed";

/**
 * A curation job: a slice of feedback turned into a new immutable dataset version. `state` holds the
 * job's resumable position (which chunk is next, what was kept so far), so a crash or a redelivered
 * message continues instead of starting over.
 */
export const curations = sqliteTable(
  "curations",
  {
    id: text("id").primaryKey(),
    projectId: text("project_id").notNull().default("prj_default"),
    name: text("name"),
    /** The request as validated (feedback filter, format, dedup settings, holdoutOf, base). */
    spec: text("spec", { mode: "json" }).$type<Record<string, unknown>>().notNull(),
    status: text("status").$type<CurationStatus>().notNull(),
    progressDone: integer("progress_done").notNull().default(0),
    progressTotal: integer("progress_total").notNull().default(0),
    state: text("state", { mode: "json" }).$type<Record<string, unknown>>(),
    datasetId: text("dataset_id"),
    report: text("report", { mode: "json" }).$type<Record<string, unknown>>(),
    error: text("error"),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [index("curations_project_idx").on(t.projectId, t.id)],
);
