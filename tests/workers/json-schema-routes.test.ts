import { describe, expect, it } from "vitest";
import { call, createApiKey, expectError, expectStatus } from "./helpers";

const address = (id: string) => ({
  $id: id,
  $schema: "https://json-schema.org/draft/2020-12/schema",
  type: "object",
  required: ["city"],
  properties: { city: { type: "string" } },
});
const enc = encodeURIComponent;

describe("PUT /v1/schemas", () => {
  it("registers a schema, then answers 200 with the same record for the same content", async () => {
    const { key } = await createApiKey();
    const id = "https://schemas.test/routes/address.json";
    const first = await call("PUT", "/v1/schemas", { key, body: address(id) });
    expectStatus(first, 201);
    expect(first.json).toEqual({
      id,
      sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
      draft: "2020-12",
      size: JSON.stringify(address(id)).length,
      createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
    // Same content, keys in another order: unchanged.
    const reordered = Object.fromEntries(Object.entries(address(id)).reverse());
    const again = await call("PUT", "/v1/schemas", { key, body: reordered });
    expectStatus(again, 200);
    expect(again.json).toEqual(first.json);
  });

  it("answers 409 when a different schema is registered under the same $id", async () => {
    const id = "https://schemas.test/routes/conflict.json";
    const first = await call("PUT", "/v1/schemas", { body: address(id) });
    expectStatus(first, 201);
    const res = await call("PUT", "/v1/schemas", { body: { ...address(id), required: [] } });
    expectError(res, 409, "CONFLICT");
    expect(res.json.error.registered).toEqual({ sha256: first.json.sha256, createdAt: first.json.createdAt });
    const stored = await call("GET", `/v1/schemas/${enc(id)}`);
    expect(stored.json.schema).toEqual(address(id));
  });

  it("refuses a schema without an absolute $id", async () => {
    const res = await call("PUT", "/v1/schemas", { body: { type: "object" } });
    expectError(res, 400, "BAD_REQUEST");
    expect(res.json.error.issues).toEqual([{ path: ["$id"], message: "the schema needs a string $id" }]);
    const rel = await call("PUT", "/v1/schemas", { body: { $id: "address.json" } });
    expectError(rel, 400, "BAD_REQUEST");
    expect(rel.json.error.message).toBe('$id "address.json" is not an absolute URI');
  });

  it("refuses a broken schema, naming the bad keyword", async () => {
    const res = await call("PUT", "/v1/schemas", {
      body: { $id: "https://schemas.test/routes/broken.json", properties: { n: { minLength: -1 } } },
    });
    expectError(res, 400, "BAD_REQUEST");
    expect(res.json.error.issues).toEqual([
      { path: ["properties", "n", "minLength"], message: "minLength must be a non-negative integer" },
    ]);
  });

  it("refuses a $ref to a schema that is not registered, and accepts it once it is", async () => {
    const person = {
      $id: "https://schemas.test/routes/person.json",
      properties: { home: { $ref: "https://schemas.test/routes/home.json" } },
    };
    const res = await call("PUT", "/v1/schemas", { body: person });
    expectError(res, 400, "BAD_REQUEST");
    expect(res.json.error.issues[0].message).toContain("$ref to https://schemas.test/routes/home.json");
    expectStatus(await call("PUT", "/v1/schemas", { body: address("https://schemas.test/routes/home.json") }), 201);
    expectStatus(await call("PUT", "/v1/schemas", { body: person }), 201);
  });

  it("needs a key", async () => {
    expectError(
      await call("PUT", "/v1/schemas", { key: null, body: address("https://x.test/a") }),
      401,
      "UNAUTHORIZED",
    );
    expectError(await call("GET", "/v1/schemas", { key: "ak_nope" }), 401, "UNAUTHORIZED");
    expectError(await call("GET", `/v1/schemas/${enc("https://x.test/a")}`, { key: null }), 401, "UNAUTHORIZED");
  });
});

describe("GET /v1/schemas", () => {
  it("lists registered schemas and pages through them", async () => {
    const ids = [
      "https://schemas.test/list/a.json",
      "https://schemas.test/list/b.json",
      "https://schemas.test/list/c.json",
    ];
    for (const id of ids) expectStatus(await call("PUT", "/v1/schemas", { body: address(id) }), 201);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res = await call("GET", `/v1/schemas?limit=2${cursor ? `&cursor=${enc(cursor)}` : ""}`);
      expectStatus(res, 200);
      expect(res.json.data.length).toBeLessThanOrEqual(2);
      seen.push(...res.json.data.map((s: { id: string }) => s.id));
      cursor = res.json.nextCursor;
    } while (cursor);
    expect(seen.filter((id) => id.startsWith("https://schemas.test/list/")).sort()).toEqual(ids);
  });

  it("returns one schema by its URL-encoded $id, and 404 for an unknown one", async () => {
    const id = "urn:uuid:6f1c2b7e-0000-4000-8000-000000000001";
    const put = await call("PUT", "/v1/schemas", { body: address(id) });
    expectStatus(put, 201);
    const res = await call("GET", `/v1/schemas/${enc(id)}`);
    expectStatus(res, 200);
    expect(res.json).toEqual({ ...put.json, schema: address(id) });
    expectError(await call("GET", `/v1/schemas/${enc("https://schemas.test/none.json")}`), 404, "NOT_FOUND");
    expectError(await call("GET", "/v1/schemas/relative.json"), 400, "BAD_REQUEST");
  });

  it("is described in the OpenAPI document", async () => {
    const res = await call("GET", "/openapi.json", { key: null });
    expect(Object.keys(res.json.paths)).toEqual(expect.arrayContaining(["/v1/schemas", "/v1/schemas/{id}"]));
    expect(res.json.components.schemas.RegisteredSchema).toBeDefined();
  });
});
