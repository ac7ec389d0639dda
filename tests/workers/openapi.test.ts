import { describe, expect, it } from "vitest";
import { createApp } from "../../functions/app";
import { call, expectStatus } from "./helpers";

const UNDOCUMENTED = new Set(["/openapi.json", "/docs", "/assets/*"]);
/** The dashboard's HTML pages (GET /, /ui/...) are not API routes; POST /ui/login and /ui/logout are documented. */
const isPage = (method: string, path: string) => method === "GET" && (path === "/" || path.startsWith("/ui"));
const toOpenApiPath = (p: string) => p.replace(/:(\w+)/g, "{$1}");

describe("the API reference", () => {
  it("serves OpenAPI 3.1 without a key", async () => {
    const res = await call("GET", "/openapi.json", { key: null });
    expectStatus(res, 200);
    expect(res.json.openapi).toBe("3.1.0");
    expect(res.json.info.title).toBe("Assay API");
  });

  it("publishes a schema for each grader type's config and the container spec's fields, not a bare record", async () => {
    const { schemas } = (await call("GET", "/openapi.json", { key: null })).json.components;
    const types = schemas.GraderConfig.oneOf.map((s: { title: string }) => s.title);
    expect(types).toEqual([
      "reward",
      "json_schema",
      "string_check",
      "text_similarity",
      "multi",
      "sql_exec_match",
      "code_tests",
      "score_model",
      "label_model",
      "python",
    ]);
    for (const s of schemas.GraderConfig.oneOf) expect(s.properties?.type, s.title).toBeDefined();
    const stringCheck = schemas.GraderConfig.oneOf.find((s: { title: string }) => s.title === "string_check");
    expect(Object.keys(stringCheck.properties)).toEqual(
      expect.arrayContaining(["type", "input", "reference", "operation"]),
    );
    expect(Object.keys(schemas.ContainerSpec.properties).sort()).toEqual(
      [
        "baseModel",
        "dataset",
        "earlyStopping",
        "eval",
        "experimentId",
        "grader",
        "hyperparams",
        "kind",
        "limits",
        "runId",
        "warmStart",
      ].sort(),
    );
    expect(schemas.ContainerSpec.required).toEqual(expect.arrayContaining(["runId", "kind", "dataset", "limits"]));
  });

  it("documents every route the app serves, each with request and response schemas", async () => {
    const doc = (await call("GET", "/openapi.json", { key: null })).json;
    const served = createApp()
      .routes.filter((r) => r.method !== "ALL" && !UNDOCUMENTED.has(r.path) && !isPage(r.method, r.path))
      .map((r) => `${r.method.toLowerCase()} ${toOpenApiPath(r.path)}`);
    const documented = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([path, ops]) =>
      Object.keys(ops).map((m) => `${m} ${path}`),
    );
    expect(new Set(documented)).toEqual(new Set(served));
    for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, any>>)) {
      for (const [method, op] of Object.entries(ops)) {
        const where = `${method.toUpperCase()} ${path}`;
        expect(op.summary, `${where} has a summary`).toEqual(expect.any(String));
        const ok = Object.entries(op.responses).find(([s]) => s.startsWith("2"));
        expect(ok, `${where} documents a 2xx response`).toBeDefined();
        const okContent = (ok![1] as { content?: Record<string, { schema?: unknown }> }).content;
        expect(okContent && Object.values(okContent)[0]?.schema, `${where} has a response schema`).toBeDefined();
        if (["post", "put", "patch"].includes(method)) {
          const body = op.requestBody?.content;
          expect(
            body && Object.values(body as Record<string, { schema?: unknown }>)[0]?.schema,
            `${where} has a request schema`,
          ).toBeDefined();
        }
        if (path.startsWith("/v1/webhooks/")) {
          // Incoming webhooks carry a signature instead of a key.
          expect(op.security, `${where} declares its auth`).toEqual([{ standardWebhooks: [] }]);
          expect(op.responses["401"], `${where} documents 401`).toBeDefined();
        } else if (path.startsWith("/v1/")) {
          expect(op.security, `${where} declares its auth`).toEqual([{ bearer: [] }]);
          expect(op.responses["401"], `${where} documents 401`).toBeDefined();
        }
      }
    }
  });

  it("renders an interactive reference at /docs", async () => {
    const res = await call("GET", "/docs", { key: null });
    expectStatus(res, 200);
    expect(res.headers.get("content-type")).toContain("text/html");
    // Swagger UI comes from the Worker's own assets; the init script (a file: the CSP allows no inline
    // script) points it at /openapi.json. tests/workers/dashboard.test.ts checks the CSP and the assets.
    expect(res.text).toContain('<script src="/assets/swagger/swagger-ui-bundle.js">');
    expect(res.text).toContain('<script type="module" src="/assets/docs.js">');
  });
});
