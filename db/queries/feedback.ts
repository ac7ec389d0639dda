import { and, asc, eq, gt, gte, inArray, isNotNull, isNull, lt, or, sql } from "drizzle-orm";
import type { Db } from "../client";
import { feedbackDeadLetters, feedbackEvents, feedbackSources } from "../schema";

export type FeedbackSourceRow = typeof feedbackSources.$inferSelect;
export type FeedbackEventRow = typeof feedbackEvents.$inferSelect;
export type FeedbackDeadLetterRow = typeof feedbackDeadLetters.$inferSelect;

export async function insertSource(db: Db, row: FeedbackSourceRow) {
  await db.insert(feedbackSources).values(row);
  return row;
}

/** A source of the project, or null (another project's source reads as missing). */
export async function getSource(db: Db, projectId: string, id: string) {
  const [row] = await db
    .select()
    .from(feedbackSources)
    .where(and(eq(feedbackSources.projectId, projectId), eq(feedbackSources.id, id)))
    .limit(1);
  return row ?? null;
}

/** The webhook route has no caller project: the source's own row decides it. */
export async function getSourceForDelivery(db: Db, id: string) {
  const [row] = await db.select().from(feedbackSources).where(eq(feedbackSources.id, id)).limit(1);
  return row ?? null;
}

export async function listSources(db: Db, projectId: string, opts: { cursor?: string; limit: number }) {
  return db
    .select()
    .from(feedbackSources)
    .where(and(eq(feedbackSources.projectId, projectId), opts.cursor ? gt(feedbackSources.id, opts.cursor) : undefined))
    .orderBy(asc(feedbackSources.id))
    .limit(opts.limit + 1);
}

export async function updateSource(db: Db, projectId: string, id: string, set: Partial<FeedbackSourceRow>) {
  const [row] = await db
    .update(feedbackSources)
    .set(set)
    .where(and(eq(feedbackSources.projectId, projectId), eq(feedbackSources.id, id)))
    .returning();
  return row ?? null;
}

/** The columns a batch insert fills, in order; every value is already a SQL scalar (JSON columns as text). */
const BATCH_COLUMNS = [
  "id",
  "project_id",
  "source_id",
  "delivery_id",
  "model",
  "input",
  "input_text",
  "output",
  "rating",
  "rating_value",
  "correction",
  "reference",
  "comment",
  "labels",
  "metadata",
  "embedding",
  "redactions",
  "occurred_at",
  "received_at",
] as const;

const json = (v: unknown) => (v === null || v === undefined ? null : JSON.stringify(v));

/** One event as the array a batch statement reads with json_each: scalars in BATCH_COLUMNS order. */
export function batchTuple(row: FeedbackEventRow): (string | number | null)[] {
  return [
    row.id,
    row.projectId,
    row.sourceId,
    row.deliveryId,
    row.model,
    json(row.input),
    row.inputText,
    row.output,
    row.rating,
    row.ratingValue,
    row.correction,
    json(row.reference),
    row.comment,
    json(row.labels),
    json(row.metadata),
    json(row.embedding),
    json(row.redactions),
    row.occurredAt,
    row.receivedAt,
  ];
}

/**
 * A statement that inserts many events from ONE bound parameter, a JSON array of tuples read with
 * json_each: D1 allows 100 bound parameters per statement, which would be 5 events with one parameter per
 * column; this way a chunk of hundreds of events is one statement. Conflicting deliveries are skipped,
 * and RETURNING names the rows actually written.
 */
export function batchInsertStatement(d1: D1Database, tuples: (string | number | null)[][]) {
  const cols = BATCH_COLUMNS.join(", ");
  const values = BATCH_COLUMNS.map((_, i) => `value ->> '$[${i}]'`).join(", ");
  // "WHERE true" disambiguates INSERT … SELECT from the upsert clause, as SQLite's grammar requires.
  return d1
    .prepare(
      `INSERT INTO feedback_events (${cols}) SELECT ${values} FROM json_each(?1) WHERE true ` +
        "ON CONFLICT (project_id, source_id, delivery_id) DO NOTHING RETURNING id",
    )
    .bind(JSON.stringify(tuples));
}

/**
 * Writes one verified delivery, once, and only while its source still accepts the secret that verified
 * it: not revoked, and that sealed secret is the current one or the previous one within its overlap. The
 * check and the write are one statement, so a delivery verified against a cached source row can never be
 * stored after a revocation or after its secret's overlap ended. Returns the new id, or null when nothing
 * was written (a duplicate delivery, or the source no longer accepts that secret).
 */
export async function insertVerifiedEvent(
  d1: D1Database,
  row: FeedbackEventRow,
  check: { sealedSecret: string; now: number },
): Promise<string | null> {
  const cols = BATCH_COLUMNS.join(", ");
  const values = BATCH_COLUMNS.map((_, i) => `value ->> '$[${i}]'`).join(", ");
  const r = await d1
    .prepare(
      `INSERT INTO feedback_events (${cols}) SELECT ${values} FROM json_each(?1) WHERE EXISTS (` +
        "SELECT 1 FROM feedback_sources s WHERE s.id = ?2 AND s.revoked_at IS NULL AND (s.secret_enc = ?3 OR " +
        "(s.previous_secret_enc = ?3 AND s.previous_secret_until > ?4))) " +
        "ON CONFLICT (project_id, source_id, delivery_id) DO NOTHING RETURNING id",
    )
    .bind(JSON.stringify([batchTuple(row)]), row.sourceId, check.sealedSecret, check.now)
    .first<{ id: string }>();
  return r?.id ?? null;
}

/** The id of the event stored for a delivery, if any. */
export async function findDelivery(db: Db, key: { projectId: string; sourceId: string; deliveryId: string }) {
  const [row] = await db
    .select({ id: feedbackEvents.id })
    .from(feedbackEvents)
    .where(
      and(
        eq(feedbackEvents.projectId, key.projectId),
        eq(feedbackEvents.sourceId, key.sourceId),
        eq(feedbackEvents.deliveryId, key.deliveryId),
      ),
    )
    .limit(1);
  return row?.id ?? null;
}

export async function getEvent(db: Db, projectId: string, id: string) {
  const [row] = await db
    .select()
    .from(feedbackEvents)
    .where(and(eq(feedbackEvents.projectId, projectId), eq(feedbackEvents.id, id)))
    .limit(1);
  return row ?? null;
}

export async function listEvents(
  db: Db,
  projectId: string,
  opts: { source?: string; since?: number; cursor?: string; limit: number },
) {
  return db
    .select()
    .from(feedbackEvents)
    .where(
      and(
        eq(feedbackEvents.projectId, projectId),
        opts.source !== undefined ? eq(feedbackEvents.sourceId, opts.source) : undefined,
        opts.since !== undefined ? gte(feedbackEvents.receivedAt, opts.since) : undefined,
        opts.cursor ? gt(feedbackEvents.id, opts.cursor) : undefined,
      ),
    )
    .orderBy(asc(feedbackEvents.id))
    .limit(opts.limit + 1);
}

/** An event's state as a processing attempt sees it. */
export interface AttemptedEvent {
  id: string;
  projectId: string;
  attempts: number;
  processedAt: number | null;
  metadata: Record<string, unknown> | null;
}

/**
 * Counts one processing attempt for each of the events (one statement: the ids travel as one JSON
 * parameter) and returns them as they now stand; ids that do not exist are left out.
 */
export async function startAttempts(d1: D1Database, ids: string[]): Promise<AttemptedEvent[]> {
  const { results } = await d1
    .prepare(
      "UPDATE feedback_events SET attempts = attempts + 1 WHERE id IN (SELECT value FROM json_each(?1)) " +
        "RETURNING id, project_id, attempts, processed_at, metadata",
    )
    .bind(JSON.stringify(ids))
    .all<{ id: string; project_id: string; attempts: number; processed_at: number | null; metadata: string | null }>();
  return results.map((r) => ({
    id: r.id,
    projectId: r.project_id,
    attempts: r.attempts,
    processedAt: r.processed_at,
    metadata: r.metadata ? JSON.parse(r.metadata) : null,
  }));
}

/**
 * The follow-up work of a group of events, atomically (one db.batch) and at most once per event: each
 * source's counters move by its events that are still unprocessed, then those events are marked processed
 * and their open dead letters resolved. Three statements, whatever the group's size.
 */
export async function completeProcessing(d1: D1Database, ids: string[], now: number) {
  const pending = "SELECT value FROM json_each(?1)";
  const unprocessed = `e.id IN (${pending}) AND e.processed_at IS NULL AND e.source_id = feedback_sources.id`;
  const list = JSON.stringify(ids);
  await d1.batch([
    d1
      .prepare(
        `UPDATE feedback_sources SET events = events + (SELECT count(*) FROM feedback_events e WHERE ${unprocessed}), ` +
          `last_event_at = max(coalesce(last_event_at, 0), (SELECT coalesce(max(e.received_at), 0) FROM feedback_events e WHERE ${unprocessed})) ` +
          `WHERE id IN (SELECT source_id FROM feedback_events WHERE id IN (${pending}) AND processed_at IS NULL)`,
      )
      .bind(list),
    d1
      .prepare(`UPDATE feedback_events SET processed_at = ?2 WHERE id IN (${pending}) AND processed_at IS NULL`)
      .bind(list, now),
    d1
      .prepare(
        `UPDATE feedback_dead_letters SET resolved_at = ?2 WHERE event_id IN (${pending}) AND resolved_at IS NULL`,
      )
      .bind(list, now),
  ]);
}

/** Records (or, for an event already dead-lettered and replayed, updates) the event's open dead letter. */
export async function upsertDeadLetter(
  db: Db,
  row: { id: string; projectId: string; eventId: string; error: string; attempts: number; createdAt: number },
) {
  await db
    .insert(feedbackDeadLetters)
    .values(row)
    .onConflictDoUpdate({
      target: feedbackDeadLetters.eventId,
      targetWhere: isNull(feedbackDeadLetters.resolvedAt),
      set: {
        error: row.error,
        attempts: sql`${feedbackDeadLetters.attempts} + ${row.attempts}`,
        createdAt: row.createdAt,
      },
    });
}

export type DeadLetterStatus = "open" | "resolved" | "all";

export async function listDeadLetters(
  db: Db,
  projectId: string,
  opts: { status: DeadLetterStatus; cursor?: string; limit: number },
) {
  return db
    .select({ letter: feedbackDeadLetters, sourceId: feedbackEvents.sourceId })
    .from(feedbackDeadLetters)
    .leftJoin(feedbackEvents, eq(feedbackEvents.id, feedbackDeadLetters.eventId))
    .where(
      and(
        eq(feedbackDeadLetters.projectId, projectId),
        opts.status === "open"
          ? isNull(feedbackDeadLetters.resolvedAt)
          : opts.status === "resolved"
            ? isNotNull(feedbackDeadLetters.resolvedAt)
            : undefined,
        opts.cursor ? gt(feedbackDeadLetters.id, opts.cursor) : undefined,
      ),
    )
    .orderBy(asc(feedbackDeadLetters.id))
    .limit(opts.limit + 1);
}

export async function getDeadLetter(db: Db, projectId: string, id: string) {
  const [row] = await db
    .select({ letter: feedbackDeadLetters, sourceId: feedbackEvents.sourceId })
    .from(feedbackDeadLetters)
    .leftJoin(feedbackEvents, eq(feedbackEvents.id, feedbackDeadLetters.eventId))
    .where(and(eq(feedbackDeadLetters.projectId, projectId), eq(feedbackDeadLetters.id, id)))
    .limit(1);
  return row ?? null;
}

export async function markRetried(db: Db, id: string, now: number) {
  await db.update(feedbackDeadLetters).set({ retriedAt: now }).where(eq(feedbackDeadLetters.id, id));
}

/** D1 binds at most 100 parameters per statement; `id IN (…)` chunks stay below that with room to spare. */
export const ID_CHUNK = 90;

/**
 * The outbox: events still unprocessed a while after they were written (their enqueue was lost, or their
 * messages are still retrying), not dead-lettered, and not handed to the queue by this task recently.
 * Marks them enqueued at `now` and returns their ids.
 */
export async function claimUnprocessed(
  db: Db,
  opts: { now: number; olderThanMs: number; reenqueueAfterMs: number; limit: number },
) {
  const rows = await db
    .select({ id: feedbackEvents.id })
    .from(feedbackEvents)
    .where(
      and(
        isNull(feedbackEvents.processedAt),
        lt(feedbackEvents.receivedAt, opts.now - opts.olderThanMs),
        or(isNull(feedbackEvents.enqueuedAt), lt(feedbackEvents.enqueuedAt, opts.now - opts.reenqueueAfterMs)),
        sql`not exists (select 1 from ${feedbackDeadLetters} where ${feedbackDeadLetters.eventId} = ${feedbackEvents.id} and ${feedbackDeadLetters.resolvedAt} is null)`,
      ),
    )
    .orderBy(asc(feedbackEvents.receivedAt))
    .limit(opts.limit);
  const ids = rows.map((r) => r.id);
  for (let i = 0; i < ids.length; i += ID_CHUNK) {
    await db
      .update(feedbackEvents)
      .set({ enqueuedAt: opts.now })
      .where(inArray(feedbackEvents.id, ids.slice(i, i + ID_CHUNK)));
  }
  return ids;
}
