import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import {
  batchInsertStatement,
  batchTuple,
  type FeedbackDeadLetterRow,
  type FeedbackEventRow,
  type FeedbackSourceRow,
  findDelivery,
  getDeadLetter,
  getEvent,
  getSource,
  insertVerifiedEvent,
  listDeadLetters,
  listEvents,
  markRetried,
} from "../../db/queries/feedback";
import type { AppEnv } from "../env";
import { ApiError, conflict, notFound, zodIssues } from "../lib/errors";
import {
  enqueueFeedback,
  eventRow,
  FeedbackBatchLine,
  FeedbackEvent,
  FeedbackWebhook,
  sourceForDelivery,
} from "../lib/feedback";
import { newId } from "../lib/ids";
import { isBlank, LineSplitter } from "../lib/jsonl";
import { bearer, Cursor, errors, json, ListOf } from "../lib/openapi";
import { page } from "../lib/pagination";
import { projectOf } from "../lib/project";
import { IdParam } from "../lib/route-helpers";
import { open } from "../lib/secret-box";
import { verifyStandardWebhook } from "../lib/standard-webhooks";
import { requireAuth } from "../middleware/auth";
import { limitFor } from "../middleware/limits";
import { JSONL_MEDIA_TYPES } from "./datasets";
import { secretContext } from "./feedback-sources";

const MiB = 1024 * 1024;
/** A webhook body, and one line of a batch, may be at most this large. */
export const MAX_EVENT_BYTES = 1 * MiB;
/** Rows per batch-insert statement, and bytes of JSON bound to one (D1 limits a value to 2 MB). */
const BATCH_ROWS = 500;
const BATCH_BYTES = 900 * 1024;
/** Statements sent in one db.batch round trip. */
const BATCH_STATEMENTS = 4;
/** At most this many bad lines are listed (all are counted). */
const MAX_REJECTED_LISTED = 1000;

export const FeedbackAccepted = z
  .object({
    id: z.string().openapi({ example: "fb_01jq7w2x3y4z5a6b7c8d9e0f1g" }),
    duplicate: z.boolean().openapi({ description: "True when this webhook-id was already stored (id is the first's)" }),
  })
  .openapi("FeedbackAccepted");

export const StoredFeedbackEvent = z
  .object({
    id: z.string(),
    source: z.string().nullable(),
    deliveryId: z.string().openapi({ description: "The webhook-id, or the batch line's id" }),
    model: z.string(),
    input: FeedbackEvent.shape.input,
    output: z.string(),
    rating: z.union([z.enum(["up", "down"]), z.number()]).nullable(),
    correction: z.string().nullable(),
    reference: z.record(z.string(), z.unknown()).nullable(),
    comment: z.string().nullable(),
    labels: z.array(z.string()).nullable(),
    metadata: z.record(z.string(), z.unknown()).nullable(),
    embedding: z.array(z.number()).nullable(),
    redactions: z
      .record(z.string(), z.number().int())
      .openapi({ description: "What was replaced, by kind: { email: 2, ip: 1 }", example: { email: 1 } }),
    timestamp: z.string().openapi({ description: "When the feedback happened (the event's own timestamp)" }),
    receivedAt: z.string(),
    processedAt: z.string().nullable(),
  })
  .openapi("StoredFeedbackEvent");

export const BatchResult = z
  .object({
    accepted: z.number().int(),
    duplicates: z.number().int(),
    rejected: z.array(z.object({ line: z.number().int(), message: z.string() })),
    rejectedTotal: z.number().int().openapi({ description: "Bad lines in all (only the first 1,000 are listed)" }),
  })
  .openapi("FeedbackBatchResult");

export const DeadLetter = z
  .object({
    id: z.string().openapi({ example: "dlq_01jq7w2x3y4z5a6b7c8d9e0f1g" }),
    eventId: z.string(),
    source: z.string().nullable(),
    error: z.string(),
    attempts: z.number().int(),
    createdAt: z.string(),
    retriedAt: z.string().nullable(),
    resolvedAt: z.string().nullable(),
  })
  .openapi("FeedbackDeadLetter");

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

function toEvent(r: FeedbackEventRow): z.infer<typeof StoredFeedbackEvent> {
  const rating = r.rating === null ? null : r.rating === "up" || r.rating === "down" ? r.rating : Number(r.rating);
  return {
    id: r.id,
    source: r.sourceId || null,
    deliveryId: r.deliveryId,
    model: r.model,
    input: r.input,
    output: r.output,
    rating,
    correction: r.correction,
    reference: r.reference,
    comment: r.comment,
    labels: r.labels,
    metadata: r.metadata,
    embedding: r.embedding,
    redactions: r.redactions,
    timestamp: iso(r.occurredAt)!,
    receivedAt: iso(r.receivedAt)!,
    processedAt: iso(r.processedAt),
  };
}

function toDeadLetter(r: { letter: FeedbackDeadLetterRow; sourceId: string | null }): z.infer<typeof DeadLetter> {
  return {
    id: r.letter.id,
    eventId: r.letter.eventId,
    source: r.sourceId || null,
    error: r.letter.error,
    attempts: r.letter.attempts,
    createdAt: iso(r.letter.createdAt)!,
    retriedAt: iso(r.letter.retriedAt),
    resolvedAt: iso(r.letter.resolvedAt),
  };
}

/**
 * Sealed secret → plaintext, per isolate: decrypting on every delivery would cost an AES-GCM call each.
 * Resolved values are cached, not promises: a promise made in one request must not be awaited by another.
 */
const openedSecrets = new Map<string, string>();
async function openSecret(env: Env, sealed: string, sourceId: string): Promise<string> {
  const cacheKey = `${sourceId}:${sealed}`;
  const cached = openedSecrets.get(cacheKey);
  if (cached !== undefined) return cached;
  const secret = await open(env, sealed, secretContext(sourceId));
  if (openedSecrets.size >= 1000) openedSecrets.delete(openedSecrets.keys().next().value!);
  openedSecrets.set(cacheKey, secret);
  return secret;
}

/** Runs follow-up work after the answer when the runtime allows it, else before. */
async function later(c: { executionCtx: { waitUntil(p: Promise<unknown>): void } }, work: Promise<unknown>) {
  const guarded = work.catch((err) =>
    console.error(
      JSON.stringify({ level: "error", msg: "enqueue failed; the outbox cron will retry", error: String(err) }),
    ),
  );
  try {
    c.executionCtx.waitUntil(guarded);
  } catch {
    await guarded;
  }
}

const unauthorized = (message: string) => new ApiError("UNAUTHORIZED", message);
const key = requireAuth("key");

const webhook = createRoute({
  method: "post",
  path: "/v1/webhooks/feedback/{sourceId}",
  tags: ["feedback"],
  summary: "Receive a feedback event signed the Standard Webhooks way (no bearer key)",
  description:
    "Headers `webhook-id`, `webhook-timestamp` (Unix seconds, within 300 s of now either way) and " +
    "`webhook-signature` (space-separated `v1,<base64 HMAC-SHA256 of {id}.{timestamp}.{raw body}>`; any one " +
    "valid entry suffices, other versions are ignored). The signature is checked over the raw bytes before " +
    "the body is parsed. Accepted events are redacted (when the source says so), stored once per " +
    "webhook-id and answered 202; the same webhook-id again answers the first event's id with " +
    "`duplicate: true`. Refused deliveries store nothing.",
  security: [{ standardWebhooks: [] }],
  request: {
    params: z.object({ sourceId: z.string().openapi({ example: "fs_01jq7w2x3y4z5a6b7c8d9e0f1g" }) }),
    body: {
      required: true,
      content: { "application/json": { schema: { $ref: "#/components/schemas/FeedbackWebhook" } } },
    },
  },
  responses: { 202: json(FeedbackAccepted, "Stored (or already stored)"), ...errors(400, 401, 413) },
});

const ping = createRoute({
  method: "post",
  path: "/ping",
  tags: ["meta"],
  summary: "Reachability check for webhook senders: reads and discards a body, stores nothing",
  request: {
    body: {
      required: false,
      content: { "application/octet-stream": { schema: { type: "string", format: "binary" } } },
    },
  },
  responses: { 202: json(z.object({ ok: z.literal(true), bytes: z.number().int() }), "Received"), ...errors(413) },
});

const batch = createRoute({
  method: "post",
  path: "/v1/feedback/batch",
  tags: ["feedback"],
  summary: "Backfill feedback from JSONL (streamed, up to 50 MB); bad lines are reported, good lines kept",
  description:
    "Each line is a FeedbackEvent with an optional `id` (its idempotency key within the source, shared " +
    "with webhook-ids: a line whose id was already delivered is a duplicate) and an optional `timestamp`. " +
    "Without `?source=` the events belong to no source and are always redacted.",
  security: bearer,
  middleware: [key] as const,
  request: {
    query: z.object({ source: z.string().min(1).max(64).optional() }),
    body: {
      required: true,
      content: {
        "application/x-ndjson": { schema: { type: "string", format: "binary" } },
        "application/jsonl": { schema: { type: "string", format: "binary" } },
      },
    },
  },
  responses: { 200: json(BatchResult, "What was stored"), ...errors(400, 401, 403, 404, 409, 413, 415) },
});

const list = createRoute({
  method: "get",
  path: "/v1/feedback",
  tags: ["feedback"],
  summary: "Page through stored feedback events, oldest first",
  security: bearer,
  middleware: [key] as const,
  request: {
    query: z.object({
      source: z.string().min(1).max(64).optional(),
      since: z.iso.datetime({ offset: true }).optional().openapi({ description: "Received at or after (ISO-8601)" }),
      cursor: Cursor,
      limit: z.coerce.number().int().min(1).max(1000).default(100),
    }),
  },
  responses: { 200: json(ListOf(StoredFeedbackEvent), "A page of events"), ...errors(400, 401, 403) },
});

const deadLetters = createRoute({
  method: "get",
  path: "/v1/feedback/dead-letters",
  tags: ["feedback"],
  summary: "Events whose processing failed after its retries",
  security: bearer,
  middleware: [key] as const,
  request: {
    query: z.object({
      status: z.enum(["open", "resolved", "all"]).default("open"),
      cursor: Cursor,
      limit: z.coerce.number().int().min(1).max(1000).default(100),
    }),
  },
  responses: { 200: json(ListOf(DeadLetter), "A page of dead letters"), ...errors(400, 401, 403) },
});

const retry = createRoute({
  method: "post",
  path: "/v1/feedback/dead-letters/{id}/retry",
  tags: ["feedback"],
  summary: "Replay a dead-lettered event through the queue",
  description: "The dead letter is resolved when the replay succeeds; a replay that fails again updates it.",
  security: bearer,
  middleware: [key] as const,
  request: {
    params: IdParam,
    body: { required: false, content: { "application/json": { schema: z.object({}).strict() } } },
  },
  responses: { 202: json(DeadLetter, "Queued for replay"), ...errors(401, 403, 404, 409) },
});

const get = createRoute({
  method: "get",
  path: "/v1/feedback/{id}",
  tags: ["feedback"],
  summary: "One stored feedback event",
  security: bearer,
  middleware: [key] as const,
  request: { params: IdParam },
  responses: { 200: json(StoredFeedbackEvent, "The event"), ...errors(401, 403, 404) },
});

async function readCapped(body: ReadableStream<Uint8Array> | null, max: number): Promise<Uint8Array> {
  if (!body) return new Uint8Array(0);
  const parts: Uint8Array[] = [];
  let size = 0;
  const reader = body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel().catch(() => {});
      throw new ApiError("PAYLOAD_TOO_LARGE", `the body is larger than ${max} bytes`);
    }
    parts.push(value);
  }
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

export function feedbackRoutes(app: OpenAPIHono<AppEnv>) {
  app.openAPIRegistry.register("FeedbackWebhook", FeedbackWebhook);
  app.openAPIRegistry.registerComponent("securitySchemes", "standardWebhooks", {
    type: "apiKey",
    in: "header",
    name: "webhook-signature",
    description:
      "A Standard Webhooks signature with webhook-id and webhook-timestamp, under the source's whsec_ secret",
  });

  app.openapi(webhook, async (c) => {
    const now = Date.now();
    const { sourceId } = c.req.valid("param");
    // Cheap refusals first; then the raw body, verified before anything reads it as JSON.
    const headers = c.req.raw.headers;
    if (!headers.get("webhook-id") || !headers.get("webhook-timestamp") || !headers.get("webhook-signature")) {
      const v = await verifyStandardWebhook({ secrets: [], headers, body: new Uint8Array(0), now });
      throw unauthorized(v.ok ? "missing Standard Webhooks headers" : v.reason);
    }
    const body = await readCapped(c.req.raw.body, MAX_EVENT_BYTES);
    const verify = async (source: FeedbackSourceRow | null) => {
      if (!source) return { ok: false as const, reason: `unknown feedback source ${sourceId}` };
      if (source.revokedAt !== null) return { ok: false as const, reason: `feedback source ${sourceId} is revoked` };
      const sealed = [source.secretEnc];
      if (source.previousSecretEnc && source.previousSecretUntil !== null && source.previousSecretUntil > now) {
        sealed.push(source.previousSecretEnc);
      }
      const secrets = await Promise.all(sealed.map((s) => openSecret(c.env, s, source.id)));
      const v = await verifyStandardWebhook({ secrets, headers, body, now });
      return v.ok ? { ...v, source, sealedSecret: sealed[v.secretIndex]! } : v;
    };
    let lookup = await sourceForDelivery(c.var.db, sourceId, now);
    let verified = await verify(lookup.row);
    // A cached row may predate a rotation: a signature it cannot verify is tried against a fresh read.
    if (!verified.ok && lookup.cached) {
      lookup = await sourceForDelivery(c.var.db, sourceId, now, true);
      verified = await verify(lookup.row);
    }
    if (!verified.ok) throw unauthorized(verified.reason);
    const { source } = verified;
    if (verified.id.length > 256) throw new ApiError("BAD_REQUEST", "webhook-id is longer than 256 characters");

    let parsed: unknown;
    try {
      parsed = JSON.parse(utf8.decode(body));
    } catch (err) {
      throw new ApiError("BAD_REQUEST", `the body is not JSON: ${err instanceof Error ? err.message : String(err)}`);
    }
    const result = FeedbackWebhook.safeParse(parsed);
    if (!result.success) {
      throw new ApiError("BAD_REQUEST", "the body is not a feedback.created event", zodIssues(result.error.issues));
    }
    const row = eventRow(result.data.data, {
      id: newId("fb", now),
      projectId: source.projectId,
      sourceId: source.id,
      deliveryId: verified.id,
      occurredAt: Date.parse(result.data.timestamp),
      receivedAt: now,
      redact: source.redactPii,
    });
    const id = await insertVerifiedEvent(c.env.DB, row, { sealedSecret: verified.sealedSecret, now });
    if (id) {
      await later(c, enqueueFeedback(c.env, [id]));
      return c.json({ id, duplicate: false }, 202);
    }
    // Nothing written: a duplicate, or the source stopped accepting this secret since it was cached.
    const fresh = (await sourceForDelivery(c.var.db, sourceId, now, true)).row;
    if (!fresh || fresh.revokedAt !== null) throw unauthorized(`feedback source ${sourceId} is revoked`);
    const first = await findDelivery(c.var.db, row);
    if (first) return c.json({ id: first, duplicate: true }, 202);
    throw unauthorized("the secret that signed this delivery is no longer valid for this source");
  });

  app.openapi(ping, async (c) => {
    const body = await readCapped(c.req.raw.body, MAX_EVENT_BYTES);
    return c.json({ ok: true as const, bytes: body.byteLength }, 202);
  });

  app.openapi(batch, async (c) => {
    const mediaType = (c.req.header("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
    if (!(JSONL_MEDIA_TYPES as readonly string[]).includes(mediaType)) {
      throw new ApiError(
        "UNSUPPORTED_MEDIA_TYPE",
        `send JSONL as ${JSONL_MEDIA_TYPES.join(" or ")}, not ${mediaType || "no content type"}`,
      );
    }
    const projectId = projectOf(c);
    const { source: sourceId } = c.req.valid("query");
    const source = sourceId ? await getSource(c.var.db, projectId, sourceId) : null;
    if (sourceId && !source) throw notFound("feedback source", sourceId);
    if (source?.revokedAt != null) throw conflict(`feedback source ${sourceId} is revoked`);
    const redact = source ? source.redactPii : true;
    const maxBytes = limitFor(c.req.path);

    const out = { accepted: 0, duplicates: 0, rejected: [] as { line: number; message: string }[], rejectedTotal: 0 };
    const reject = (line: number, message: string) => {
      out.rejectedTotal++;
      if (out.rejected.length < MAX_REJECTED_LISTED) out.rejected.push({ line, message });
    };
    let tuples: (string | number | null)[][] = [];
    let tupleBytes = 0;
    let statements: { stmt: D1PreparedStatement; rows: number }[] = [];
    const cut = () => {
      if (tuples.length === 0) return;
      statements.push({ stmt: batchInsertStatement(c.env.DB, tuples), rows: tuples.length });
      tuples = [];
      tupleBytes = 0;
    };
    const flush = async () => {
      if (statements.length === 0) return;
      const results = await c.env.DB.batch<{ id: string }>(statements.map((s) => s.stmt));
      const ids: string[] = [];
      results.forEach((r, i) => {
        ids.push(...r.results.map((x) => x.id));
        out.duplicates += statements[i]!.rows - r.results.length;
      });
      out.accepted += ids.length;
      statements = [];
      await enqueueFeedback(c.env, ids).catch((err) =>
        console.error(
          JSON.stringify({ level: "error", msg: "enqueue failed; the outbox cron will retry", error: String(err) }),
        ),
      );
    };

    const splitter = new LineSplitter({ skipBom: true, maxLine: MAX_EVENT_BYTES });
    const handle = async (line: Uint8Array | null, lineNo: number) => {
      if (line === null) return reject(lineNo, `the line is longer than ${MAX_EVENT_BYTES} bytes`);
      if (line.length === 0 || isBlank(line)) return;
      let value: unknown;
      try {
        value = JSON.parse(utf8.decode(line));
      } catch (err) {
        return reject(lineNo, `not JSON: ${err instanceof Error ? err.message : String(err)}`);
      }
      const parsed = FeedbackBatchLine.safeParse(value);
      if (!parsed.success) {
        const i = parsed.error.issues[0]!;
        return reject(lineNo, `${i.path.length ? `${i.path.join(".")}: ` : ""}${i.message}`);
      }
      const now = Date.now();
      const id = newId("fb", now);
      const { id: deliveryId, timestamp, ...event } = parsed.data;
      const tuple = batchTuple(
        eventRow(event, {
          id,
          projectId,
          sourceId: source?.id ?? "",
          // Lines without an id are new events each time; `batch:` keeps them apart from webhook-ids.
          deliveryId: deliveryId ?? `batch:${id}`,
          occurredAt: timestamp ? Date.parse(timestamp) : now,
          receivedAt: now,
          redact,
        }),
      );
      const size = JSON.stringify(tuple).length;
      if (tupleBytes + size > BATCH_BYTES || tuples.length >= BATCH_ROWS) cut();
      tuples.push(tuple);
      tupleBytes += size;
      if (statements.length >= BATCH_STATEMENTS) await flush();
    };

    let bytes = 0;
    const reader = c.req.raw.body?.getReader();
    if (reader) {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        bytes += value.byteLength;
        if (bytes > maxBytes) {
          await reader.cancel().catch(() => {});
          cut();
          await flush();
          throw new ApiError(
            "PAYLOAD_TOO_LARGE",
            `the body is larger than ${maxBytes} bytes; the lines before byte ${bytes - value.byteLength} were processed`,
            undefined,
            { accepted: out.accepted, duplicates: out.duplicates },
          );
        }
        const lines = splitter.push(value);
        const first = splitter.lineNo - lines.length + 1;
        for (let i = 0; i < lines.length; i++) await handle(lines[i]!, first + i);
      }
    }
    const last = splitter.end();
    for (const line of last) await handle(line, splitter.lineNo);
    cut();
    await flush();
    return c.json(out, 200);
  });

  app.openapi(list, async (c) => {
    const { source, since, cursor, limit } = c.req.valid("query");
    const rows = await listEvents(c.var.db, projectOf(c), {
      source,
      since: since ? Date.parse(since) : undefined,
      cursor,
      limit,
    });
    const p = page(rows, limit);
    return c.json({ data: p.data.map(toEvent), nextCursor: p.nextCursor }, 200);
  });

  // Before /v1/feedback/{id}: the first matching route answers.
  app.openapi(deadLetters, async (c) => {
    const { status, cursor, limit } = c.req.valid("query");
    const rows = await listDeadLetters(c.var.db, projectOf(c), { status, cursor, limit });
    const more = rows.length > limit;
    const data = (more ? rows.slice(0, limit) : rows).map(toDeadLetter);
    return c.json({ data, nextCursor: more ? data[data.length - 1]!.id : null }, 200);
  });

  app.openapi(retry, async (c) => {
    const { id } = c.req.valid("param");
    const found = await getDeadLetter(c.var.db, projectOf(c), id);
    if (!found) throw notFound("dead letter", id);
    if (found.letter.resolvedAt !== null) throw conflict(`dead letter ${id} is already resolved`);
    const now = Date.now();
    await markRetried(c.var.db, id, now);
    await enqueueFeedback(c.env, [found.letter.eventId]);
    return c.json(toDeadLetter({ ...found, letter: { ...found.letter, retriedAt: now } }), 202);
  });

  app.openapi(get, async (c) => {
    const { id } = c.req.valid("param");
    const row = await getEvent(c.var.db, projectOf(c), id);
    if (!row) throw notFound("feedback event", id);
    return c.json(toEvent(row), 200);
  });
}
