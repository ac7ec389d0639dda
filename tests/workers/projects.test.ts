import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../../functions/app";
import { API_KEY_PATTERN, hasValidChecksum, newApiKey, requireAuth } from "../../functions/middleware/auth";
import { ADMIN_KEY, call, expectError, expectStatus } from "./helpers";
import { createKey, createProject, populate, STRING_CHECK, unique } from "./projects-helpers";

let A: Awaited<ReturnType<typeof populate>>;
let B: Awaited<ReturnType<typeof populate>>;
let pa: string;
let pb: string;
let writeA: string;
let writeB: string;

beforeAll(async () => {
  pa = (await createProject()).id;
  pb = (await createProject()).id;
  writeA = (await createKey(pa, "write")).key;
  writeB = (await createKey(pb, "write")).key;
  A = await populate(writeA);
  B = await populate(writeB);
});

const ids = (res: { json: any }) => (res.json.data as { id?: string; name?: string }[]).map((r) => r.id ?? r.name);

describe("projects", () => {
  it("are created by the admin secret only, with unique names", async () => {
    const name = unique("team");
    const res = await call("POST", "/v1/projects", { body: { name } });
    expectStatus(res, 201);
    expect(res.json).toEqual({ id: expect.stringMatching(/^prj_[0-9a-z]{26}$/), name, createdAt: expect.any(String) });
    expectError(await call("POST", "/v1/projects", { body: { name } }), 409, "CONFLICT");
    expectError(await call("POST", "/v1/projects", { body: { name: "has space" } }), 400, "BAD_REQUEST");
    const projectAdmin = await createKey(res.json.id, "admin");
    const refused = await call("POST", "/v1/projects", { key: projectAdmin.key, body: { name: unique("x") } });
    expectError(refused, 403, "FORBIDDEN");
    expect(refused.json.error.message).toBe(
      "POST /v1/projects needs the admin secret (ASSAY_ADMIN_KEY); this key's role is admin",
    );
  });

  it("are all listed for the admin secret, default included; a key sees only its own", async () => {
    const all = await call("GET", "/v1/projects?limit=500");
    expectStatus(all, 200);
    expect(all.json.data).toEqual(
      expect.arrayContaining([
        { id: "prj_default", name: "default", createdAt: new Date(0).toISOString() },
        expect.objectContaining({ id: pa }),
        expect.objectContaining({ id: pb }),
      ]),
    );
    const own = await call("GET", "/v1/projects", { key: writeA });
    expectStatus(own, 200);
    expect(own.json).toEqual({ data: [expect.objectContaining({ id: pa })], nextCursor: null });
  });
});

describe("isolation between projects", () => {
  it("shows nothing of one project in another's lists", async () => {
    const lists = ["/v1/experiments", "/v1/datasets", "/v1/runs", "/v1/fixtures", "/v1/schemas", "/v1/api-keys"];
    const adminA = (await createKey(pa, "admin")).key;
    const adminB = (await createKey(pb, "admin")).key;
    for (const path of lists) {
      const a = await call("GET", `${path}?limit=500`, { key: path === "/v1/api-keys" ? adminA : writeA });
      const b = await call("GET", `${path}?limit=500`, { key: path === "/v1/api-keys" ? adminB : writeB });
      expectStatus(a, 200);
      expectStatus(b, 200);
      expect(ids(a).length, path).toBeGreaterThan(0);
      expect(
        ids(a).filter((id) => ids(b).includes(id)),
        path,
      ).toEqual([]);
    }
    const aRuns = await call("GET", `/v1/runs?experiment=${A.experiment}`, { key: writeB });
    expect(aRuns.json).toEqual({ data: [], nextCursor: null });
    const schemas = await call("GET", "/v1/schemas?limit=500", { key: writeB });
    expect(schemas.json.data.map((s: { id: string }) => s.id)).toEqual([B.schemaId]);
  });

  it("answers another project's resources with 404, compare and sweep rankings included", async () => {
    for (const path of [
      `/v1/experiments/${A.experiment}`,
      `/v1/experiments/${A.experiment}/compare?metric=acc`,
      `/v1/sweeps/${A.sweep}`,
      `/v1/runs/${A.run}`,
      `/v1/runs/${A.run}/metrics`,
      `/v1/datasets/${A.dataset}`,
      `/v1/datasets/${A.dataset}/rows`,
      `/v1/datasets/${A.dataset}/recommendation`,
      `/v1/fixtures/${A.fixture}`,
      `/v1/schemas/${encodeURIComponent(A.schemaId)}`,
    ]) {
      const res = await call("GET", path, { key: writeB });
      expectError(res, 404, "NOT_FOUND");
      // A's metric name must not leak (as a JSON string: a random request id may end in "acc").
      expect(res.text).not.toContain('"acc"');
    }
    const own = await call("GET", `/v1/experiments/${A.experiment}/compare?metric=acc`, { key: writeA });
    expectStatus(own, 200);
    expect(own.json.runs.map((r: { runId: string }) => r.runId)).toContain(A.run);
    const ranking = await call("GET", `/v1/sweeps/${A.sweep}`, { key: writeA });
    expect(ranking.json.runs.map((r: { runId: string }) => r.runId).sort()).toEqual([...A.sweepRuns].sort());
  });

  it("refuses to change or build on another project's resources", async () => {
    const patch = await call("PATCH", `/v1/runs/${A.run}`, { key: writeB, body: { summary: { x: 1 } } });
    expectError(patch, 404, "NOT_FOUND");
    const metrics = await call("POST", `/v1/runs/${A.run}/metrics`, {
      key: writeB,
      body: { points: [{ name: "acc", step: 9, value: 1 }] },
    });
    expectError(metrics, 404, "NOT_FOUND");
    expectError(await call("POST", `/v1/runs/${A.run}/cancel`, { key: writeB, body: {} }), 404, "NOT_FOUND");
    const withDataset = await call("POST", `/v1/experiments/${B.experiment}/runs`, {
      key: writeB,
      body: { kind: "eval", dataset: A.dataset },
    });
    expectError(withDataset, 400, "BAD_REQUEST");
    expect(withDataset.json.error.issues).toEqual([{ path: ["dataset"], message: "unknown dataset" }]);
    const withParent = await call("POST", `/v1/experiments/${B.experiment}/runs`, {
      key: writeB,
      body: { kind: "eval", parentRunId: A.run },
    });
    expectError(withParent, 400, "BAD_REQUEST");
    const rft = await call("POST", `/v1/experiments/${B.experiment}/runs`, {
      key: writeB,
      body: { kind: "rft", baseModel: "tiny", dataset: A.dataset, grader: STRING_CHECK, backend: "local", force: true },
    });
    expectError(rft, 400, "BAD_REQUEST");
    const run = await call("GET", `/v1/runs/${A.run}`, { key: writeA });
    expect(run.json.summary).toBeNull();
  });

  it("does not let one project's pre-flight certificate clear another project's dispatch", async () => {
    const spec = { kind: "rft", baseModel: "tiny", grader: STRING_CHECK, backend: "local" };
    const inA = await call("POST", `/v1/experiments/${A.experiment}/runs`, {
      key: writeA,
      body: { ...spec, dataset: A.dataset },
    });
    expectStatus(inA, 201);
    // B certified the same grader too; a third project has no certificate and must be refused.
    const pc = (await createProject()).id;
    const writeC = (await createKey(pc, "write")).key;
    const exp = await call("POST", "/v1/experiments", { key: writeC, body: { name: "c" } });
    const ds = await call("POST", "/v1/datasets", {
      key: writeC,
      raw: '{"q":"1","answer":"1"}',
      headers: { "content-type": "application/x-ndjson" },
    });
    const inC = await call("POST", `/v1/experiments/${exp.json.id}/runs`, {
      key: writeC,
      body: { ...spec, dataset: ds.json.id },
    });
    expectError(inC, 409, "CONFLICT");
    expect(inC.json.error.reasons).toEqual([
      "no pre-flight certificate for this grader config: run POST /v1/graders/preflight first",
    ]);
  });

  it("resolves only the caller's own fixtures and schemas when scoring", async () => {
    const sql = {
      type: "sql_exec_match",
      name: "fx",
      database: A.fixture,
      reference: "SELECT count(*) FROM t",
    };
    const samples = [{ completion: "SELECT count(x) FROM t", item: {} }];
    const own = await call("POST", "/v1/graders/run", { key: writeA, body: { grader: sql, samples } });
    expectStatus(own, 200);
    expect(own.json.results).toEqual([
      { score: 1, valid: true, reason: "the result matches the reference (1 row, 1 column)" },
    ]);
    const other = await call("POST", "/v1/graders/run", { key: writeB, body: { grader: sql, samples } });
    expectStatus(other, 200);
    expect(other.json.results).toEqual([
      {
        score: 0,
        valid: false,
        reason: expect.any(String),
        error: { code: "FIXTURE_NOT_FOUND", message: `no SQL fixture named ${JSON.stringify(A.fixture)}` },
      },
    ]);
    const schema = { type: "json_schema", name: "s", schema: { $ref: A.schemaId } };
    const doc = [{ completion: '{"city":"Oslo"}', item: {} }];
    const ownSchema = await call("POST", "/v1/graders/run", { key: writeA, body: { grader: schema, samples: doc } });
    expect(ownSchema.json.results[0]).toMatchObject({ score: 1, valid: true });
    // Same config, other project: the grader built for A must not be reused, and A's schema is not found.
    const otherSchema = await call("POST", "/v1/graders/run", { key: writeB, body: { grader: schema, samples: doc } });
    expect(otherSchema.json.results[0]).toMatchObject({ score: 0, valid: false, error: { code: "INVALID_INPUT" } });
    expect(otherSchema.json.results[0].error.message).toContain(A.schemaId);
  });

  it("lets a runner claim only its own project's queued runs, and the run token act in that project", async () => {
    const pc = (await createProject()).id;
    const runnerC = (await createKey(pc, "runner")).key;
    expect((await call("POST", "/v1/runner/claim", { key: runnerC, body: {} })).json).toEqual({ run: null });
    const runnerA = (await createKey(pa, "runner")).key;
    const claim = await call("POST", "/v1/runner/claim", { key: runnerA, body: {} });
    expectStatus(claim, 200);
    const runId = claim.json.run.id as string;
    const spec = await call("GET", `/v1/runs/${runId}/spec`, { key: claim.json.token });
    expectStatus(spec, 200);
    expect(spec.json.dataset).toMatchObject({ id: A.dataset });
    const hb = await call("POST", `/v1/runs/${runId}/heartbeat`, { key: claim.json.token, body: {} });
    expect(hb.json).toEqual({ stop: false });
    expect((await call("GET", `/v1/runs/${runId}`, { key: writeA })).json.status).toBe("running");
    expectError(await call("GET", `/v1/runs/${runId}`, { key: writeB }), 404, "NOT_FOUND");
  });

  it("keeps Idempotency-Key replays apart for the admin secret acting in two projects", async () => {
    const headers = { "idempotency-key": unique("idem") };
    const inA = await call("POST", "/v1/experiments", {
      headers: { ...headers, "x-assay-project": pa },
      body: { name: "i" },
    });
    const inB = await call("POST", "/v1/experiments", {
      headers: { ...headers, "x-assay-project": pb },
      body: { name: "i" },
    });
    expectStatus(inA, 201);
    expectStatus(inB, 201);
    expect(inA.json.id).not.toBe(inB.json.id);
    const again = await call("POST", "/v1/experiments", {
      headers: { ...headers, "x-assay-project": pa },
      body: { name: "i" },
    });
    expect(again.json.id).toBe(inA.json.id);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expectStatus(await call("GET", `/v1/experiments/${inB.json.id}`, { key: writeB }), 200);
    expectError(await call("GET", `/v1/experiments/${inB.json.id}`, { key: writeA }), 404, "NOT_FOUND");
  });
});

describe("X-Assay-Project", () => {
  it("picks the admin secret's project; default without it; an unknown project is 404", async () => {
    const made = await call("POST", "/v1/experiments", { headers: { "x-assay-project": pa }, body: { name: "hdr" } });
    expectStatus(made, 201);
    expectStatus(await call("GET", `/v1/experiments/${made.json.id}`, { key: writeA }), 200);
    expectError(await call("GET", `/v1/experiments/${made.json.id}`), 404, "NOT_FOUND");
    const unknown = await call("GET", "/v1/experiments", { headers: { "x-assay-project": "prj_nope" } });
    expectError(unknown, 404, "NOT_FOUND");
    expect(unknown.json.error.message).toBe("project prj_nope not found");
  });

  it("is refused as 404 when a key names a project other than its own, and ignored when it names its own", async () => {
    expectError(
      await call("GET", "/v1/experiments", { key: writeA, headers: { "x-assay-project": pb } }),
      404,
      "NOT_FOUND",
    );
    expectStatus(await call("GET", "/v1/experiments", { key: writeA, headers: { "x-assay-project": pa } }), 200);
  });
});

describe("scoped API keys", () => {
  it("default to write in the default project", async () => {
    const res = await call("POST", "/v1/api-keys", { body: { name: "plain" } });
    expectStatus(res, 201);
    expect(res.json).toMatchObject({ project: "prj_default", role: "write", expiresAt: null, lastUsedAt: null });
    expect(res.json.key).toMatch(API_KEY_PATTERN);
  });

  it("answer a route outside their role with 403 naming the role that would do", async () => {
    const read = (await createKey(pa, "read")).key;
    const res = await call("POST", "/v1/experiments", { key: read, body: { name: "no" } });
    expectError(res, 403, "FORBIDDEN");
    expect(res.json.error).toMatchObject({
      message: "POST /v1/experiments needs a key with role write or admin; this key's role is read",
      required: { roles: ["write", "admin"], admin: false },
      role: "read",
    });
    const score = (await createKey(pa, "score")).key;
    const scored = await call("POST", "/v1/graders/run", {
      key: score,
      body: { grader: STRING_CHECK, samples: [{ completion: "1", item: { answer: "1" } }] },
    });
    expectStatus(scored, 200);
    const list = await call("GET", "/v1/experiments", { key: score });
    expectError(list, 403, "FORBIDDEN");
    expect(list.json.error.message).toBe(
      "GET /v1/experiments needs a key with role read, write or admin; this key's role is score",
    );
  });

  it("are made, listed and revoked by the project's admin, and only in its project", async () => {
    const admin = (await createKey(pa, "admin")).key;
    const made = await call("POST", "/v1/api-keys", { key: admin, body: { name: "ci", role: "read" } });
    expectStatus(made, 201);
    expect(made.json).toMatchObject({ project: pa, role: "read" });
    expectError(await call("POST", "/v1/api-keys", { key: admin, body: { name: "x", project: pb } }), 404, "NOT_FOUND");
    expectError(await call("POST", "/v1/api-keys", { body: { name: "x", project: "prj_unknown" } }), 404, "NOT_FOUND");
    const listed = await call("GET", "/v1/api-keys?limit=500", { key: admin });
    expect(listed.json.data.every((k: { project: string }) => k.project === pa)).toBe(true);
    expect(JSON.stringify(listed.json)).not.toContain(made.json.key);
    const bKey = await createKey(pb, "read");
    expectError(await call("DELETE", `/v1/api-keys/${bKey.id}`, { key: admin }), 404, "NOT_FOUND");
    expectStatus(await call("GET", "/v1/experiments", { key: bKey.key }), 200);
    const revoked = await call("DELETE", `/v1/api-keys/${made.json.id}`, { key: admin });
    expectStatus(revoked, 200);
    const after = await call("GET", "/v1/experiments", { key: made.json.key });
    expectError(after, 401, "UNAUTHORIZED");
    expect(after.json.error.message).toBe("this API key has been revoked");
    const writeKey = await call("GET", "/v1/api-keys", { key: writeA });
    expectError(writeKey, 403, "FORBIDDEN");
    expect(writeKey.json.error.message).toContain("needs a key with role admin");
  });

  it("stop working at expiresAt, and refuse an expiry in the past", async () => {
    const past = await call("POST", "/v1/api-keys", {
      body: { name: "old", project: pa, expiresAt: "2020-01-01T00:00:00Z" },
    });
    expectError(past, 400, "BAD_REQUEST");
    expect(past.json.error.issues).toEqual([{ path: ["expiresAt"], message: "must be in the future" }]);
    const soon = new Date(Date.now() + 3_600_000).toISOString();
    const made = await createKey(pa, "read", { expiresAt: soon });
    expect(made).toMatchObject({ expiresAt: soon });
    expectStatus(await call("GET", "/v1/experiments", { key: made.key }), 200);
    // Time cannot be moved inside workerd: the stored expiry is moved instead.
    await env.DB.prepare("update api_keys set expires_at = ? where id = ?")
      .bind(Date.now() - 1000, made.id)
      .run();
    const res = await call("GET", "/v1/experiments", { key: made.key });
    expectError(res, 401, "UNAUTHORIZED");
    expect(res.json.error.message).toMatch(/^this API key expired at \d{4}-/);
  });

  it("record lastUsedAt at most once a minute", async () => {
    const made = await createKey(pa, "read");
    const lastUsed = async () =>
      (
        await env.DB.prepare("select last_used_at as t from api_keys where id = ?")
          .bind(made.id)
          .first<{ t: number | null }>()
      )?.t;
    expect(await lastUsed()).toBeNull();
    await call("GET", "/v1/experiments", { key: made.key });
    const first = await lastUsed();
    expect(first).toEqual(expect.any(Number));
    await call("GET", "/v1/experiments", { key: made.key });
    expect(await lastUsed()).toBe(first);
    await env.DB.prepare("update api_keys set last_used_at = ? where id = ?")
      .bind(first! - 61_000, made.id)
      .run();
    await call("GET", "/v1/experiments", { key: made.key });
    expect(await lastUsed()).toBeGreaterThanOrEqual(first!);
    const admin = (await createKey(pa, "admin")).key;
    const listed = await call("GET", "/v1/api-keys?limit=500", { key: admin });
    const row = listed.json.data.find((k: { id: string }) => k.id === made.id);
    expect(row.lastUsedAt).toBe(new Date((await lastUsed())!).toISOString());
  });

  it("carry a checksum: a mistyped key is refused without a lookup, a valid one passes the check", async () => {
    const key = newApiKey();
    expect(key).toMatch(API_KEY_PATTERN);
    expect(hasValidChecksum(key)).toBe(true);
    const last = key.at(-1) === "0" ? "1" : "0";
    const typo = key.slice(0, -1) + last;
    expect(hasValidChecksum(typo)).toBe(false);
    const res = await call("GET", "/v1/experiments", { key: typo });
    expectError(res, 401, "UNAUTHORIZED");
    expect(res.json.error.message).toContain("checksum");
    expectError(await call("GET", "/v1/experiments", { key }), 401, "UNAUTHORIZED");
  });
});

describe("the route-permission table", () => {
  it("refuses a route missing from it to every key but the admin secret (fail closed)", async () => {
    const app = createApp();
    app.get("/v1/unclassified", requireAuth(), (c) => c.json({ ok: true }));
    const send = (key: string) => app.request("/v1/unclassified", { headers: { authorization: `Bearer ${key}` } }, env);
    const keyed = await send(writeA);
    expect(keyed.status).toBe(403);
    expect(((await keyed.json()) as any).error.message).toBe(
      "GET /v1/unclassified has no entry in ROUTE_PERMISSIONS (functions/middleware/permissions.ts); only the admin secret may call it",
    );
    const root = await send(ADMIN_KEY);
    expect(root.status).toBe(200);
  });
});
