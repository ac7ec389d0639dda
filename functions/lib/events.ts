import { and, asc, eq, inArray, isNull, lte, or, sql } from "drizzle-orm";
import type { Db } from "../../db/client";
import { eventDeliveries, eventDeliveryAttempts, eventSubscriptions } from "../../db/schema";
import { newId } from "./ids";
import { open } from "./secret-box";
import { signStandardWebhook } from "./standard-webhooks";
import type { JobMessage } from "./training";
import { allowPrivateWebhooks, webhookUrlProblem } from "./webhook-url";

/** What a subscription's sealed secret is bound to: a ciphertext copied onto another row does not open. */
export const subscriptionSecretContext = (id: string) => `event-subscription:${id}`;

/** Event types a subscription can ask for. `subscription.disabled` tells the others when one is switched off. */
export const EVENT_TYPES = [
  "champion.promoted",
  "challenger.rejected",
  "drift.detected",
  "evaluation.regressed",
  "run.finished",
  "subscription.disabled",
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** A delivery attempt gives up after this long without an answer. */
export const DELIVERY_TIMEOUT_MS = 15_000;
/** Longer than the timeout, so a slow attempt never overlaps a second one of the same delivery. */
const LEASE_MS = 30_000;
/**
 * Wait before retry k (after failed attempt k), Standard Webhooks' usual schedule: 5 s, 5 min, 30 min,
 * 2 h, 5 h, 10 h, 10 h. Eight attempts spread over 27 h 35 min; then the delivery is failed for good.
 */
export const RETRY_DELAYS_MS = [5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000];
/** A subscription whose deliveries have failed without a success for this long is disabled. */
export const DISABLE_AFTER_MS = 3 * 86_400_000;
/** Cloudflare Queues' longest delaySeconds: later retries are re-enqueued on arrival, or picked up by the cron. */
export const QUEUE_MAX_DELAY_S = 43_200;

const log = (level: "info" | "error", msg: string, data: Record<string, unknown>) =>
  console[level === "error" ? "error" : "log"](JSON.stringify({ level, msg, ...data }));

async function enqueue(env: Env, deliveryIds: string[], delayMs = 0) {
  if (deliveryIds.length === 0) return;
  const delaySeconds = Math.min(QUEUE_MAX_DELAY_S, Math.max(0, Math.ceil(delayMs / 1000)));
  try {
    // Queues take at most 100 messages per sendBatch.
    for (let i = 0; i < deliveryIds.length; i += 100) {
      await env.JOBS.sendBatch(
        deliveryIds
          .slice(i, i + 100)
          .map((deliveryId) => ({ body: { type: "deliver", deliveryId } satisfies JobMessage, delaySeconds })),
      );
    }
  } catch (err) {
    // The rows are the outbox: the cron's sweep of due deliveries sends what the queue did not take.
    log("error", "enqueueing deliveries failed", { deliveryIds, error: String(err) });
  }
}

/**
 * Records an event for every live subscription of the project that asked for its type, and queues
 * their deliveries. Returns at once: the HTTP calls happen in the queue consumer, never in the caller's
 * request. The body is `{ type, timestamp, data }` and is stored as sent, so every retry signs the same
 * bytes.
 *
 * @example await emitEvent(db, env, projectId, "run.finished", { run: { id, status } })
 */
export async function emitEvent(
  db: Db,
  env: Env,
  projectId: string,
  type: EventType,
  data: Record<string, unknown>,
  now = Date.now(),
): Promise<string[]> {
  const subs = await db
    .select({ id: eventSubscriptions.id, events: eventSubscriptions.events })
    .from(eventSubscriptions)
    .where(
      and(
        eq(eventSubscriptions.projectId, projectId),
        isNull(eventSubscriptions.deletedAt),
        isNull(eventSubscriptions.disabledAt),
      ),
    );
  const targets = subs.filter((s) => s.events.includes(type));
  if (targets.length === 0) return [];
  const body = JSON.stringify({ type, timestamp: new Date(now).toISOString(), data });
  const rows = targets.map((s) => ({
    id: newId("dlv", now),
    projectId,
    subscriptionId: s.id,
    type,
    body,
    status: "pending" as const,
    nextAttemptAt: now,
    createdAt: now,
  }));
  // D1 binds at most 100 parameters a statement: a few rows per insert.
  const inserts = [];
  for (let i = 0; i < rows.length; i += 8) inserts.push(db.insert(eventDeliveries).values(rows.slice(i, i + 8)));
  await db.batch(inserts as [(typeof inserts)[number], ...typeof inserts]);
  await enqueue(
    env,
    rows.map((r) => r.id),
  );
  return rows.map((r) => r.id);
}

/** Like emitEvent, but never throws: for callers whose own work must not fail because an alert could not be queued. */
export async function emitEventSafely(...args: Parameters<typeof emitEvent>): Promise<void> {
  try {
    await emitEvent(...args);
  } catch (err) {
    log("error", "emitting an event failed", { type: args[3], error: String(err) });
  }
}

export type DeliverOutcome =
  | { outcome: "skipped"; reason: string }
  | { outcome: "succeeded"; attempt: number; responseCode: number }
  | { outcome: "failed"; attempt: number; error: string; nextRetryAt: number | null };

/**
 * One delivery attempt, as the queue consumer makes it. Idempotent under redelivery: the attempt is
 * claimed with a conditional update (pending, due by `now`, no live lease), so a duplicate message or an
 * overlapping cron finds nothing to do. `now` decides what is due; the signature's timestamp is always
 * the real clock, because receivers check it against theirs.
 */
export async function deliver(db: Db, env: Env, deliveryId: string, now = Date.now()): Promise<DeliverOutcome> {
  const claimed = await db
    .update(eventDeliveries)
    .set({ leaseUntil: now + LEASE_MS, attempts: sql`${eventDeliveries.attempts} + 1` })
    .where(
      and(
        eq(eventDeliveries.id, deliveryId),
        eq(eventDeliveries.status, "pending"),
        lte(eventDeliveries.nextAttemptAt, now),
        or(isNull(eventDeliveries.leaseUntil), lte(eventDeliveries.leaseUntil, now)),
      ),
    )
    .returning();
  const delivery = claimed[0];
  if (!delivery) {
    const [row] = await db.select().from(eventDeliveries).where(eq(eventDeliveries.id, deliveryId)).limit(1);
    if (row?.status === "pending" && row.nextAttemptAt && row.nextAttemptAt > now) {
      // Arrived early (a delay longer than the queue allows was capped): wait again.
      await enqueue(env, [deliveryId], row.nextAttemptAt - now);
      return { outcome: "skipped", reason: "not due yet" };
    }
    return {
      outcome: "skipped",
      reason: row ? `delivery is ${row.status} or held by another attempt` : "no such delivery",
    };
  }
  const attempt = delivery.attempts;
  const [sub] = await db
    .select()
    .from(eventSubscriptions)
    .where(
      and(eq(eventSubscriptions.id, delivery.subscriptionId), eq(eventSubscriptions.projectId, delivery.projectId)),
    )
    .limit(1);
  if (!sub || sub.deletedAt || sub.disabledAt) {
    const reason = !sub || sub.deletedAt ? "the subscription was deleted" : "the subscription is disabled";
    await db
      .update(eventDeliveries)
      .set({ status: "failed", lastError: reason, leaseUntil: null, nextAttemptAt: null, attempts: attempt - 1 })
      .where(eq(eventDeliveries.id, deliveryId));
    return { outcome: "skipped", reason };
  }

  const started = Date.now();
  let responseCode: number | null = null;
  let error: string | null = null;
  let permanent = false;
  const refused = webhookUrlProblem(sub.url, allowPrivateWebhooks(env));
  if (refused) {
    error = `refused to deliver: ${refused}`;
    permanent = true;
  } else {
    try {
      const secret = await open(env, sub.secretEnc, subscriptionSecretContext(sub.id));
      const ts = Math.floor(Date.now() / 1000);
      const res = await fetch(sub.url, {
        method: "POST",
        redirect: "manual",
        signal: AbortSignal.timeout(DELIVERY_TIMEOUT_MS),
        headers: {
          "content-type": "application/json",
          "user-agent": "Assay-Webhooks/1",
          "webhook-id": delivery.id,
          "webhook-timestamp": String(ts),
          "webhook-signature": await signStandardWebhook(secret, delivery.id, ts, delivery.body),
        },
        body: delivery.body,
      });
      responseCode = res.status;
      await res.body?.cancel();
      if (res.status < 200 || res.status >= 300) {
        error =
          res.status >= 300 && res.status < 400
            ? `HTTP ${res.status}: redirects are not followed`
            : `HTTP ${res.status}`;
      }
    } catch (err) {
      const name = (err as Error)?.name;
      error =
        name === "TimeoutError" || name === "AbortError"
          ? `no response within ${DELIVERY_TIMEOUT_MS / 1000} s`
          : `request failed: ${String((err as Error)?.message ?? err).slice(0, 500)}`;
    }
  }
  const durationMs = Math.max(0, Date.now() - started);
  const at = now;

  if (!error) {
    await db.batch([
      db
        .insert(eventDeliveryAttempts)
        .values({ deliveryId, attempt, at, outcome: "succeeded", responseCode, durationMs }),
      db
        .update(eventDeliveries)
        .set({ status: "succeeded", deliveredAt: at, leaseUntil: null, nextAttemptAt: null, lastError: null })
        .where(eq(eventDeliveries.id, deliveryId)),
      db.update(eventSubscriptions).set({ failingSince: null }).where(eq(eventSubscriptions.id, sub.id)),
    ]);
    return { outcome: "succeeded", attempt, responseCode: responseCode! };
  }

  const delay = permanent ? undefined : RETRY_DELAYS_MS[attempt - 1];
  const nextRetryAt = delay === undefined ? null : at + delay;
  const failingSince = sub.failingSince ?? at;
  await db.batch([
    db.insert(eventDeliveryAttempts).values({
      deliveryId,
      attempt,
      at,
      outcome: "failed",
      responseCode,
      error,
      durationMs,
      nextRetryAt,
    }),
    db
      .update(eventDeliveries)
      .set({
        status: nextRetryAt === null ? "failed" : "pending",
        nextAttemptAt: nextRetryAt,
        leaseUntil: null,
        lastError: error,
      })
      .where(eq(eventDeliveries.id, deliveryId)),
    db.update(eventSubscriptions).set({ failingSince }).where(eq(eventSubscriptions.id, sub.id)),
  ]);
  if (at - failingSince >= DISABLE_AFTER_MS) {
    await disableSubscription(db, env, sub.id, sub.projectId, sub.url, failingSince, at);
    return { outcome: "failed", attempt, error, nextRetryAt: null };
  }
  if (nextRetryAt !== null) await enqueue(env, [deliveryId], nextRetryAt - now);
  return { outcome: "failed", attempt, error, nextRetryAt };
}

async function disableSubscription(
  db: Db,
  env: Env,
  id: string,
  projectId: string,
  url: string,
  failingSince: number,
  now: number,
) {
  const reason = `every delivery has failed since ${new Date(failingSince).toISOString()} (over 3 days)`;
  const [done] = await db.batch([
    db
      .update(eventSubscriptions)
      .set({ disabledAt: now, disabledReason: reason })
      .where(and(eq(eventSubscriptions.id, id), isNull(eventSubscriptions.disabledAt)))
      .returning({ id: eventSubscriptions.id }),
    db
      .update(eventDeliveries)
      .set({ status: "failed", nextAttemptAt: null, lastError: "the subscription was disabled" })
      .where(and(eq(eventDeliveries.subscriptionId, id), eq(eventDeliveries.status, "pending"))),
  ]);
  if (done.length === 0) return;
  log("info", "subscription disabled", { subscriptionId: id, reason });
  await emitEventSafely(db, env, projectId, "subscription.disabled", {
    subscription: { id, url, disabledAt: new Date(now).toISOString(), reason },
  });
}

/**
 * Cron task: queues deliveries that are due but have no message on the way (an enqueue that failed, a
 * retry further out than the queue's longest delay). Ones due only just now are left to their own
 * message. Returns the ids queued.
 */
export async function enqueueDueDeliveries(db: Db, env: Env, now = Date.now(), graceMs = 60_000): Promise<string[]> {
  const due = await db
    .select({ id: eventDeliveries.id })
    .from(eventDeliveries)
    .where(
      and(
        eq(eventDeliveries.status, "pending"),
        lte(eventDeliveries.nextAttemptAt, now - graceMs),
        or(isNull(eventDeliveries.leaseUntil), lte(eventDeliveries.leaseUntil, now)),
      ),
    )
    .orderBy(asc(eventDeliveries.nextAttemptAt))
    .limit(200);
  const ids = due.map((d) => d.id);
  await enqueue(env, ids);
  return ids;
}

/** Deliveries of one subscription with all their attempts, newest first. */
export async function deliveriesWithAttempts(db: Db, deliveryIds: string[]) {
  if (deliveryIds.length === 0) return new Map<string, (typeof eventDeliveryAttempts.$inferSelect)[]>();
  const attempts = await db
    .select()
    .from(eventDeliveryAttempts)
    .where(inArray(eventDeliveryAttempts.deliveryId, deliveryIds))
    .orderBy(asc(eventDeliveryAttempts.deliveryId), asc(eventDeliveryAttempts.attempt));
  const by = new Map<string, (typeof eventDeliveryAttempts.$inferSelect)[]>();
  for (const a of attempts) {
    const list = by.get(a.deliveryId) ?? [];
    list.push(a);
    by.set(a.deliveryId, list);
  }
  return by;
}
