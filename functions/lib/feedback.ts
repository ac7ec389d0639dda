import { z } from "@hono/zod-openapi";
import { createDb, type Db } from "../../db/client";
import {
  type AttemptedEvent,
  claimUnprocessed,
  completeProcessing,
  type FeedbackEventRow,
  type FeedbackSourceRow,
  getSourceForDelivery,
  startAttempts,
  upsertDeadLetter,
} from "../../db/queries/feedback";
import { newId } from "./ids";
import { type PiiCounts, redactJson, redactText } from "./pii";
import type { JobMessage } from "./training";

export const ChatMessage = z.object({ role: z.string().min(1).max(64), content: z.string() }).openapi("ChatMessage");

/** One piece of production feedback, as docs/design.md "Feedback in" defines it. */
export const FeedbackEvent = z
  .object({
    model: z.string().trim().min(1).max(256).openapi({ description: 'A model name or the "run_…" that trained it' }),
    input: z.union([z.string(), z.array(ChatMessage).min(1).max(1000)]),
    output: z.string(),
    rating: z
      .union([z.enum(["up", "down"]), z.number().min(0).max(1)])
      .optional()
      .openapi({ description: '"up", "down", or a score in [0, 1]' }),
    correction: z.string().optional(),
    reference: z
      .record(z.string(), z.unknown())
      .optional()
      .openapi({ description: "A verifiable target, e.g. { answer }" }),
    comment: z.string().optional(),
    labels: z.array(z.string().min(1).max(200)).max(100).optional(),
    metadata: z.record(z.string(), z.unknown()).optional(),
    embedding: z.array(z.number().finite()).min(1).max(8192).optional(),
  })
  .openapi("FeedbackEvent");
export type FeedbackEvent = z.infer<typeof FeedbackEvent>;

/** The body of a `POST /v1/webhooks/feedback/{sourceId}` delivery. */
export const FeedbackWebhook = z
  .object({
    type: z.literal("feedback.created"),
    timestamp: z.iso.datetime({ offset: true }),
    data: FeedbackEvent,
  })
  .openapi("FeedbackWebhook");
export type FeedbackWebhook = z.infer<typeof FeedbackWebhook>;

/** One line of a batch backfill: an event, with an optional idempotency key and time. */
export const FeedbackBatchLine = FeedbackEvent.extend({
  id: z
    .string()
    .min(1)
    .max(256)
    .optional()
    .openapi({ description: "Idempotency key within the source (shared with webhook-id)" }),
  timestamp: z.iso.datetime({ offset: true }).optional(),
});
export type FeedbackBatchLine = z.infer<typeof FeedbackBatchLine>;

/** The input as one string: the text itself, or each message as `role: content` on its own line. */
export function flattenInput(input: FeedbackEvent["input"]): string {
  return typeof input === "string" ? input : input.map((m) => `${m.role}: ${m.content}`).join("\n");
}

/** Redacts every free-text field of an event (input, output, correction, comment, reference, metadata). */
export function redactEvent(event: FeedbackEvent): { event: FeedbackEvent; counts: PiiCounts } {
  const counts: PiiCounts = {};
  const text = (s: string | undefined) => (s === undefined ? undefined : redactText(s, counts).text);
  const out: FeedbackEvent = {
    ...event,
    input:
      typeof event.input === "string"
        ? text(event.input)!
        : event.input.map((m) => ({ ...m, content: text(m.content)! })),
    output: text(event.output)!,
    correction: text(event.correction),
    comment: text(event.comment),
    reference: event.reference === undefined ? undefined : redactJson(event.reference, counts),
    metadata: event.metadata === undefined ? undefined : redactJson(event.metadata, counts),
  };
  return { event: out, counts };
}

/** The row an accepted event is stored as, redacted first when `redact` is set. */
export function eventRow(
  event: FeedbackEvent,
  opts: {
    id: string;
    projectId: string;
    sourceId: string;
    deliveryId: string;
    occurredAt: number;
    receivedAt: number;
    redact: boolean;
  },
): FeedbackEventRow {
  const { event: e, counts } = opts.redact ? redactEvent(event) : { event, counts: {} };
  return {
    id: opts.id,
    projectId: opts.projectId,
    sourceId: opts.sourceId,
    deliveryId: opts.deliveryId,
    model: e.model,
    input: e.input,
    inputText: flattenInput(e.input),
    output: e.output,
    rating: e.rating === undefined ? null : String(e.rating),
    ratingValue: e.rating === undefined ? null : e.rating === "up" ? 1 : e.rating === "down" ? 0 : e.rating,
    correction: e.correction ?? null,
    reference: e.reference ?? null,
    comment: e.comment ?? null,
    labels: e.labels ?? null,
    metadata: e.metadata ?? null,
    embedding: e.embedding ?? null,
    redactions: counts as Record<string, number>,
    occurredAt: opts.occurredAt,
    receivedAt: opts.receivedAt,
    processedAt: null,
    attempts: 0,
    enqueuedAt: null,
  };
}

/** Queue deliveries of one feedback message before the event is written to the dead-letter table. */
export const FEEDBACK_MAX_ATTEMPTS = 5;

/**
 * Test-only fault injection, honest about what it is: when the Worker's ASSAY_FAULT_INJECTION variable
 * lists "feedback-processing" (vitest.config.ts sets it; wrangler.toml and production do not), an event
 * whose metadata carries `{ "assayFault": { "failAttempts": n } }` fails its first n processing attempts
 * inside the real queue consumer. Without the variable the metadata is ordinary data and nothing fails.
 */
function injectedFailure(env: Env, event: AttemptedEvent): string | null {
  if (!(env.ASSAY_FAULT_INJECTION ?? "").split(",").includes("feedback-processing")) return null;
  const fault = (event.metadata as { assayFault?: { failAttempts?: unknown } } | null)?.assayFault;
  const n = typeof fault?.failAttempts === "number" ? fault.failAttempts : 0;
  return event.attempts <= n ? `injected failure: attempt ${event.attempts} of the ${n} set to fail` : null;
}

/** Retry delay of the n-th failed delivery: FEEDBACK_RETRY_BASE_S × 2^(n-1), at most 5 minutes. */
export function feedbackRetryDelay(env: Env, attempts: number): number {
  const base = Number(env.FEEDBACK_RETRY_BASE_S ?? 10);
  return Math.min(300, (Number.isFinite(base) && base >= 0 ? base : 10) * 2 ** Math.max(0, attempts - 1));
}

export interface FeedbackDelivery {
  eventId: string;
  /** The queue's delivery count for this message (1 on the first). */
  attempts: number;
}

/**
 * The `{ type: "feedback" }` messages of one queue batch, processed together: one statement counts the
 * attempt of every event, one db.batch does the follow-up work (source counters and last event time,
 * processed_at) of all that may proceed. Idempotent, so a redelivered message or an outbox re-enqueue
 * does nothing twice. A failure is retried with backoff; the FEEDBACK_MAX_ATTEMPTS-th failure writes the
 * event to the dead-letter table (listed and replayable through the API) and acks.
 * (Retraining triggers will hook in here.) Returns one outcome per delivery, in order.
 */
export async function handleFeedbackMessages(
  db: Db,
  env: Env,
  deliveries: FeedbackDelivery[],
  now = Date.now(),
): Promise<{ retryAfterSeconds?: number }[]> {
  const errors = new Map<string, string>();
  const projects = new Map<string, string>();
  try {
    const events = await startAttempts(env.DB, [...new Set(deliveries.map((d) => d.eventId))]);
    const ready: string[] = [];
    for (const e of events) {
      projects.set(e.id, e.projectId);
      if (e.processedAt !== null) continue;
      const fault = injectedFailure(env, e);
      if (fault) errors.set(e.id, fault);
      else ready.push(e.id);
    }
    if (ready.length) await completeProcessing(env.DB, ready, now);
  } catch (err) {
    const error = err instanceof Error ? err.message : String(err);
    for (const d of deliveries) errors.set(d.eventId, error);
  }
  const out: { retryAfterSeconds?: number }[] = [];
  for (const d of deliveries) {
    const error = errors.get(d.eventId);
    if (error === undefined) {
      out.push({});
      continue;
    }
    console.error(JSON.stringify({ level: "error", msg: "feedback processing failed", ...d, error }));
    if (d.attempts < FEEDBACK_MAX_ATTEMPTS) {
      out.push({ retryAfterSeconds: feedbackRetryDelay(env, d.attempts) });
      continue;
    }
    try {
      await upsertDeadLetter(db, {
        id: newId("dlq"),
        projectId: projects.get(d.eventId) ?? "prj_default",
        eventId: d.eventId,
        error: error.slice(0, 2000),
        attempts: d.attempts,
        createdAt: Date.now(),
      });
      out.push({});
    } catch (err) {
      // Not even the dead letter could be written: let the queue deliver it again.
      console.error(JSON.stringify({ level: "error", msg: "dead letter failed", ...d, error: String(err) }));
      out.push({ retryAfterSeconds: feedbackRetryDelay(env, d.attempts) });
    }
  }
  return out;
}

/** Events unprocessed for this long are handed to the queue again by the outbox cron. */
export const OUTBOX_AFTER_MS = 60_000;
/** An event the outbox enqueued is not enqueued again before this (its messages may still be retrying). */
export const OUTBOX_REENQUEUE_MS = 5 * 60_000;
export const OUTBOX_LIMIT = 1000;

/**
 * The outbox cron task: an event written but never processed (a crash between the write and the
 * enqueue, or a lost message) is enqueued again, so nothing accepted is lost.
 */
export async function feedbackOutbox(env: Env, now = Date.now()): Promise<number> {
  const db = createDb(env.DB);
  const ids = await claimUnprocessed(db, {
    now,
    olderThanMs: OUTBOX_AFTER_MS,
    reenqueueAfterMs: OUTBOX_REENQUEUE_MS,
    limit: OUTBOX_LIMIT,
  });
  await enqueueFeedback(env, ids);
  return ids.length;
}

/** Sends `{ type: "feedback" }` messages, 100 per sendBatch (the Queues limit). */
export async function enqueueFeedback(env: Env, ids: string[]) {
  for (let i = 0; i < ids.length; i += 100) {
    await env.JOBS.sendBatch(
      ids.slice(i, i + 100).map((eventId) => ({ body: { type: "feedback", eventId } satisfies JobMessage })),
    );
  }
}

/**
 * Source rows as last read, per isolate, so that a delivery costs one D1 round trip (the write) instead
 * of two. The cache only says which secrets to try: the write re-checks in the same statement that the
 * source is not revoked and still accepts the secret that verified (db/queries/feedback.ts
 * insertVerifiedEvent), and a signature that fails against a cached row is tried again against a fresh one
 * (the cache may predate a rotation). Stale entries therefore cost a retry, never a wrong answer.
 */
const deliverySources = new Map<string, { row: FeedbackSourceRow; at: number }>();
export const SOURCE_CACHE_MS = 60_000;

export async function sourceForDelivery(
  db: Db,
  id: string,
  now: number,
  fresh = false,
): Promise<{ row: FeedbackSourceRow | null; cached: boolean }> {
  const hit = deliverySources.get(id);
  if (!fresh && hit && now - hit.at < SOURCE_CACHE_MS) return { row: hit.row, cached: true };
  const row = await getSourceForDelivery(db, id);
  if (row) {
    if (deliverySources.size >= 1000) deliverySources.delete(deliverySources.keys().next().value!);
    deliverySources.set(id, { row, at: now });
  } else deliverySources.delete(id);
  return { row, cached: false };
}

/** Drops a source from this isolate's cache (after a rotation or revocation made here). */
export function forgetDeliverySource(id: string) {
  deliverySources.delete(id);
}
