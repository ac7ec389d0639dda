import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { insertApiKey, listApiKeys, revokeApiKey } from "../../db/queries/api-keys";
import { getProject } from "../../db/queries/projects";
import type { AppEnv } from "../env";
import { sha256Hex } from "../lib/crypto";
import { badRequest, notFound } from "../lib/errors";
import { newId } from "../lib/ids";
import { bearer, Cursor, errors, json, jsonBody, Limit, ListOf } from "../lib/openapi";
import { page } from "../lib/pagination";
import { projectOf } from "../lib/project";
import { newApiKey, requireAuth } from "../middleware/auth";
import { ROLES } from "../middleware/permissions";

export const CreateApiKey = z
  .object({
    name: z.string().min(1).max(100),
    project: z
      .string()
      .min(1)
      .max(64)
      .optional()
      .openapi({ description: "The project the key belongs to (prj_…); default: the caller's project" }),
    role: z.enum(ROLES).default("write").openapi({
      description:
        "read: GET only; write: everything in the project but its keys; score: only POST /v1/rewards/{name}/score and /v1/graders/run|validate|preflight; runner: only POST /v1/runner/claim; admin: the project's keys plus write",
    }),
    expiresAt: z.iso
      .datetime({ offset: true })
      .optional()
      .openapi({ description: "When the key stops working (ISO 8601); default: never" }),
  })
  .strict()
  .openapi("CreateApiKey");
export type CreateApiKey = z.infer<typeof CreateApiKey>;

export const ApiKeyInfo = z
  .object({
    id: z.string(),
    name: z.string(),
    prefix: z.string(),
    project: z.string(),
    role: z.enum(ROLES),
    createdAt: z.string(),
    expiresAt: z.string().nullable(),
    lastUsedAt: z.string().nullable().openapi({ description: "Recorded at most once a minute" }),
    revokedAt: z.string().nullable(),
  })
  .openapi("ApiKey");

const CreatedApiKey = ApiKeyInfo.extend({
  key: z.string().openapi({
    description:
      "The key itself: shown once, never again. Format: ak_ + 43 base64url characters + an 8-hex-digit CRC-32 of them, so secret scanners can recognise it",
  }),
});

const KeyParams = z.object({ id: z.string().min(1).max(64) });

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

type KeyRow = {
  id: string;
  name: string;
  prefix: string;
  projectId: string;
  role: (typeof ROLES)[number];
  createdAt: number;
  expiresAt: number | null;
  lastUsedAt: number | null;
  revokedAt: number | null;
};

function info(row: KeyRow) {
  return {
    id: row.id,
    name: row.name,
    prefix: row.prefix,
    project: row.projectId,
    role: row.role,
    createdAt: iso(row.createdAt)!,
    expiresAt: iso(row.expiresAt),
    lastUsedAt: iso(row.lastUsedAt),
    revokedAt: iso(row.revokedAt),
  };
}

const guard = requireAuth();

const create = createRoute({
  method: "post",
  path: "/v1/api-keys",
  tags: ["api keys"],
  summary: "Create an API key (the project's admin, or the admin secret)",
  description:
    "The admin secret may create a key in any project; a key with role admin only in its own (naming another project is 404).",
  security: bearer,
  middleware: [guard] as const,
  request: { body: jsonBody(CreateApiKey) },
  responses: {
    201: json(CreatedApiKey, "The new key; `key` is shown only in this response"),
    ...errors(400, 401, 403, 404),
  },
});

const list = createRoute({
  method: "get",
  path: "/v1/api-keys",
  tags: ["api keys"],
  summary: "List the project's API keys (the project's admin, or the admin secret)",
  security: bearer,
  middleware: [guard] as const,
  request: { query: z.object({ cursor: Cursor, limit: Limit }) },
  responses: { 200: json(ListOf(ApiKeyInfo), "Keys, newest first"), ...errors(400, 401, 403) },
});

const revoke = createRoute({
  method: "delete",
  path: "/v1/api-keys/{id}",
  tags: ["api keys"],
  summary: "Revoke one of the project's API keys; revoking twice is harmless",
  security: bearer,
  middleware: [guard] as const,
  request: { params: KeyParams },
  responses: { 200: json(ApiKeyInfo, "The revoked key"), ...errors(401, 403, 404) },
});

export function apiKeyRoutes(app: OpenAPIHono<AppEnv>) {
  app.openapi(create, async (c) => {
    const body = c.req.valid("json");
    const principal = c.var.principal;
    const projectId = body.project ?? projectOf(c);
    // A project's admin key reaches only its own project; another project reads as missing.
    if (principal.kind !== "admin" && projectId !== principal.projectId) throw notFound("project", projectId);
    if (!(await getProject(c.var.db, projectId))) throw notFound("project", projectId);
    const now = Date.now();
    const expiresAt = body.expiresAt ? Date.parse(body.expiresAt) : null;
    if (expiresAt !== null && expiresAt <= now) {
      throw badRequest("expiresAt is in the past", [{ path: ["expiresAt"], message: "must be in the future" }]);
    }
    const key = newApiKey();
    const row = {
      id: newId("key"),
      projectId,
      name: body.name,
      role: body.role,
      prefix: key.slice(0, 10),
      hash: await sha256Hex(key),
      createdAt: now,
      expiresAt,
      lastUsedAt: null,
      revokedAt: null,
    };
    await insertApiKey(c.var.db, row);
    return c.json({ ...info(row), key }, 201);
  });

  app.openapi(list, async (c) => {
    const { cursor, limit } = c.req.valid("query");
    const rows = await listApiKeys(c.var.db, projectOf(c), { cursor, limit });
    const p = page(rows, limit);
    return c.json({ data: p.data.map(info), nextCursor: p.nextCursor }, 200);
  });

  app.openapi(revoke, async (c) => {
    const { id } = c.req.valid("param");
    const row = await revokeApiKey(c.var.db, projectOf(c), id, Date.now());
    if (!row) throw notFound("API key", id);
    return c.json(info(row), 200);
  });
}
