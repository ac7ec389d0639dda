import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import {
  bucketSchemaStore,
  compileSchema,
  getSchema,
  listSchemas,
  normalizeSchemaId,
  pickDraft,
  registerSchema,
  SchemaError,
} from "../../rewards/verifiers/json-schema";
import type { AppEnv } from "../env";
import { ApiError, badRequest, conflict, notFound } from "../lib/errors";
import { bearer, Cursor, errors, json, jsonBody, ListOf } from "../lib/openapi";
import { projectOf } from "../lib/project";
import { projectSchemaBucket } from "../lib/schemas";
import { requireAuth } from "../middleware/auth";

export const JsonSchemaDocument = z.record(z.string(), z.unknown()).openapi("JsonSchemaDocument", {
  description: "A JSON Schema (draft 7, 2019-09 or 2020-12) with an absolute `$id` and no fragment",
  example: {
    $id: "https://schemas.example.com/address.json",
    type: "object",
    required: ["city"],
    properties: { city: { type: "string" } },
  },
});

export const RegisteredSchemaInfo = z
  .object({
    id: z.string().openapi({ description: "The schema's `$id`, normalized" }),
    sha256: z.string().openapi({ description: "SHA-256 of the schema's canonical JSON (keys sorted)" }),
    draft: z.string().nullable().openapi({ description: "The draft its `$schema` declares, if any" }),
    size: z.number().int(),
    createdAt: z.string(),
  })
  .openapi("RegisteredSchema");

const RegisteredSchemaWithBody = RegisteredSchemaInfo.extend({ schema: JsonSchemaDocument }).openapi(
  "RegisteredSchemaDocument",
);

const IdParams = z.object({
  id: z.string().min(1).max(2000).openapi({
    description: "The schema's `$id`, URL-encoded",
    example: "https%3A%2F%2Fschemas.example.com%2Faddress.json",
  }),
});

const key = requireAuth("key");

const put = createRoute({
  method: "put",
  path: "/v1/schemas",
  tags: ["schemas"],
  summary: "Register a JSON Schema under its $id, so that graders can $ref it",
  description:
    "Idempotent for the same content (compared as canonical JSON). A different schema under an `$id` already registered is refused with 409: verdicts that referenced it must stay reproducible. `$ref`s to other documents must point at schemas registered before.",
  security: bearer,
  middleware: [key] as const,
  request: { body: jsonBody(JsonSchemaDocument) },
  responses: {
    200: json(RegisteredSchemaInfo, "The same schema was already registered"),
    201: json(RegisteredSchemaInfo, "Registered"),
    ...errors(400, 401, 403, 409, 413),
  },
});

const list = createRoute({
  method: "get",
  path: "/v1/schemas",
  tags: ["schemas"],
  summary: "List registered JSON Schemas",
  security: bearer,
  middleware: [key] as const,
  request: { query: z.object({ cursor: Cursor, limit: z.coerce.number().int().min(1).max(1000).default(100) }) },
  responses: { 200: json(ListOf(RegisteredSchemaInfo), "Registered schemas"), ...errors(400, 401, 403) },
});

const get = createRoute({
  method: "get",
  path: "/v1/schemas/{id}",
  tags: ["schemas"],
  summary: "Get a registered JSON Schema by its URL-encoded $id",
  security: bearer,
  middleware: [key] as const,
  request: { params: IdParams },
  responses: { 200: json(RegisteredSchemaWithBody, "The schema and its record"), ...errors(400, 401, 403, 404) },
});

export function schemaRoutes(app: OpenAPIHono<AppEnv>) {
  app.openapi(put, async (c) => {
    const schema = c.req.valid("json");
    const id = normalizeSchemaId(schema.$id);
    if (!id.ok) throw badRequest(id.message, [{ path: ["$id"], message: id.message }]);
    try {
      // Compiling checks the schema and that every document it $refs is registered (or built in).
      await compileSchema(schema, {
        draft: pickDraft(schema),
        store: bucketSchemaStore(projectSchemaBucket(c.env.BLOBS, projectOf(c))),
      });
    } catch (err) {
      if (!(err instanceof SchemaError)) throw err;
      throw badRequest(
        "the schema is not a valid JSON Schema",
        err.issues.map((i) => ({ path: i.path.split("/").slice(1), message: i.message })),
      );
    }
    const out = await registerSchema(projectSchemaBucket(c.env.BLOBS, projectOf(c)), id.id, schema);
    if (out.status === "conflict") {
      throw conflict(`a different schema is already registered as ${id.id}`, {
        registered: { sha256: out.info.sha256, createdAt: out.info.createdAt },
        submitted: { sha256: out.sha256 },
      });
    }
    return c.json(out.info, out.status === "created" ? 201 : 200);
  });

  app.openapi(list, async (c) => {
    const { cursor, limit } = c.req.valid("query");
    return c.json(await listSchemas(projectSchemaBucket(c.env.BLOBS, projectOf(c)), { cursor, limit }), 200);
  });

  app.openapi(get, async (c) => {
    const raw = c.req.valid("param").id;
    const id = normalizeSchemaId(raw);
    if (!id.ok) throw new ApiError("BAD_REQUEST", id.message);
    const found = await getSchema(projectSchemaBucket(c.env.BLOBS, projectOf(c)), id.id);
    if (!found) throw notFound("schema", id.id);
    return c.json(found as z.infer<typeof RegisteredSchemaWithBody>, 200);
  });
}
