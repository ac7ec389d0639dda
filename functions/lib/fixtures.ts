import type { Fixture, FixtureStore } from "../../rewards/core/types";
import { Lru } from "../../rewards/lib/lru";
import { projectBlobPrefix } from "./project";

/**
 * SQL fixtures in R2: the uploaded bytes at fixtures/<name>, described by custom metadata (kind, sha256,
 * tables, createdAt), so a listing needs no second read and the bytes and their description are written
 * in one put. A project other than the default keeps its fixtures under its own prefix
 * (projects/<id>/fixtures/<name>), so a grader scoring for one project cannot open another's.
 */
export const FIXTURE_PREFIX = "fixtures/";

const fixturePrefix = (projectId: string) => projectBlobPrefix(projectId) + FIXTURE_PREFIX;

export interface FixtureInfo {
  name: string;
  kind: "sqlite" | "sql";
  bytes: number;
  sha256: string;
  tables: string[];
  /** True when the table list was too long for R2's metadata and `tables` holds only its start. */
  tablesTruncated?: boolean;
  createdAt: string;
}

/** R2 allows 2 KiB of custom metadata per object; the table list gets what the other fields leave. */
const TABLES_BUDGET = 1600;

function encodeTables(tables: string[]): { json: string; truncated: boolean } {
  const kept: string[] = [];
  for (const t of tables) {
    if (JSON.stringify([...kept, t]).length > TABLES_BUDGET) return { json: JSON.stringify(kept), truncated: true };
    kept.push(t);
  }
  return { json: JSON.stringify(kept), truncated: false };
}

function infoFrom(name: string, size: number, meta: Record<string, string> | undefined): FixtureInfo | null {
  if (!meta?.sha256 || (meta.kind !== "sqlite" && meta.kind !== "sql")) return null;
  let tables: string[] = [];
  try {
    const parsed = JSON.parse(meta.tables ?? "[]") as unknown;
    if (Array.isArray(parsed)) tables = parsed.map(String);
  } catch {
    tables = [];
  }
  return {
    name,
    kind: meta.kind,
    bytes: size,
    sha256: meta.sha256,
    tables,
    ...(meta.tablesTruncated === "1" ? { tablesTruncated: true } : {}),
    createdAt: meta.createdAt ?? new Date(0).toISOString(),
  };
}

export async function putFixture(
  bucket: R2Bucket,
  projectId: string,
  input: { name: string; kind: "sqlite" | "sql"; bytes: Uint8Array; sha256: string; tables: string[] },
): Promise<{ info: FixtureInfo; previous: FixtureInfo | null }> {
  const key = fixturePrefix(projectId) + input.name;
  byKey.delete(key);
  const head = await bucket.head(key);
  const previous = head ? infoFrom(input.name, head.size, head.customMetadata) : null;
  const createdAt = new Date().toISOString();
  const tables = encodeTables(input.tables);
  await bucket.put(key, input.bytes, {
    customMetadata: {
      kind: input.kind,
      sha256: input.sha256,
      tables: tables.json,
      ...(tables.truncated ? { tablesTruncated: "1" } : {}),
      createdAt,
    },
    sha256: input.sha256,
  });
  const info = infoFrom(input.name, input.bytes.length, {
    kind: input.kind,
    sha256: input.sha256,
    tables: tables.json,
    ...(tables.truncated ? { tablesTruncated: "1" } : {}),
    createdAt,
  })!;
  return { info, previous };
}

export async function getFixtureInfo(bucket: R2Bucket, projectId: string, name: string): Promise<FixtureInfo | null> {
  const head = await bucket.head(fixturePrefix(projectId) + name);
  return head ? infoFrom(name, head.size, head.customMetadata) : null;
}

export async function listFixtures(
  bucket: R2Bucket,
  projectId: string,
  opts: { cursor?: string; limit: number },
): Promise<{ data: FixtureInfo[]; nextCursor: string | null }> {
  const prefix = fixturePrefix(projectId);
  const page = await bucket.list({
    prefix,
    limit: opts.limit,
    ...(opts.cursor ? { cursor: opts.cursor } : {}),
    include: ["customMetadata"],
  });
  const data: FixtureInfo[] = [];
  for (const obj of page.objects) {
    const info = infoFrom(obj.key.slice(prefix.length), obj.size, obj.customMetadata);
    if (info) data.push(info);
  }
  return { data, nextCursor: page.truncated ? page.cursor : null };
}

/** How long a fixture's sha256 is trusted before R2 is asked again (a replaced fixture shows within this). */
const HEAD_TTL_MS = 2000;
const MAX_CACHED_BYTES = 96 * 1024 * 1024;

interface Cached {
  fixture: Fixture;
  checkedAt: number;
}

/** Keyed by the R2 key, which holds the project: one project's cached bytes never answer another's name. */
const byKey = new Lru<string, Cached>(MAX_CACHED_BYTES, (c) => c.fixture.bytes.length);

/**
 * A FixtureStore over one project's fixtures in R2 for scoring. The bytes are kept in the isolate by key and sha256: within
 * HEAD_TTL_MS a fixture is served from memory, after that a HEAD checks its sha256 and only a changed
 * fixture is read again. So a batch reads each fixture once, and a replaced fixture is picked up.
 */
export function r2FixtureStore(bucket: R2Bucket, projectId: string): FixtureStore {
  const prefix = fixturePrefix(projectId);
  return {
    async get(name) {
      const key = prefix + name;
      const hit = byKey.get(key);
      if (hit && Date.now() - hit.checkedAt < HEAD_TTL_MS) return hit.fixture;
      if (hit) {
        const head = await bucket.head(key);
        if (!head) {
          byKey.delete(key);
          return null;
        }
        if (head.customMetadata?.sha256 === hit.fixture.sha256) {
          hit.checkedAt = Date.now();
          return hit.fixture;
        }
      }
      const obj = await bucket.get(key);
      if (!obj) return null;
      const meta = obj.customMetadata ?? {};
      const fixture: Fixture = {
        name,
        kind: meta.kind === "sql" ? "sql" : "sqlite",
        sha256: meta.sha256 ?? obj.etag,
        bytes: new Uint8Array(await obj.arrayBuffer()),
      };
      byKey.set(key, { fixture, checkedAt: Date.now() });
      return fixture;
    },
  };
}
