import { describe, expect, it } from "vitest";
import { corpus, hasCorpora } from "./corpora";
import { call, createApiKey, expectError, expectStatus } from "./helpers";

const SPIDER = ["concert_singer", "pets_1", "world_1"] as const;
const TABLES: Record<(typeof SPIDER)[number], string[]> = {
  concert_singer: ["concert", "singer", "singer_in_concert", "stadium"],
  pets_1: ["Has_Pet", "Pets", "Student"],
  world_1: ["city", "country", "countrylanguage"],
};

async function bytesOf(path: string): Promise<Uint8Array> {
  const res = await corpus(path);
  if (!res) throw new Error(`corpus file ${path} is missing`);
  return new Uint8Array(await res.arrayBuffer());
}

async function sha256(bytes: Uint8Array) {
  const d = await crypto.subtle.digest("SHA-256", bytes);
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

const put = (name: string, body: BodyInit, type: string, key?: string | null) =>
  call("PUT", `/v1/fixtures/${name}`, { raw: body, headers: { "content-type": type }, key });

describe.skipIf(!hasCorpora())("PUT /v1/fixtures/{name} with the Spider databases", () => {
  for (const db of SPIDER) {
    it(`stores ${db}.sqlite as a database and describes it`, async () => {
      const bytes = await bytesOf(`sql/${db}.sqlite`);
      const res = await put(`t-${db}`, bytes, "application/octet-stream");
      expect([200, 201]).toContain(res.status);
      const expected = {
        name: `t-${db}`,
        kind: "sqlite",
        bytes: bytes.length,
        sha256: await sha256(bytes),
        tables: TABLES[db],
        createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      };
      expect(res.json).toEqual({ ...expected, previousSha256: expect.toBeOneOf([null, expect.any(String)]) });
      const got = await call("GET", `/v1/fixtures/t-${db}`);
      expectStatus(got, 200);
      expect(got.json).toEqual(expected);
    });

    it(`stores ${db}.sql as a script that loads into the same tables`, async () => {
      const bytes = await bytesOf(`sql/${db}.sql`);
      const res = await put(`t-${db}-script`, bytes, "application/sql");
      expect([200, 201]).toContain(res.status);
      expect(res.json).toEqual({
        name: `t-${db}-script`,
        kind: "sql",
        bytes: bytes.length,
        sha256: await sha256(bytes),
        tables: TABLES[db],
        createdAt: expect.any(String),
        previousSha256: expect.toBeOneOf([null, expect.any(String)]),
      });
    });
  }

  it("lists stored fixtures with their kind, size, hash and tables", async () => {
    const bytes = await bytesOf("sql/pets_1.sqlite");
    await put("t-list-pets", bytes, "application/octet-stream");
    const res = await call("GET", "/v1/fixtures?limit=1000");
    expectStatus(res, 200);
    expect(res.json.nextCursor).toBeNull();
    expect(res.json.data).toContainEqual({
      name: "t-list-pets",
      kind: "sqlite",
      bytes: bytes.length,
      sha256: await sha256(bytes),
      tables: TABLES.pets_1,
      createdAt: expect.any(String),
    });
  });

  it("replaces a fixture, answering 200 with the sha256 it replaced", async () => {
    const first = await put("t-replaced", "CREATE TABLE a(x); INSERT INTO a VALUES (1);", "application/sql");
    expectStatus(first, 201);
    const second = await put("t-replaced", "CREATE TABLE b(y); INSERT INTO b VALUES (2);", "application/sql");
    expectStatus(second, 200);
    expect(second.json).toMatchObject({ kind: "sql", tables: ["b"], previousSha256: first.json.sha256 });
    expect(second.json.sha256).not.toBe(first.json.sha256);
    expect((await call("GET", "/v1/fixtures/t-replaced")).json.sha256).toBe(second.json.sha256);
  });

  it("pages through the list with a cursor", async () => {
    for (const n of ["t-page-a", "t-page-b", "t-page-c"]) await put(n, "CREATE TABLE t(x);", "application/sql");
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res = await call("GET", `/v1/fixtures?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
      expectStatus(res, 200);
      expect(res.json.data.length).toBeLessThanOrEqual(2);
      seen.push(...res.json.data.map((f: { name: string }) => f.name));
      cursor = res.json.nextCursor;
    } while (cursor);
    expect(seen).toEqual(expect.arrayContaining(["t-page-a", "t-page-b", "t-page-c"]));
    expect(new Set(seen).size).toBe(seen.length);
  });
});

describe("PUT /v1/fixtures/{name} errors", () => {
  it("refuses a file without the SQLite header with 400", async () => {
    const res = await put("t-bad", new TextEncoder().encode("not a database at all"), "application/octet-stream");
    expectError(res, 400, "BAD_REQUEST");
    expect(res.json.error.message).toMatch(/SQLite format 3/);
  });

  it.skipIf(!hasCorpora())("refuses a truncated database file with 400", async () => {
    const bytes = (await bytesOf("sql/world_1.sqlite")).slice(0, 8192);
    const res = await put("t-truncated", bytes, "application/octet-stream");
    expectError(res, 400, "BAD_REQUEST");
    expect(res.json.error.message).toMatch(/damaged|does not open|malformed/);
  });

  it.skipIf(!hasCorpora())("refuses a database whose pages are overwritten with garbage with 400", async () => {
    const bytes = await bytesOf("sql/concert_singer.sqlite");
    for (let i = 4096; i < bytes.length; i++) bytes[i] = (i * 7919) & 0xff;
    const res = await put("t-garbage", bytes, "application/octet-stream");
    expectError(res, 400, "BAD_REQUEST");
  });

  it("refuses a SQL script that fails, quoting SQLite's error", async () => {
    const res = await put("t-badscript", "CREATE TABLE a(x);\nINSERT INTO missing VALUES (1);", "application/sql");
    expectError(res, 400, "BAD_REQUEST");
    expect(res.json.error.message).toBe("the SQL script does not load: no such table: missing");
  });

  it("refuses a script that never ends with 400 instead of hanging", async () => {
    const res = await put(
      "t-endless",
      "CREATE TABLE a(x); WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c) INSERT INTO a SELECT n FROM c;",
      "application/sql",
    );
    expectError(res, 400, "BAD_REQUEST");
    expect(res.json.error.message).toMatch(/VM steps|out of memory/);
  });

  it("refuses a database file sent as a script", async () => {
    const res = await put("t-mislabelled", new TextEncoder().encode("SQLite format 3\u0000rest"), "application/sql");
    expectError(res, 400, "BAD_REQUEST");
  });

  it("refuses other content types with 415", async () => {
    expectError(await put("t-json", '{"a":1}', "application/json"), 415, "UNSUPPORTED_MEDIA_TYPE");
  });

  it("refuses an empty body with 400", async () => {
    expectError(await put("t-empty", new Uint8Array(0), "application/sql"), 400, "BAD_REQUEST");
  });

  it("refuses a name outside [a-z0-9_-]{1,64} with 400", async () => {
    expectError(await put("Bad.Name", "CREATE TABLE t(x);", "application/sql"), 400, "BAD_REQUEST");
    expectError(await put("x".repeat(65), "CREATE TABLE t(x);", "application/sql"), 400, "BAD_REQUEST");
  });

  it("refuses a body over 64 MiB with 413", async () => {
    const res = await put("t-huge", new Uint8Array(64 * 1024 * 1024 + 1), "application/octet-stream");
    expectError(res, 413, "PAYLOAD_TOO_LARGE");
  });

  it("needs an API key", async () => {
    expectError(await put("t-nokey", "CREATE TABLE t(x);", "application/sql", null), 401, "UNAUTHORIZED");
    expectError(await call("GET", "/v1/fixtures", { key: null }), 401, "UNAUTHORIZED");
  });

  it("accepts a user's API key, not only the admin key", async () => {
    const { key } = await createApiKey("fixtures");
    expectStatus(await put("t-userkey", "CREATE TABLE t(x);", "application/sql", key), 201);
    expectStatus(await call("GET", "/v1/fixtures/t-userkey", { key }), 200);
  });

  it("answers 404 for an unknown fixture", async () => {
    expectError(await call("GET", "/v1/fixtures/t-unknown"), 404, "NOT_FOUND");
  });
});
