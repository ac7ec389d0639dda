import { beforeAll, describe, expect, it } from "vitest";
import { GRANTS, type Permission, ROUTE_PERMISSIONS, routeKey } from "../../functions/middleware/permissions";
import { call } from "./helpers";
import { createKey, createProject, populate, type RoleName, STRING_CHECK, unique } from "./projects-helpers";

/**
 * Every documented route × every kind of caller. The expected status of each cell is derived from the
 * route's entry in ROUTE_PERMISSIONS, so a new route fails this file until it has one.
 */

type Caller =
  | { name: "no key" }
  | { name: `A ${RoleName}`; role: RoleName }
  | { name: "A run token" }
  | { name: "A admin secret" }
  | { name: "B write" }
  | { name: "default admin secret" };

const CALLERS: Caller[] = [
  { name: "no key" },
  ...(["read", "write", "score", "runner", "admin"] as const).map((role) => ({ name: `A ${role}` as const, role })),
  { name: "A run token" },
  { name: "A admin secret" },
  { name: "B write" },
  { name: "default admin secret" },
];

interface Req {
  query?: string;
  body?: () => unknown;
  raw?: string;
  contentType?: string;
  /** The status a permitted caller gets, when not the route's documented 2xx. */
  ok?: number;
}

let A: Awaited<ReturnType<typeof populate>>;
let projectA: string;
let keys: Record<string, string>;
let spareKeyId: string;
let tokenRun: string;
let runToken: string;

/** A valid request per route, so that permitted callers reach the handler and get its 2xx. */
const REQUESTS: Record<string, Req> = {
  "POST /v1/projects": { body: () => ({ name: unique("m") }) },
  "POST /v1/api-keys": { body: () => ({ name: "matrix" }) },
  "DELETE /v1/api-keys/:id": {},
  "POST /v1/datasets": { raw: '{"q":"x","answer":"1"}\n', contentType: "application/x-ndjson" },
  "POST /v1/experiments": { body: () => ({ name: "matrix" }) },
  "GET /v1/experiments/:id/compare": { query: "?metric=acc" },
  "POST /v1/experiments/:id/runs": { body: () => ({ kind: "eval", name: "matrix" }) },
  "PATCH /v1/runs/:id": { body: () => ({ artifacts: [{ kind: "log", uri: "r2://x/log.txt" }] }) },
  "POST /v1/runs/:id/cancel": { body: () => ({ reason: "matrix" }) },
  "POST /v1/runs/:id/metrics": { body: () => ({ points: [{ name: "m", step: 0, value: 1 }] }) },
  "GET /v1/runs/:id/metrics": { query: "?name=acc" },
  "POST /v1/rewards/:name/score": { body: () => ({ samples: [{ completion: "<answer>4</answer>", item: {} }] }) },
  "POST /v1/graders/run": {
    body: () => ({ grader: STRING_CHECK, samples: [{ completion: "1", item: { answer: "1" } }] }),
  },
  "POST /v1/graders/validate": { body: () => ({ grader: STRING_CHECK }) },
  "POST /v1/graders/preflight": {
    body: () => ({ grader: STRING_CHECK, samples: [{ completion: "1", item: { answer: "1" } }] }),
  },
  "POST /v1/runner/claim": { body: () => ({ runner: "matrix" }) },
  "POST /v1/runs/:id/rewards": {
    body: () => ({ step: 0, samples: [{ completion: "1", item: { answer: "1" } }], batchKey: unique("b") }),
  },
  "POST /v1/runs/:id/heartbeat": { body: () => ({ step: 0 }) },
  "PUT /v1/runs/:id/artifacts/:name": { raw: "adapter bytes", contentType: "application/octet-stream" },
  // A valid body would end the run and its token with it: the run-token cells need it alive.
  "POST /v1/runs/:id/complete": { body: () => ({ status: "bogus" }), ok: 400 },
  // The token's run starts from no adapter: its own token gets past the guard to a 404.
  "GET /v1/runs/:id/base-adapter": { ok: 404 },
  // A's experiment names no drift reference and has no champion: past the guard, a 409 says so.
  "GET /v1/experiments/:id/drift": { ok: 409 },
  // A's run has no grader, so no certificate: past the guard, a 404 says so.
  "GET /v1/runs/:id/certificate": { ok: 404 },
  // Logout clears the cookie and sends the browser back to the login page, whoever calls it.
  "POST /ui/logout": { ok: 303 },
  "POST /v1/experiments/:id/sweeps": {
    body: () => ({
      base: { baseModel: "tiny", dataset: A.dataset, grader: STRING_CHECK, backend: "local", force: true },
      search: { method: "grid", parameters: { "hyperparams.learningRate": [1e-5] } },
    }),
  },
  "PUT /v1/schemas": {
    body: () => ({ $id: `https://schemas.example.com/${unique("m")}.json`, type: "string" }),
  },
  "PUT /v1/fixtures/:name": {
    raw: "create table m (x integer);",
    contentType: "application/sql",
  },
};

/** The concrete path for a route, naming project A's resources. */
function concrete(route: string): { path: string; namesResource: boolean } {
  const [, path] = route.split(" ") as [string, string];
  // A PUT by name creates the caller's own fixture (201, then 200 replacing it): a name of its own keeps
  // A's fixture out of the other projects' answers.
  if (route === "PUT /v1/fixtures/:name") return { path: "/v1/fixtures/matrix_put", namesResource: false };
  const container = /^\/v1\/runs\/:id\/(spec|dataset|rewards|heartbeat|artifacts|complete|metrics|base-adapter)/.test(
    path,
  );
  const ids: [RegExp, string][] = [
    [/^\/v1\/api-keys\/:id/, spareKeyId],
    [/^\/v1\/datasets\/:id/, A.dataset],
    [/^\/v1\/experiments\/:id/, A.experiment],
    [/^\/v1\/runs\/:id/, container ? tokenRun : A.run],
    [/^\/v1\/sweeps\/:id/, A.sweep],
    [/^\/v1\/schemas\/:id/, encodeURIComponent(A.schemaId)],
    [/^\/v1\/fixtures\/:name/, A.fixture],
    [/^\/v1\/rewards\/:name/, "format-answer"],
  ];
  let out = path;
  let namesResource = false;
  for (const [re, id] of ids) {
    if (re.test(out)) {
      out = out.replace(/:(id|name)/, id);
      namesResource = !route.startsWith("POST /v1/rewards/");
      break;
    }
  }
  out = out.replace(":name", "adapter.bin");
  if (/:\w+/.test(out)) out = out.replace(/:\w+/g, "no_such_id");
  return { path: out, namesResource };
}

type Expect = { status: number | number[]; why: string };

/** Any answer past the guard: what a permitted caller of a route without a REQUESTS entry may get. */
const PAST_THE_GUARD = [200, 201, 202, 204, 400, 404, 409, 413, 415];

/**
 * Whether the matrix can only check the guard on this route: it has no REQUESTS entry and either changes
 * something (so the test cannot build a valid body) or names a resource the test does not create. Add a
 * REQUESTS entry (and, for a new resource, a line in `concrete`) to check it exactly.
 */
function lenient(route: string, path: string) {
  return !REQUESTS[route] && (!route.startsWith("GET ") || path.includes("no_such_id"));
}

/** The expected answer for one cell, from the route's permission alone. */
function expected(
  perm: Permission,
  caller: Caller,
  route: string,
  success: number[],
  namesResource: boolean,
  loose: boolean,
): Expect {
  const req = REQUESTS[route];
  const okStatuses = req?.ok ? [req.ok] : loose ? PAST_THE_GUARD : success;
  const pass = (why: string): Expect => ({ status: okStatuses, why });
  // Without a valid example body, another project's caller may be refused by validation before the lookup
  // that would answer 404: either way it learns nothing of A's resource.
  const other = (why: string): Expect =>
    namesResource ? { status: loose ? [400, 404] : 404, why: `${why}; A's resource is invisible` } : pass(why);
  if (perm === "public") return pass("public route");
  // The matrix sends no webhook signature: every caller is refused, whatever key it holds.
  if (perm === "signed") return { status: 401, why: "needs the route's own signature, not a key" };
  if (caller.name === "no key") return { status: 401, why: "no credentials" };
  if (caller.name === "A run token")
    return perm === "run" || perm === "write|run"
      ? pass("the run's own token")
      : { status: 403, why: "run tokens only on their run" };
  if (perm === "run") return { status: 403, why: "only the run's token" };
  if (caller.name === "A admin secret") return pass("admin secret acting in A");
  if (caller.name === "default admin secret") return other("admin secret acting in default");
  if (caller.name === "B write")
    return GRANTS[perm].includes("write") ? other("B's write key") : { status: 403, why: `write is not ${perm}` };
  const role = (caller as { role: RoleName }).role;
  return GRANTS[perm].includes(role) ? pass(`${role} may ${perm}`) : { status: 403, why: `${role} may not ${perm}` };
}

/** The bearer token to send (undefined: the admin secret) and any headers. */
function credentials(caller: Caller): { key: string | null | undefined; headers: Record<string, string> } {
  if (caller.name === "no key") return { key: null, headers: {} };
  if (caller.name === "A run token") return { key: runToken, headers: {} };
  if (caller.name === "A admin secret") return { key: undefined, headers: { "x-assay-project": projectA } };
  if (caller.name === "default admin secret") return { key: undefined, headers: {} };
  return { key: keys[caller.name]!, headers: {} };
}

beforeAll(async () => {
  projectA = (await createProject()).id;
  const projectB = (await createProject()).id;
  keys = {};
  for (const role of ["read", "write", "score", "runner", "admin"] as const) {
    keys[`A ${role}`] = (await createKey(projectA, role)).key;
  }
  keys["B write"] = (await createKey(projectB, "write")).key;
  spareKeyId = (await createKey(projectA, "read")).id;
  A = await populate(keys["A write"]!);
  const claim = await call("POST", "/v1/runner/claim", { key: keys["A runner"]!, body: {} });
  expect(claim.status, claim.text).toBe(200);
  expect(A.sweepRuns).toContain(claim.json.run.id);
  tokenRun = claim.json.run.id;
  runToken = claim.json.token;
});

describe("the route-permission matrix", () => {
  it("classifies every documented route, and nothing else", async () => {
    const doc = (await call("GET", "/openapi.json", { key: null })).json;
    const documented = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([p, ops]) =>
      Object.keys(ops).map((m) => routeKey(m, p.replace(/\{(\w+)\}/g, ":$1"))),
    );
    const unclassified = documented.filter((r) => !(r in ROUTE_PERMISSIONS));
    expect(unclassified, "add these routes to ROUTE_PERMISSIONS in functions/middleware/permissions.ts").toEqual([]);
    expect(Object.keys(ROUTE_PERMISSIONS).filter((r) => !documented.includes(r))).toEqual([]);
    const declared = Object.entries(doc.paths as Record<string, Record<string, any>>).flatMap(([p, ops]) =>
      Object.entries(ops).map(([m, op]) => [routeKey(m, p.replace(/\{(\w+)\}/g, ":$1")), op["x-assay-permission"]]),
    );
    for (const [route, perm] of declared) {
      expect(perm, `${route} documents its permission`).toBe(
        ["public", "signed"].includes(ROUTE_PERMISSIONS[route!]!) ? undefined : ROUTE_PERMISSIONS[route!],
      );
    }
    expect(doc.paths["/v1/experiments"].post.description).toBe(
      "Needs a key with role write or admin (or the admin secret).",
    );
    expect(doc.paths["/v1/experiments"].post.responses["403"]).toBeDefined();
  });

  it("answers every route × caller cell as its permission says, and never shows A's ids to another project", async () => {
    const doc = (await call("GET", "/openapi.json", { key: null })).json;
    const routes = Object.entries(doc.paths as Record<string, Record<string, any>>).flatMap(([p, ops]) =>
      Object.entries(ops).map(([m, op]) => ({
        route: routeKey(m, p.replace(/\{(\w+)\}/g, ":$1")),
        success: Object.keys(op.responses)
          .filter((s) => s.startsWith("2"))
          .map(Number),
      })),
    );
    const aIds = () => [
      A.experiment,
      A.dataset,
      A.run,
      A.sweep,
      A.fixture,
      A.schemaId,
      A.certificate,
      tokenRun,
      spareKeyId,
    ];
    const failures: string[] = [];
    const counts = { cells: 0, allowed: 0, unauthorized: 0, forbidden: 0, notFound: 0 };
    const guardOnly: string[] = [];
    for (const { route, success } of routes) {
      const perm = ROUTE_PERMISSIONS[route];
      if (!perm) continue; // reported by the test above
      const { path, namesResource } = concrete(route);
      const loose = lenient(route, path);
      if (loose) guardOnly.push(route);
      const req = REQUESTS[route] ?? {};
      const method = route.split(" ")[0]!;
      for (const caller of CALLERS) {
        const want = expected(perm, caller, route, success, namesResource, loose);
        const { key, headers } = credentials(caller);
        const body = req.body?.();
        const res = await call(method, `${path}${req.query ?? ""}`, {
          key,
          headers: { ...headers, ...(req.contentType ? { "content-type": req.contentType } : {}) },
          ...(req.raw !== undefined ? { raw: req.raw } : body !== undefined ? { body } : {}),
        });
        counts.cells++;
        const allowed = Array.isArray(want.status) ? want.status : [want.status];
        if (!allowed.includes(res.status)) {
          failures.push(
            `${route} as ${caller.name}: want ${allowed.join("|")} (${want.why}), got ${res.status} ${res.text.slice(0, 300)}`,
          );
          continue;
        }
        if (res.status === 401) counts.unauthorized++;
        else if (res.status === 403) {
          counts.forbidden++;
          if (!/needs|accepted only|takes the run's own token/.test(res.json?.error?.message ?? ""))
            failures.push(`${route} as ${caller.name}: a 403 must say what is needed: ${res.text.slice(0, 300)}`);
        } else if (res.status === 404) counts.notFound++;
        else counts.allowed++;
        const outsider = caller.name === "B write" || caller.name === "default admin secret";
        if (outsider && res.status < 300 && aIds().some((id) => res.text.includes(id)))
          failures.push(`${route} as ${caller.name}: shows one of A's ids: ${res.text.slice(0, 300)}`);
      }
    }
    console.log(
      `route-permission matrix: ${routes.length} routes × ${CALLERS.length} callers = ${counts.cells} cells`,
      counts,
    );
    if (guardOnly.length) console.log("routes checked at the guard only (no REQUESTS entry):", guardOnly);
    expect(failures).toEqual([]);
    expect(counts.cells).toBe(routes.length * CALLERS.length);
  });
});
