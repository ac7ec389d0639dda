import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { and, desc, eq, isNull, lt } from "drizzle-orm";
import { eventDeliveries, eventSubscriptions } from "../../db/schema";
import type { AppEnv } from "../env";
import { badRequest, notFound } from "../lib/errors";
import { deliveriesWithAttempts, EVENT_TYPES, subscriptionSecretContext } from "../lib/events";
import { newId } from "../lib/ids";
import { bearer, Cursor, errors, json, jsonBody, Limit, ListOf } from "../lib/openapi";
import { page } from "../lib/pagination";
import { projectOf } from "../lib/project";
import { IdParam } from "../lib/route-helpers";
import { seal } from "../lib/secret-box";
import { newWebhookSecret } from "../lib/standard-webhooks";
import { allowPrivateWebhooks, webhookUrlProblem } from "../lib/webhook-url";
import { requireAuth } from "../middleware/auth";

export const CreateEventSubscription = z
  .object({
    url: z.string().min(1).max(2000).openapi({ example: "https://example.com/assay-webhooks" }),
    events: z.array(z.enum(EVENT_TYPES)).min(1).max(EVENT_TYPES.length),
    description: z.string().max(500).optional(),
  })
  .strict()
  .openapi("CreateEventSubscription");
export type CreateEventSubscription = z.infer<typeof CreateEventSubscription>;

export const EventSubscription = z
  .object({
    id: z.string().openapi({ example: "sub_01m8hexfpm3jrcx73rs9jn9jc7" }),
    url: z.string(),
    events: z.array(z.string()),
    description: z.string().nullable(),
    enabled: z.boolean(),
    failingSince: z.string().nullable().openapi({ description: "Start of the current streak of failed attempts" }),
    disabledAt: z.string().nullable(),
    disabledReason: z.string().nullable(),
    createdAt: z.string(),
  })
  .openapi("EventSubscription");

const CreatedEventSubscription = EventSubscription.extend({
  secret: z.string().openapi({
    description: "The Standard Webhooks signing secret (whsec_…): shown only in this response",
    example: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
  }),
}).openapi("CreatedEventSubscription");

export const DeliveryAttempt = z
  .object({
    attempt: z.number().int(),
    at: z.string(),
    outcome: z.enum(["succeeded", "failed"]),
    responseCode: z.number().int().nullable(),
    error: z.string().nullable(),
    durationMs: z.number().int(),
    nextRetryAt: z.string().nullable().openapi({ description: "When the next attempt is due; null: none follows" }),
  })
  .openapi("DeliveryAttempt");

export const EventDelivery = z
  .object({
    id: z.string().openapi({ description: "Also the webhook-id header: the same on every retry" }),
    type: z.string(),
    status: z.enum(["pending", "succeeded", "failed"]),
    attempts: z.array(DeliveryAttempt),
    nextAttemptAt: z.string().nullable(),
    lastError: z.string().nullable(),
    payload: z.record(z.string(), z.unknown()).openapi({ description: "The body sent: { type, timestamp, data }" }),
    createdAt: z.string(),
    deliveredAt: z.string().nullable(),
  })
  .openapi("EventDelivery");

const key = requireAuth("key");
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

type SubscriptionRow = typeof eventSubscriptions.$inferSelect;
const view = (r: SubscriptionRow) => ({
  id: r.id,
  url: r.url,
  events: r.events,
  description: r.description,
  enabled: r.disabledAt === null,
  failingSince: iso(r.failingSince),
  disabledAt: iso(r.disabledAt),
  disabledReason: r.disabledReason,
  createdAt: new Date(r.createdAt).toISOString(),
});

const create = createRoute({
  method: "post",
  path: "/v1/event-subscriptions",
  tags: ["events"],
  summary: "Subscribe a URL to outgoing events",
  description:
    "Every delivery is a POST of `{ type, timestamp, data }` signed the Standard Webhooks way with the " +
    "returned secret (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,…`). Failed deliveries are " +
    "retried with exponential backoff for over 24 hours; a subscription whose deliveries have failed for " +
    "3 days is disabled. URLs must be https and public (loopback and private addresses are refused).",
  security: bearer,
  middleware: [key] as const,
  request: { body: jsonBody(CreateEventSubscription) },
  responses: { 201: json(CreatedEventSubscription, "The subscription and its secret"), ...errors(400, 401, 403) },
});

const list = createRoute({
  method: "get",
  path: "/v1/event-subscriptions",
  tags: ["events"],
  summary: "List event subscriptions, newest first",
  security: bearer,
  middleware: [key] as const,
  request: { query: z.object({ cursor: Cursor, limit: Limit }) },
  responses: { 200: json(ListOf(EventSubscription), "A page of subscriptions"), ...errors(400, 401, 403) },
});

const get = createRoute({
  method: "get",
  path: "/v1/event-subscriptions/{id}",
  tags: ["events"],
  summary: "Get an event subscription",
  security: bearer,
  middleware: [key] as const,
  request: { params: IdParam },
  responses: { 200: json(EventSubscription, "The subscription"), ...errors(401, 403, 404) },
});

const remove = createRoute({
  method: "delete",
  path: "/v1/event-subscriptions/{id}",
  tags: ["events"],
  summary: "Delete an event subscription (pending deliveries are dropped)",
  security: bearer,
  middleware: [key] as const,
  request: { params: IdParam },
  responses: {
    200: json(z.object({ id: z.string(), deleted: z.literal(true) }), "Deleted"),
    ...errors(401, 403, 404),
  },
});

const deliveries = createRoute({
  method: "get",
  path: "/v1/event-subscriptions/{id}/deliveries",
  tags: ["events"],
  summary: "Deliveries to a subscription, newest first, each with every attempt",
  security: bearer,
  middleware: [key] as const,
  request: { params: IdParam, query: z.object({ cursor: Cursor, limit: Limit }) },
  responses: { 200: json(ListOf(EventDelivery), "A page of deliveries"), ...errors(400, 401, 403, 404) },
});

async function liveSubscription(c: { var: { db: AppEnv["Variables"]["db"] } }, projectId: string, id: string) {
  const [row] = await c.var.db
    .select()
    .from(eventSubscriptions)
    .where(
      and(
        eq(eventSubscriptions.id, id),
        eq(eventSubscriptions.projectId, projectId),
        isNull(eventSubscriptions.deletedAt),
      ),
    )
    .limit(1);
  if (!row) throw notFound("event subscription", id);
  return row;
}

export function eventSubscriptionRoutes(app: OpenAPIHono<AppEnv>) {
  app.openapi(create, async (c) => {
    const body = c.req.valid("json");
    const problem = webhookUrlProblem(body.url, allowPrivateWebhooks(c.env));
    if (problem)
      throw badRequest(`url refused: ${problem}`, [{ path: ["url"], message: problem, code: "url_refused" }]);
    const secret = newWebhookSecret();
    const now = Date.now();
    const id = newId("sub", now);
    const row: SubscriptionRow = {
      id,
      projectId: projectOf(c),
      url: new URL(body.url).toString(),
      events: [...new Set(body.events)],
      secretEnc: await seal(c.env, secret, subscriptionSecretContext(id)),
      description: body.description ?? null,
      failingSince: null,
      disabledAt: null,
      disabledReason: null,
      createdAt: now,
      deletedAt: null,
    };
    await c.var.db.insert(eventSubscriptions).values(row);
    return c.json({ ...view(row), secret }, 201);
  });

  app.openapi(list, async (c) => {
    const { cursor, limit } = c.req.valid("query");
    const conds = [eq(eventSubscriptions.projectId, projectOf(c)), isNull(eventSubscriptions.deletedAt)];
    if (cursor) conds.push(lt(eventSubscriptions.id, cursor));
    const rows = await c.var.db
      .select()
      .from(eventSubscriptions)
      .where(and(...conds))
      .orderBy(desc(eventSubscriptions.id))
      .limit(limit + 1);
    const p = page(rows, limit);
    return c.json({ data: p.data.map(view), nextCursor: p.nextCursor }, 200);
  });

  app.openapi(get, async (c) => {
    return c.json(view(await liveSubscription(c, projectOf(c), c.req.valid("param").id)), 200);
  });

  app.openapi(remove, async (c) => {
    const sub = await liveSubscription(c, projectOf(c), c.req.valid("param").id);
    const now = Date.now();
    await c.var.db.batch([
      c.var.db.update(eventSubscriptions).set({ deletedAt: now }).where(eq(eventSubscriptions.id, sub.id)),
      c.var.db
        .update(eventDeliveries)
        .set({ status: "failed", nextAttemptAt: null, lastError: "the subscription was deleted" })
        .where(and(eq(eventDeliveries.subscriptionId, sub.id), eq(eventDeliveries.status, "pending"))),
    ]);
    return c.json({ id: sub.id, deleted: true as const }, 200);
  });

  app.openapi(deliveries, async (c) => {
    const sub = await liveSubscription(c, projectOf(c), c.req.valid("param").id);
    const { cursor, limit } = c.req.valid("query");
    const conds = [eq(eventDeliveries.subscriptionId, sub.id), eq(eventDeliveries.projectId, sub.projectId)];
    if (cursor) conds.push(lt(eventDeliveries.id, cursor));
    const rows = await c.var.db
      .select()
      .from(eventDeliveries)
      .where(and(...conds))
      .orderBy(desc(eventDeliveries.id))
      .limit(limit + 1);
    const p = page(rows, limit);
    const attempts = await deliveriesWithAttempts(
      c.var.db,
      p.data.map((d) => d.id),
    );
    const data = p.data.map((d) => ({
      id: d.id,
      type: d.type,
      status: d.status,
      attempts: (attempts.get(d.id) ?? []).map((a) => ({
        attempt: a.attempt,
        at: new Date(a.at).toISOString(),
        outcome: a.outcome,
        responseCode: a.responseCode,
        error: a.error,
        durationMs: a.durationMs,
        nextRetryAt: iso(a.nextRetryAt),
      })),
      nextAttemptAt: iso(d.nextAttemptAt),
      lastError: d.lastError,
      payload: JSON.parse(d.body) as Record<string, unknown>,
      createdAt: new Date(d.createdAt).toISOString(),
      deliveredAt: iso(d.deliveredAt),
    }));
    return c.json({ data, nextCursor: p.nextCursor }, 200);
  });
}
