import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { insertApiKey, listApiKeys, revokeApiKey } from "../../db/queries/api-keys";
import type { AppEnv } from "../env";
import { randomSecret, sha256Hex } from "../lib/crypto";
import { notFound } from "../lib/errors";
import { newId } from "../lib/ids";
import { bearer, Cursor, errors, json, jsonBody, Limit, ListOf } from "../lib/openapi";
import { page } from "../lib/pagination";
import { API_KEY_PREFIX, requireAuth } from "../middleware/auth";

export const CreateApiKey = z.object({ name: z.string().min(1).max(100) }).openapi("CreateApiKey");
export type CreateApiKey = z.infer<typeof CreateApiKey>;

export const ApiKeyInfo = z
  .object({
    id: z.string(),
    name: z.string(),
    prefix: z.string(),
    createdAt: z.string(),
    revokedAt: z.string().nullable(),
  })
  .openapi("ApiKey");

const CreatedApiKey = ApiKeyInfo.extend({
  key: z.string().openapi({ description: "The key itself: shown once, never again" }),
});

const KeyParams = z.object({ id: z.string().min(1).max(64) });

function info(row: { id: string; name: string; prefix: string; createdAt: number; revokedAt: number | null }) {
  return {
    id: row.id,
    name: row.name,
    prefix: row.prefix,
    createdAt: new Date(row.createdAt).toISOString(),
    revokedAt: row.revokedAt === null ? null : new Date(row.revokedAt).toISOString(),
  };
}

const admin = requireAuth("admin");

const create = createRoute({
  method: "post",
  path: "/v1/api-keys",
  tags: ["api keys"],
  summary: "Create an API key (admin)",
  security: bearer,
  middleware: [admin] as const,
  request: { body: jsonBody(CreateApiKey) },
  responses: {
    201: json(CreatedApiKey, "The new key; `key` is shown only in this response"),
    ...errors(400, 401, 403),
  },
});

const list = createRoute({
  method: "get",
  path: "/v1/api-keys",
  tags: ["api keys"],
  summary: "List API keys (admin)",
  security: bearer,
  middleware: [admin] as const,
  request: { query: z.object({ cursor: Cursor, limit: Limit }) },
  responses: { 200: json(ListOf(ApiKeyInfo), "Keys, newest first"), ...errors(400, 401, 403) },
});

const revoke = createRoute({
  method: "delete",
  path: "/v1/api-keys/{id}",
  tags: ["api keys"],
  summary: "Revoke an API key (admin); revoking twice is harmless",
  security: bearer,
  middleware: [admin] as const,
  request: { params: KeyParams },
  responses: { 200: json(ApiKeyInfo, "The revoked key"), ...errors(401, 403, 404) },
});

export function apiKeyRoutes(app: OpenAPIHono<AppEnv>) {
  app.openapi(create, async (c) => {
    const { name } = c.req.valid("json");
    const key = randomSecret(API_KEY_PREFIX);
    const row = {
      id: newId("key"),
      name,
      prefix: key.slice(0, 10),
      hash: await sha256Hex(key),
      createdAt: Date.now(),
      revokedAt: null,
    };
    await insertApiKey(c.var.db, row);
    return c.json({ ...info(row), key }, 201);
  });

  app.openapi(list, async (c) => {
    const { cursor, limit } = c.req.valid("query");
    const rows = await listApiKeys(c.var.db, { cursor, limit });
    const p = page(rows, limit);
    return c.json({ data: p.data.map(info), nextCursor: p.nextCursor }, 200);
  });

  app.openapi(revoke, async (c) => {
    const { id } = c.req.valid("param");
    const row = await revokeApiKey(c.var.db, id, Date.now());
    if (!row) throw notFound("API key", id);
    return c.json(info(row), 200);
  });
}
