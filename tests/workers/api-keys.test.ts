import { describe, expect, it } from "vitest";
import { call, createApiKey, expectError, expectStatus } from "./helpers";

describe("GET /healthz", () => {
  it("answers ok without a key and carries a request id", async () => {
    const res = await call("GET", "/healthz", { key: null });
    expectStatus(res, 200);
    expect(res.json).toEqual({ ok: true });
    expect(res.headers.get("x-request-id")).toMatch(/^req_/);
  });
});

describe("API keys", () => {
  it("creates a key that is shown once and then authenticates", async () => {
    const created = await createApiKey("ci");
    expect(created).toEqual({
      id: expect.stringMatching(/^key_/),
      name: "ci",
      prefix: created.key.slice(0, 10),
      project: "prj_default",
      role: "write",
      key: expect.stringMatching(/^ak_[\w-]{43}[0-9a-f]{8}$/),
      createdAt: expect.any(String),
      expiresAt: null,
      lastUsedAt: null,
      revokedAt: null,
    });
    const list = await call("GET", "/v1/api-keys");
    expectStatus(list, 200);
    const listed = list.json.data.find((k: { id: string }) => k.id === created.id);
    expect(listed).toEqual({
      id: created.id,
      name: "ci",
      prefix: created.prefix,
      project: "prj_default",
      role: "write",
      createdAt: created.createdAt,
      expiresAt: null,
      lastUsedAt: null,
      revokedAt: null,
    });
    expect(JSON.stringify(list.json)).not.toContain(created.key);
    const ok = await call("GET", "/v1/experiments", { key: created.key });
    expectStatus(ok, 200);
  });

  it("refuses a missing key, a wrong key and a revoked key", async () => {
    expectError(await call("GET", "/v1/experiments", { key: null }), 401, "UNAUTHORIZED");
    expectError(await call("GET", "/v1/experiments", { key: "ak_not-a-real-key" }), 401, "UNAUTHORIZED");
    expectError(await call("GET", "/v1/experiments", { key: "wrong-admin-key" }), 401, "UNAUTHORIZED");
    const created = await createApiKey("to-revoke");
    const revoked = await call("DELETE", `/v1/api-keys/${created.id}`);
    expectStatus(revoked, 200);
    expect(revoked.json.revokedAt).toEqual(expect.any(String));
    const res = await call("GET", "/v1/experiments", { key: created.key });
    expectError(res, 401, "UNAUTHORIZED");
    expect(res.json.error.message).toContain("revoked");
  });

  it("revoking twice keeps the first revocation time", async () => {
    const created = await createApiKey("twice");
    const first = await call("DELETE", `/v1/api-keys/${created.id}`);
    const second = await call("DELETE", `/v1/api-keys/${created.id}`);
    expectStatus(second, 200);
    expect(second.json.revokedAt).toBe(first.json.revokedAt);
  });

  it("lets only the admin manage keys", async () => {
    const created = await createApiKey("not-admin");
    expectError(await call("POST", "/v1/api-keys", { key: created.key, body: { name: "x" } }), 403, "FORBIDDEN");
    expectError(await call("GET", "/v1/api-keys", { key: created.key }), 403, "FORBIDDEN");
  });

  it("validates the body and answers unknown keys with 404", async () => {
    const bad = await call("POST", "/v1/api-keys", { body: { name: "" } });
    expectError(bad, 400, "BAD_REQUEST");
    expect(bad.json.error.issues[0].path).toEqual(["name"]);
    expectError(
      await call("POST", "/v1/api-keys", { raw: "{not json", headers: { "content-type": "application/json" } }),
      400,
      "BAD_REQUEST",
    );
    expectError(await call("DELETE", "/v1/api-keys/key_missing"), 404, "NOT_FOUND");
  });

  it("answers unknown routes with the error envelope", async () => {
    expectError(await call("GET", "/v1/nope"), 404, "NOT_FOUND");
  });
});
