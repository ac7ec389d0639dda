import { expect } from "vitest";
import { call, expectStatus } from "./helpers";

export type RoleName = "read" | "write" | "score" | "runner" | "admin";

let counter = 0;
/** A name no other test of this file used. */
export const unique = (base: string) => `${base}-${Date.now().toString(36)}-${++counter}`;

/** Creates a project with the admin secret. */
export async function createProject(name = unique("p")) {
  const res = await call("POST", "/v1/projects", { body: { name } });
  expectStatus(res, 201);
  expect(res.json).toEqual({ id: expect.stringMatching(/^prj_/), name, createdAt: expect.any(String) });
  return res.json as { id: string; name: string };
}

/** Creates a key in a project with the admin secret. */
export async function createKey(project: string, role: RoleName, extra: Record<string, unknown> = {}) {
  const res = await call("POST", "/v1/api-keys", { body: { name: `${role} key`, project, role, ...extra } });
  expectStatus(res, 201);
  return res.json as { id: string; key: string; project: string; role: RoleName };
}

export const jsonl = (rows: unknown[]) => rows.map((r) => JSON.stringify(r)).join("\n");

export const STRING_CHECK = {
  type: "string_check",
  name: "exact",
  input: "{{sample.output_text}}",
  reference: "{{item.answer}}",
  operation: "eq",
};

/** A project populated through the API with one of each resource, as `key` (a write key of it) sees it. */
export async function populate(key: string) {
  const as = { key };
  const exp = await call("POST", "/v1/experiments", { ...as, body: { name: unique("exp"), tags: ["iso"] } });
  expectStatus(exp, 201);
  const ds = await call("POST", "/v1/datasets?name=iso", {
    ...as,
    raw: jsonl(Array.from({ length: 20 }, (_, i) => ({ q: `q${i}`, answer: String(i) }))),
    headers: { "content-type": "application/x-ndjson" },
  });
  expectStatus(ds, 201);
  const run = await call("POST", `/v1/experiments/${exp.json.id}/runs`, {
    ...as,
    body: { kind: "eval", dataset: ds.json.id, name: "record" },
  });
  expectStatus(run, 201);
  expectStatus(
    await call("POST", `/v1/runs/${run.json.id}/metrics`, {
      ...as,
      body: { points: [{ name: "acc", step: 1, value: 0.5 }] },
    }),
    200,
  );
  const sweep = await call("POST", `/v1/experiments/${exp.json.id}/sweeps`, {
    ...as,
    body: {
      base: { baseModel: "tiny", dataset: ds.json.id, grader: STRING_CHECK, backend: "local", force: true },
      search: { method: "grid", parameters: { "hyperparams.learningRate": [1e-5, 2e-5] } },
    },
  });
  expectStatus(sweep, 201);
  const fixture = unique("fx").replaceAll(/[^a-z0-9_-]/g, "_");
  expectStatus(
    await call("PUT", `/v1/fixtures/${fixture}`, {
      ...as,
      raw: "create table t (x integer); insert into t values (1), (2);",
      headers: { "content-type": "application/sql" },
    }),
    201,
  );
  const schemaId = `https://schemas.example.com/${unique("s")}.json`;
  expectStatus(
    await call("PUT", "/v1/schemas", {
      ...as,
      body: { $id: schemaId, type: "object", required: ["city"], properties: { city: { type: "string" } } },
    }),
    201,
  );
  const cert = await call("POST", "/v1/graders/preflight", {
    ...as,
    body: {
      grader: STRING_CHECK,
      samples: Array.from({ length: 16 }, (_, i) => ({ completion: String(i % 2), item: { answer: "1" } })),
    },
  });
  expectStatus(cert, 200);
  expect(cert.json.verdict, JSON.stringify(cert.json.reasons)).toBe("pass");
  return {
    experiment: exp.json.id as string,
    dataset: ds.json.id as string,
    run: run.json.id as string,
    sweep: sweep.json.id as string,
    sweepRuns: (sweep.json.runs as { runId: string }[]).map((r) => r.runId),
    fixture,
    schemaId,
    certificate: cert.json.id as string,
  };
}
