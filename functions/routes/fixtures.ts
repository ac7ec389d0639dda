import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { SqlScriptError } from "../../rewards/verifiers/sql";
import type { AppEnv } from "../env";
import { sha256Hex } from "../lib/crypto";
import { ApiError, badRequest, notFound } from "../lib/errors";
import { getFixtureInfo, listFixtures, putFixture } from "../lib/fixtures";
import { bearer, Cursor, errors, json, ListOf } from "../lib/openapi";
import { projectOf } from "../lib/project";
import { newWorkerdSqlEngine } from "../lib/sql-engine-workerd";
import { requireAuth } from "../middleware/auth";

const SQLITE_MEDIA_TYPE = "application/octet-stream";
const SQL_MEDIA_TYPE = "application/sql";
/** The first 16 bytes of every SQLite database file. */
const SQLITE_HEADER = new TextEncoder().encode("SQLite format 3\u0000");
/** VM steps a fixture's script (or integrity check) may take: seconds of work, not minutes. */
const LOAD_MAX_OPS = 500_000_000;

export const FixtureInfo = z
  .object({
    name: z.string().openapi({ example: "concert_singer" }),
    kind: z
      .enum(["sqlite", "sql"])
      .openapi({ description: "A database file, or a SQL script run into an empty database" }),
    bytes: z.number().int().openapi({ description: "Size of the uploaded file" }),
    sha256: z
      .string()
      .openapi({ description: "SHA-256 of the uploaded bytes, hex; changes when the fixture is replaced" }),
    tables: z.array(z.string()).openapi({ description: "The database's tables, by name" }),
    tablesTruncated: z.boolean().optional().openapi({ description: "Only the start of a long table list is kept" }),
    createdAt: z.string(),
  })
  .openapi("Fixture");

const StoredFixture = FixtureInfo.extend({
  previousSha256: z
    .string()
    .nullable()
    .openapi({ description: "The sha256 of the fixture this upload replaced, or null for a new name" }),
}).openapi("StoredFixture");

const NameParams = z.object({
  name: z
    .string()
    .regex(/^[a-z0-9_-]{1,64}$/, "a fixture name is 1-64 characters of a-z, 0-9, _ and -")
    .openapi({ example: "concert_singer" }),
});

const key = requireAuth("key");
const binary = { type: "string" as const, format: "binary" };

const put = createRoute({
  method: "put",
  path: "/v1/fixtures/{name}",
  tags: ["fixtures"],
  summary: "Store a SQL fixture (a SQLite database file or a SQL script) for sql_exec_match graders",
  description:
    "`application/octet-stream`: a SQLite database file; it must start with the SQLite header, open, and pass `PRAGMA quick_check`. `application/sql`: a UTF-8 SQL script, run into an empty database to check that it loads. Up to 64 MiB. Replacing a fixture is allowed; its sha256 changes, so results stay attributable.",
  security: bearer,
  middleware: [key] as const,
  request: {
    params: NameParams,
    body: {
      required: true,
      content: { [SQLITE_MEDIA_TYPE]: { schema: binary }, [SQL_MEDIA_TYPE]: { schema: binary } },
    },
  },
  responses: {
    200: json(StoredFixture, "Replaced an existing fixture"),
    201: json(StoredFixture, "Stored a new fixture"),
    ...errors(400, 401, 403, 413, 415),
  },
});

const list = createRoute({
  method: "get",
  path: "/v1/fixtures",
  tags: ["fixtures"],
  summary: "List SQL fixtures",
  security: bearer,
  middleware: [key] as const,
  request: { query: z.object({ cursor: Cursor, limit: z.coerce.number().int().min(1).max(1000).default(100) }) },
  responses: { 200: json(ListOf(FixtureInfo), "Fixtures, by name"), ...errors(400, 401, 403) },
});

const get = createRoute({
  method: "get",
  path: "/v1/fixtures/{name}",
  tags: ["fixtures"],
  summary: "Describe one SQL fixture",
  security: bearer,
  middleware: [key] as const,
  request: { params: NameParams },
  responses: { 200: json(FixtureInfo, "The fixture"), ...errors(400, 401, 403, 404) },
});

function startsWith(bytes: Uint8Array, prefix: Uint8Array) {
  if (bytes.length < prefix.length) return false;
  return prefix.every((b, i) => bytes[i] === b);
}

/** Checks an upload and returns what it holds; a bad file is a 400 naming the problem. */
async function inspectUpload(kind: "sqlite" | "sql", bytes: Uint8Array): Promise<{ tables: string[] }> {
  // A throwaway engine: a script that fills memory takes that memory with it, not the scoring engine's.
  const engine = newWorkerdSqlEngine();
  try {
    if (kind === "sqlite") {
      if (!startsWith(bytes, SQLITE_HEADER)) {
        throw badRequest("the body is not a SQLite database file: it lacks the 'SQLite format 3' header");
      }
      return engine.inspect(bytes, LOAD_MAX_OPS);
    }
    let script: string;
    try {
      script = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
    } catch {
      throw badRequest("the SQL script is not valid UTF-8");
    }
    if (startsWith(bytes, SQLITE_HEADER)) {
      throw badRequest(`the body is a SQLite database file: send it as ${SQLITE_MEDIA_TYPE}`);
    }
    const image = engine.buildImage(script, LOAD_MAX_OPS);
    return engine.inspect(image, LOAD_MAX_OPS);
  } catch (err) {
    if (err instanceof SqlScriptError) {
      throw badRequest(kind === "sql" ? `the SQL script does not load: ${err.message}` : err.message);
    }
    throw err;
  }
}

export function fixtureRoutes(app: OpenAPIHono<AppEnv>) {
  app.openapi(put, async (c) => {
    const { name } = c.req.valid("param");
    const mediaType = (c.req.header("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
    const kind = mediaType === SQLITE_MEDIA_TYPE ? "sqlite" : mediaType === SQL_MEDIA_TYPE ? "sql" : null;
    if (!kind) {
      throw new ApiError(
        "UNSUPPORTED_MEDIA_TYPE",
        `send a SQLite database as ${SQLITE_MEDIA_TYPE} or a SQL script as ${SQL_MEDIA_TYPE}, not ${mediaType || "no content type"}`,
      );
    }
    const bytes = new Uint8Array(await c.req.arrayBuffer());
    if (bytes.length === 0) throw badRequest("the body is empty");
    const { tables } = await inspectUpload(kind, bytes);
    const sha256 = await sha256Hex(bytes);
    const { info, previous } = await putFixture(c.env.BLOBS, projectOf(c), { name, kind, bytes, sha256, tables });
    return c.json({ ...info, previousSha256: previous?.sha256 ?? null }, previous ? 200 : 201);
  });

  app.openapi(list, async (c) => {
    const { cursor, limit } = c.req.valid("query");
    return c.json(await listFixtures(c.env.BLOBS, projectOf(c), { cursor, limit }), 200);
  });

  app.openapi(get, async (c) => {
    const { name } = c.req.valid("param");
    const info = await getFixtureInfo(c.env.BLOBS, projectOf(c), name);
    if (!info) throw notFound("fixture", name);
    return c.json(info, 200);
  });
}
