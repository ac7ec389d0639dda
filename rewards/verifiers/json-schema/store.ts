import { contentHash, sha256Hex } from "./canonical";
import type { RegisteredSchema, SchemaStore } from "./compile";
import { declaredDraft } from "./draft";

/**
 * The part of an R2 bucket the schema registry uses. An R2Bucket satisfies it; tests in Node can pass a
 * Map-backed double.
 */
export interface SchemaBucket {
  get(key: string): Promise<{ text(): Promise<string>; customMetadata?: Record<string, string> } | null>;
  put(
    key: string,
    value: string,
    options?: { httpMetadata?: { contentType?: string }; customMetadata?: Record<string, string> },
  ): Promise<unknown>;
  list(options?: {
    prefix?: string;
    cursor?: string;
    limit?: number;
    include?: ("customMetadata" | "httpMetadata")[];
  }): Promise<{
    objects: { key: string; size: number; customMetadata?: Record<string, string> }[];
    truncated: boolean;
    cursor?: string;
  }>;
}

export interface SchemaInfo {
  id: string;
  sha256: string;
  draft: string | null;
  size: number;
  createdAt: string;
}

export const SCHEMA_PREFIX = "schemas/";

/**
 * The canonical form of a schema `$id`: an absolute URI, normalized as the validator resolves `$ref`s,
 * without an empty fragment. Returns an error message for an `$id` that cannot name a registered schema.
 */
export function normalizeSchemaId(id: unknown): { ok: true; id: string } | { ok: false; message: string } {
  if (typeof id !== "string" || id.length === 0) return { ok: false, message: "the schema needs a string $id" };
  let url: URL;
  try {
    url = new URL(id);
  } catch {
    return { ok: false, message: `$id ${JSON.stringify(id)} is not an absolute URI` };
  }
  if (url.hash.length > 1) return { ok: false, message: `$id ${JSON.stringify(id)} must not have a fragment` };
  url.hash = "";
  if (url.href.length > 1000) return { ok: false, message: "$id is longer than 1000 characters" };
  return { ok: true, id: url.href };
}

/** R2 keys are hashes of the `$id`: any URI fits, and listing order does not leak registration order. */
export const schemaKey = (id: string) => `${SCHEMA_PREFIX}${sha256Hex(id)}.json`;

function info(meta: Record<string, string> | undefined, size: number): SchemaInfo | null {
  if (!meta?.id || !meta.sha256) return null;
  return { id: meta.id, sha256: meta.sha256, draft: meta.draft || null, size, createdAt: meta.createdAt ?? "" };
}

export type RegisterOutcome =
  | { status: "created" | "unchanged"; info: SchemaInfo }
  | { status: "conflict"; info: SchemaInfo; sha256: string };

/**
 * Registers a schema under its `$id`. The same content again (by canonical JSON) is a no-op; different
 * content under an `$id` already taken is refused, so that a verdict that referenced it stays reproducible.
 */
export async function registerSchema(bucket: SchemaBucket, id: string, schema: object): Promise<RegisterOutcome> {
  const sha256 = contentHash(schema);
  const key = schemaKey(id);
  const existing = await bucket.get(key);
  if (existing) {
    const body = await existing.text();
    const prior = info(existing.customMetadata, body.length);
    if (prior)
      return prior.sha256 === sha256
        ? { status: "unchanged", info: prior }
        : { status: "conflict", info: prior, sha256 };
  }
  const body = JSON.stringify(schema);
  const meta = { id, sha256, draft: declaredDraft(schema) ?? "", createdAt: new Date().toISOString() };
  await bucket.put(key, body, { httpMetadata: { contentType: "application/schema+json" }, customMetadata: meta });
  return { status: "created", info: info(meta, body.length)! };
}

export async function getSchema(bucket: SchemaBucket, id: string): Promise<(SchemaInfo & { schema: object }) | null> {
  const obj = await bucket.get(schemaKey(id));
  if (!obj) return null;
  const body = await obj.text();
  const i = info(obj.customMetadata, body.length);
  return i ? { ...i, schema: JSON.parse(body) as object } : null;
}

export async function listSchemas(bucket: SchemaBucket, opts: { cursor?: string; limit: number }) {
  const res = await bucket.list({
    prefix: SCHEMA_PREFIX,
    cursor: opts.cursor,
    limit: opts.limit,
    include: ["customMetadata"],
  });
  const data = res.objects.map((o) => info(o.customMetadata, o.size)).filter((x): x is SchemaInfo => x !== null);
  return { data, nextCursor: res.truncated ? (res.cursor ?? null) : null };
}

/**
 * A SchemaStore over the bucket for one request or batch: each referenced schema is read once. Stored
 * schemas never change under an `$id`, so compiled validators stay valid across stores.
 */
export function bucketSchemaStore(bucket: SchemaBucket): SchemaStore {
  const memo = new Map<string, Promise<RegisteredSchema | null>>();
  return {
    get(id) {
      let p = memo.get(id);
      if (!p) {
        p = getSchema(bucket, id).then((s) => (s ? { id: s.id, sha256: s.sha256, schema: s.schema } : null));
        p.catch(() => memo.delete(id));
        memo.set(id, p);
      }
      return p;
    },
  };
}
