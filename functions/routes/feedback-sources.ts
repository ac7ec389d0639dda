import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { getExperiment } from "../../db/queries/experiments";
import { type FeedbackSourceRow, getSource, insertSource, listSources, updateSource } from "../../db/queries/feedback";
import type { AppEnv } from "../env";
import { ApiError, conflict, notFound } from "../lib/errors";
import { forgetDeliverySource } from "../lib/feedback";
import { newId } from "../lib/ids";
import { bearer, Cursor, errors, json, jsonBody, Limit, ListOf } from "../lib/openapi";
import { page } from "../lib/pagination";
import { projectOf } from "../lib/project";
import { IdParam } from "../lib/route-helpers";
import { seal } from "../lib/secret-box";
import { newWebhookSecret } from "../lib/standard-webhooks";
import { requireAuth } from "../middleware/auth";

export const CreateFeedbackSource = z
  .object({
    name: z.string().trim().min(1).max(200),
    experiment: z.string().min(1).max(64).optional().openapi({ description: "The experiment it feeds (exp_…)" }),
    redactPii: z.boolean().default(true).openapi({ description: "Redact PII before storing (default true)" }),
  })
  .strict()
  .openapi("CreateFeedbackSource");
export type CreateFeedbackSource = z.infer<typeof CreateFeedbackSource>;

export const FeedbackSource = z
  .object({
    id: z.string().openapi({ example: "fs_01jq7w2x3y4z5a6b7c8d9e0f1g" }),
    name: z.string(),
    experiment: z.string().nullable(),
    redactPii: z.boolean(),
    webhookPath: z.string().openapi({ description: "Where the source's deliveries go" }),
    events: z.number().int().openapi({ description: "Events processed so far" }),
    lastEventAt: z.string().nullable(),
    createdAt: z.string(),
    rotatedAt: z.string().nullable(),
    previousSecretUntil: z
      .string()
      .nullable()
      .openapi({ description: "Until when the secret before the last rotation still verifies" }),
    revokedAt: z.string().nullable(),
  })
  .openapi("FeedbackSource");
export type FeedbackSource = z.infer<typeof FeedbackSource>;

export const CreatedFeedbackSource = FeedbackSource.extend({
  secret: z.string().openapi({ description: "whsec_… Standard Webhooks secret, shown only in this answer" }),
}).openapi("CreatedFeedbackSource");

export const RotateFeedbackSource = z
  .object({
    overlapSeconds: z
      .number()
      .int()
      .min(0)
      .max(30 * 86400)
      .default(86400)
      .openapi({ description: "How long the old secret keeps verifying (default one day)" }),
  })
  .strict()
  .openapi("RotateFeedbackSource");

export const RotatedSecret = z
  .object({ id: z.string(), secret: z.string(), previousSecretUntil: z.string() })
  .openapi("RotatedFeedbackSecret");

const key = requireAuth("key");
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** The additional data a source's sealed secrets are bound to. */
export const secretContext = (sourceId: string) => `feedback-source:${sourceId}`;

export function toSource(r: FeedbackSourceRow): FeedbackSource {
  return {
    id: r.id,
    name: r.name,
    experiment: r.experimentId,
    redactPii: r.redactPii,
    webhookPath: `/v1/webhooks/feedback/${r.id}`,
    events: r.events,
    lastEventAt: iso(r.lastEventAt),
    createdAt: iso(r.createdAt)!,
    rotatedAt: iso(r.rotatedAt),
    previousSecretUntil: iso(r.previousSecretUntil),
    revokedAt: iso(r.revokedAt),
  };
}

const create = createRoute({
  method: "post",
  path: "/v1/feedback-sources",
  tags: ["feedback"],
  summary: "Create a feedback source; its webhook secret is in this answer only",
  security: bearer,
  middleware: [key] as const,
  request: { body: jsonBody(CreateFeedbackSource) },
  responses: { 201: json(CreatedFeedbackSource, "The source and its secret"), ...errors(400, 401, 403) },
});

const list = createRoute({
  method: "get",
  path: "/v1/feedback-sources",
  tags: ["feedback"],
  summary: "List feedback sources (never their secrets)",
  security: bearer,
  middleware: [key] as const,
  request: { query: z.object({ cursor: Cursor, limit: Limit }) },
  responses: { 200: json(ListOf(FeedbackSource), "A page of sources"), ...errors(400, 401, 403) },
});

const get = createRoute({
  method: "get",
  path: "/v1/feedback-sources/{id}",
  tags: ["feedback"],
  summary: "Get a feedback source (never its secret)",
  security: bearer,
  middleware: [key] as const,
  request: { params: IdParam },
  responses: { 200: json(FeedbackSource, "The source"), ...errors(401, 403, 404) },
});

const rotate = createRoute({
  method: "post",
  path: "/v1/feedback-sources/{id}/rotate",
  tags: ["feedback"],
  summary: "Rotate a source's secret; the old one verifies until the overlap ends",
  description:
    "The answer holds the new secret, once. Deliveries signed with the secret before it verify until " +
    "`previousSecretUntil`; a secret from an earlier rotation stops verifying now.",
  security: bearer,
  middleware: [key] as const,
  request: {
    params: IdParam,
    body: { required: false, content: { "application/json": { schema: RotateFeedbackSource } } },
  },
  responses: { 200: json(RotatedSecret, "The new secret"), ...errors(400, 401, 403, 404, 409) },
});

const revoke = createRoute({
  method: "delete",
  path: "/v1/feedback-sources/{id}",
  tags: ["feedback"],
  summary: "Revoke a feedback source: its deliveries are refused from now on",
  security: bearer,
  middleware: [key] as const,
  request: { params: IdParam },
  responses: { 200: json(FeedbackSource, "The revoked source"), ...errors(401, 403, 404) },
});

export function feedbackSourceRoutes(app: OpenAPIHono<AppEnv>) {
  app.openapi(create, async (c) => {
    const body = c.req.valid("json");
    if (body.experiment && !(await getExperiment(c.var.db, projectOf(c), body.experiment))) {
      throw new ApiError("BAD_REQUEST", `experiment ${body.experiment} does not exist`, [
        { path: ["experiment"], message: "unknown experiment" },
      ]);
    }
    const id = newId("fs");
    const secret = newWebhookSecret();
    const row = await insertSource(c.var.db, {
      id,
      projectId: projectOf(c),
      name: body.name,
      experimentId: body.experiment ?? null,
      redactPii: body.redactPii,
      secretEnc: await seal(c.env, secret, secretContext(id)),
      previousSecretEnc: null,
      previousSecretUntil: null,
      events: 0,
      lastEventAt: null,
      revokedAt: null,
      createdAt: Date.now(),
      rotatedAt: null,
    });
    return c.json({ ...toSource(row), secret }, 201);
  });

  app.openapi(list, async (c) => {
    const { cursor, limit } = c.req.valid("query");
    const p = page(await listSources(c.var.db, projectOf(c), { cursor, limit }), limit);
    return c.json({ data: p.data.map(toSource), nextCursor: p.nextCursor }, 200);
  });

  app.openapi(get, async (c) => {
    const { id } = c.req.valid("param");
    const row = await getSource(c.var.db, projectOf(c), id);
    if (!row) throw notFound("feedback source", id);
    return c.json(toSource(row), 200);
  });

  app.openapi(rotate, async (c) => {
    const { id } = c.req.valid("param");
    const { overlapSeconds } = RotateFeedbackSource.parse(c.req.valid("json") ?? {});
    const row = await getSource(c.var.db, projectOf(c), id);
    if (!row) throw notFound("feedback source", id);
    if (row.revokedAt !== null) throw conflict(`feedback source ${id} is revoked; create a new one`);
    const now = Date.now();
    const secret = newWebhookSecret();
    const until = now + overlapSeconds * 1000;
    await updateSource(c.var.db, projectOf(c), id, {
      secretEnc: await seal(c.env, secret, secretContext(id)),
      previousSecretEnc: row.secretEnc,
      previousSecretUntil: until,
      rotatedAt: now,
    });
    forgetDeliverySource(id);
    return c.json({ id, secret, previousSecretUntil: new Date(until).toISOString() }, 200);
  });

  app.openapi(revoke, async (c) => {
    const { id } = c.req.valid("param");
    const row = await getSource(c.var.db, projectOf(c), id);
    if (!row) throw notFound("feedback source", id);
    const revoked =
      row.revokedAt === null ? await updateSource(c.var.db, projectOf(c), id, { revokedAt: Date.now() }) : row;
    forgetDeliverySource(id);
    return c.json(toSource(revoked ?? row), 200);
  });
}
