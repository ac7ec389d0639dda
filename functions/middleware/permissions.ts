import type { ApiKeyRole } from "../../db/schema";

/** The roles a key can have, in the order the docs list them. */
export const ROLES = ["read", "write", "score", "runner", "admin"] as const satisfies readonly ApiKeyRole[];
export type Role = (typeof ROLES)[number];

/**
 * What a route needs from its caller:
 * - `public`: nothing (no bearer token is read)
 * - `read`: a GET of the project's resources
 * - `write`: a change to the project's resources
 * - `score`: scoring without touching stored resources (rewards, graders)
 * - `runner`: the local runner's claim
 * - `keys`: the project's API keys
 * - `root`: the admin secret (ASSAY_ADMIN_KEY) only
 * - `run`: only the token of the run named by the `:id` path parameter
 * - `write|run`: a key with `write`, or the run's own token
 */
/**
 * `signed`: no key at all; the route verifies a signature of its own (the feedback webhook's Standard
 * Webhooks signature), so a key neither helps nor hurts and a request without the signature is 401.
 */
export type Permission =
  | "public"
  | "signed"
  | "read"
  | "write"
  | "score"
  | "runner"
  | "keys"
  | "root"
  | "run"
  | "write|run";

/**
 * Which key roles each permission admits. The admin secret passes everything but `run`; run tokens pass
 * only `run` and `write|run` (on their own run). `write` is everything in the project but its keys, and
 * `admin` is the project's keys plus write.
 */
export const GRANTS: Record<Permission, readonly Role[]> = {
  public: ROLES,
  signed: ROLES,
  read: ["read", "write", "admin"],
  write: ["write", "admin"],
  score: ["score", "write", "admin"],
  runner: ["runner", "write", "admin"],
  keys: ["admin"],
  root: [],
  run: [],
  "write|run": ["write", "admin"],
};

/**
 * THE route-permission table: every documented route, as `METHOD /path` with hono's `:param` syntax
 * (the path the route was registered with), and what it needs. `requireAuth()` reads it on every
 * request; a route missing here is refused to every key (fail closed) and fails
 * tests/workers/projects-matrix.test.ts, which checks every route of /openapi.json against this table.
 * A new route adds one line here.
 */
export const ROUTE_PERMISSIONS: Record<string, Permission> = {
  "GET /healthz": "public",
  // The dashboard's login checks the key it is given; logout only clears the cookie.
  "POST /ui/login": "public",
  "POST /ui/logout": "public",

  "POST /v1/projects": "root",
  "GET /v1/projects": "read",

  "POST /v1/api-keys": "keys",
  "GET /v1/api-keys": "keys",
  "DELETE /v1/api-keys/:id": "keys",

  "POST /v1/datasets": "write",
  "GET /v1/datasets": "read",
  "GET /v1/datasets/:id": "read",
  "GET /v1/datasets/:id/rows": "read",
  "GET /v1/datasets/:id/recommendation": "read",

  "POST /v1/experiments": "write",
  "GET /v1/experiments": "read",
  "GET /v1/experiments/:id": "read",
  "GET /v1/experiments/:id/compare": "read",

  "POST /v1/experiments/:id/runs": "write",
  "GET /v1/runs": "read",
  "GET /v1/runs/:id": "read",
  "PATCH /v1/runs/:id": "write",
  "POST /v1/runs/:id/cancel": "write",
  "POST /v1/runs/:id/metrics": "write|run",
  "GET /v1/runs/:id/metrics": "read",

  "GET /v1/rewards": "read",
  "POST /v1/rewards/:name/score": "score",
  "POST /v1/graders/run": "score",
  "POST /v1/graders/validate": "score",
  "POST /v1/graders/preflight": "score",

  "POST /v1/runner/claim": "runner",
  "GET /v1/runs/:id/spec": "run",
  "GET /v1/runs/:id/dataset/rows": "run",
  "POST /v1/runs/:id/rewards": "run",
  "POST /v1/runs/:id/heartbeat": "run",
  "PUT /v1/runs/:id/artifacts/:name": "run",
  "POST /v1/runs/:id/complete": "run",

  "POST /v1/experiments/:id/sweeps": "write",
  "GET /v1/sweeps/:id": "read",

  "PUT /v1/schemas": "write",
  "GET /v1/schemas": "read",
  "GET /v1/schemas/:id": "read",

  "PUT /v1/fixtures/:name": "write",
  "GET /v1/fixtures": "read",
  "GET /v1/fixtures/:name": "read",

  // Changes nothing, but the read role is GET only.
  "POST /v1/compare": "write",
  "GET /v1/experiments/:id/champion": "read",
  "PUT /v1/experiments/:id/champion": "write",
  "POST /v1/experiments/:id/retraining-policies": "write",
  "GET /v1/experiments/:id/retraining-policies": "read",
  "GET /v1/retraining-policies/:id": "read",
  "POST /v1/retraining-policies/:id/trigger": "write",
  "GET /v1/retraining-policies/:id/cycles": "read",
  "GET /v1/runs/:id/base-adapter": "run",
  "GET /v1/runs/:id/items": "read",
  "GET /v1/runs/:id/steps/:step/samples": "read",
  "GET /v1/runs/:id/certificate": "read",

  "POST /v1/event-subscriptions": "write",
  "GET /v1/event-subscriptions": "read",
  "GET /v1/event-subscriptions/:id": "read",
  "DELETE /v1/event-subscriptions/:id": "write",
  "GET /v1/event-subscriptions/:id/deliveries": "read",
  "PUT /v1/experiments/:id/monitoring": "write",
  "GET /v1/experiments/:id/monitoring": "read",
  "GET /v1/experiments/:id/drift": "read",
  "GET /v1/experiments/:id/drift/checks": "read",
  "GET /v1/experiments/:id/evaluations": "read",

  "POST /v1/curations": "write",
  "GET /v1/curations/:id": "read",
  "GET /v1/curations": "read",
  "GET /v1/datasets/:id/lineage": "read",

  "POST /v1/feedback-sources": "write",
  "GET /v1/feedback-sources": "read",
  "GET /v1/feedback-sources/:id": "read",
  "POST /v1/feedback-sources/:id/rotate": "write",
  "DELETE /v1/feedback-sources/:id": "write",
  // Verified by the source's Standard Webhooks signature, not by a key.
  "POST /v1/webhooks/feedback/:sourceId": "signed",
  "POST /ping": "public",
  "POST /v1/feedback/batch": "write",
  "GET /v1/feedback": "read",
  "GET /v1/feedback/dead-letters": "read",
  "POST /v1/feedback/dead-letters/:id/retry": "write",
  "GET /v1/feedback/:id": "read",
};

export const routeKey = (method: string, path: string) => `${method.toUpperCase()} ${path}`;

export function permissionOf(method: string, routePath: string): Permission | undefined {
  return ROUTE_PERMISSIONS[routeKey(method, routePath)];
}

/** The roles that would do, for a 403's message: "a key with role write or admin". */
export function describeNeed(p: Permission): string {
  if (p === "root") return "the admin secret (ASSAY_ADMIN_KEY)";
  if (p === "run") return "the run's own token (ASSAY_RUN_TOKEN)";
  const roles = GRANTS[p];
  const list = roles.length > 1 ? `${roles.slice(0, -1).join(", ")} or ${roles.at(-1)}` : roles[0];
  return `a key with role ${list}${p === "write|run" ? ", or the run's own token" : ""}`;
}

interface RouteDefinition {
  type: string;
  route?: {
    method: string;
    path: string;
    description?: string;
    responses: Record<string, unknown>;
    [extension: `x-${string}`]: unknown;
  };
}

/**
 * Writes each route's permission into the OpenAPI document: `x-assay-permission`, a sentence in its
 * description, and a documented 403 where a role can be refused. Call after every route is registered.
 */
export function documentPermissions(definitions: readonly RouteDefinition[], forbidden: unknown): void {
  for (const def of definitions) {
    if (def.type !== "route" || !def.route) continue;
    const r = def.route;
    const perm = permissionOf(r.method, r.path.replaceAll(/\{(\w+)\}/g, ":$1"));
    if (!perm || perm === "public" || perm === "signed") continue;
    r["x-assay-permission"] = perm;
    const need = `Needs ${describeNeed(perm)}${perm === "run" || perm === "root" ? "" : " (or the admin secret)"}.`;
    r.description = r.description ? `${r.description}\n\n${need}` : need;
    r.responses["403"] ??= forbidden;
  }
}
