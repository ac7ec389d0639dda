import { describe, expect, it } from "vitest";
import { call, createApiKey } from "./helpers";

/** Bodies a careless or hostile client sends. */
const BODIES: [label: string, contentType: string, body: string][] = [
  ["broken JSON", "application/json", "{nope"],
  ["a JSON array", "application/json", "[1,2]"],
  ["JSON null", "application/json", "null"],
  ["an empty body", "application/json", ""],
  ["a JSON string", "application/json", '"x"'],
  ["arrays nested 5,000 deep", "application/json", `${"[".repeat(5000)}${"]".repeat(5000)}`],
  ["plain text", "text/plain", "hello"],
  [
    "fields of the wrong types",
    "application/json",
    JSON.stringify({ kind: 5, name: {}, samples: "x", grader: [], points: [{ step: "a" }], status: 7 }),
  ],
];
const QUERY = "?cursor=%25%25%25&limit=-5&split=bogus&fromStep=abc&metric=&mode=sideways&experiment=";

describe("malformed input on every documented route", () => {
  it("is answered with a 4xx and the error envelope, never a 5xx, with an API key and with the admin key", async () => {
    const doc = (await call("GET", "/openapi.json", { key: null })).json;
    const { key } = await createApiKey("malformed");
    const failures: string[] = [];
    let requests = 0;
    for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, unknown>>)) {
      const concrete = path.replace(/\{[^}]+\}/g, "no_such_id");
      for (const method of Object.keys(ops).map((m) => m.toUpperCase())) {
        const bodies = method === "GET" || method === "DELETE" ? [["no body", "", ""] as const] : BODIES;
        for (const auth of [key, undefined]) {
          for (const [label, contentType, body] of bodies) {
            const res = await call(method, `${concrete}${QUERY}`, {
              key: auth,
              raw: body || undefined,
              headers: contentType ? { "content-type": contentType } : {},
            });
            requests++;
            const envelope = res.json?.error && typeof res.json.error.code === "string" && res.json.error.requestId;
            if (res.status >= 500 || (res.status >= 400 && !envelope))
              failures.push(`${method} ${path} with ${label}: ${res.status} ${res.text.slice(0, 200)}`);
          }
        }
      }
    }
    expect(requests).toBeGreaterThan(200);
    expect(failures).toEqual([]);
  });
});
