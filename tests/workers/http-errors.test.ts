import { describe, expect, it } from "vitest";
import { call, expectError } from "./helpers";

describe("errors hono raises itself leave through the envelope with their own status and code", () => {
  it("answers a wrong method on a known path with 405, the envelope and an Allow header listing the path's methods", async () => {
    const res = await call("DELETE", "/v1/experiments");
    expectError(res, 405, "METHOD_NOT_ALLOWED");
    expect(res.json.error.message).toBe("DELETE is not allowed on /v1/experiments");
    expect(res.headers.get("allow")).toBe("GET, HEAD, POST");
  });

  it("matches path parameters when it looks for the methods a path has", async () => {
    const res = await call("PUT", "/v1/runs/run_doesnotexist");
    expectError(res, 405, "METHOD_NOT_ALLOWED");
    expect(res.headers.get("allow")).toBe("GET, HEAD, PATCH");
  });

  it("still answers 404 for a path no route has, whatever the method", async () => {
    for (const method of ["GET", "POST", "DELETE"]) {
      const res = await call(method, "/v1/no-such-resource");
      expectError(res, 404, "NOT_FOUND");
      expect(res.headers.get("allow")).toBeNull();
    }
  });

  it("answers a non-JSON content type on a JSON route with 415 and the envelope, not a 400", async () => {
    for (const contentType of ["text/plain", "application/x-www-form-urlencoded", "application/xml"]) {
      const res = await call("POST", "/v1/experiments", {
        raw: '{"name":"x"}',
        headers: { "content-type": contentType },
      });
      expectError(res, 415, "UNSUPPORTED_MEDIA_TYPE");
    }
  });

  it("still accepts the same body as JSON, with a charset parameter", async () => {
    const res = await call("POST", "/v1/experiments", {
      raw: '{"name":"http-errors"}',
      headers: { "content-type": "application/json; charset=utf-8" },
    });
    expect(res.status, res.text).toBe(201);
    expect(res.json).toMatchObject({ name: "http-errors" });
  });

  it("documents the 405 code in the error envelope's schema", async () => {
    const doc = (await call("GET", "/openapi.json", { key: null })).json;
    expect(doc.components.schemas.Error.properties.error.properties.code.enum).toEqual(
      expect.arrayContaining(["METHOD_NOT_ALLOWED", "UNSUPPORTED_MEDIA_TYPE"]),
    );
  });
});
