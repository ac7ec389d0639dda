import { and, eq, isNull, lt, or } from "drizzle-orm";
import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import { isTerminal } from "../../db/run-lifecycle";
import { apiKeys, projects, runs } from "../../db/schema";
import type { AppEnv, Principal } from "../env";
import { secretsEqual, sha256Hex } from "../lib/crypto";
import { ApiError } from "../lib/errors";
import { DEFAULT_PROJECT_ID } from "../lib/project";
import { sessionKeyOf } from "../ui/session";
import { describeNeed, GRANTS, type Permission, permissionOf, type Role } from "./permissions";

export const API_KEY_PREFIX = "ak_";
export const RUN_TOKEN_PREFIX = "rt_";
/** The header with which the admin secret names the project it acts in (default: prj_default). */
export const PROJECT_HEADER = "x-assay-project";
/** `lastUsedAt` is written at most this often per key, so authenticating is not a write per request. */
export const LAST_USED_GRANULARITY_MS = 60_000;

type Db = AppEnv["Variables"]["db"];

function bearerToken(header: string | undefined): string | null {
  if (!header) return null;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m?.[1] ?? null;
}

/** CRC-32 (IEEE), for the checksum that lets a scanner tell an Assay key from random text offline. */
function crc32(s: string): number {
  let c = ~0;
  for (let i = 0; i < s.length; i++) {
    c ^= s.charCodeAt(i);
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

const KEY_BODY_CHARS = 43;
const checksum = (body: string) => crc32(body).toString(16).padStart(8, "0");
/** What secret scanners can match: `ak_`, 43 base64url characters, an 8-hex-digit CRC-32 of them. */
export const API_KEY_PATTERN = /^ak_[A-Za-z0-9_-]{43}[0-9a-f]{8}$/;

/** A new API key: `ak_` + 32 random bytes in base64url + the CRC-32 of those characters. */
export function newApiKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  const body = btoa(bin).replaceAll("+", "-").replaceAll("/", "_").replaceAll("=", "");
  return `${API_KEY_PREFIX}${body}${checksum(body)}`;
}

/**
 * Whether a string is shaped like a key of this format with a valid checksum. Keys made before the
 * checksum existed (`ak_` + 43 characters) have none and are looked up as they are.
 */
export function hasValidChecksum(key: string): boolean {
  if (!API_KEY_PATTERN.test(key)) return false;
  const body = key.slice(API_KEY_PREFIX.length, API_KEY_PREFIX.length + KEY_BODY_CHARS);
  return key.endsWith(checksum(body));
}

async function projectExists(db: Db, id: string) {
  if (id === DEFAULT_PROJECT_ID) return true;
  const [row] = await db.select({ id: projects.id }).from(projects).where(eq(projects.id, id)).limit(1);
  return Boolean(row);
}

/**
 * Authenticates an API key or the admin secret (not a run token). The admin secret acts in the project
 * named by `X-Assay-Project` (`requestedProject`), else in prj_default; a key acts in its own project,
 * and naming another one is answered as if that project did not exist.
 */
export async function authenticateKey(
  token: string,
  env: Env,
  db: Db,
  opts: { requestedProject?: string; now?: number; onUsed?: (p: Promise<unknown>) => void } = {},
): Promise<Principal> {
  const now = opts.now ?? Date.now();
  const requested = opts.requestedProject?.trim() || undefined;
  if (await secretsEqual(token, env.ASSAY_ADMIN_KEY ?? "")) {
    const projectId = requested ?? DEFAULT_PROJECT_ID;
    if (!(await projectExists(db, projectId))) throw new ApiError("NOT_FOUND", `project ${projectId} not found`);
    return { kind: "admin", projectId, role: "admin" };
  }
  if (!token.startsWith(API_KEY_PREFIX)) throw new ApiError("UNAUTHORIZED", "unknown API key");
  if (token.length === API_KEY_PREFIX.length + KEY_BODY_CHARS + 8 && !hasValidChecksum(token)) {
    throw new ApiError("UNAUTHORIZED", "unknown API key (its checksum does not match: mistyped or truncated?)");
  }
  // Looked up by the hash of the presented key: the stored value is never compared byte by byte.
  const hash = await sha256Hex(token);
  const [row] = await db.select().from(apiKeys).where(eq(apiKeys.hash, hash)).limit(1);
  if (!row) throw new ApiError("UNAUTHORIZED", "unknown API key");
  if (row.revokedAt !== null) throw new ApiError("UNAUTHORIZED", "this API key has been revoked");
  if (row.expiresAt !== null && row.expiresAt <= now) {
    throw new ApiError("UNAUTHORIZED", `this API key expired at ${new Date(row.expiresAt).toISOString()}`);
  }
  if (requested && requested !== row.projectId) throw new ApiError("NOT_FOUND", `project ${requested} not found`);
  if (row.lastUsedAt === null || now - row.lastUsedAt >= LAST_USED_GRANULARITY_MS) {
    // Guarded by the old value, so concurrent requests of one key write once; never delays the answer.
    const write = db
      .update(apiKeys)
      .set({ lastUsedAt: now })
      .where(
        and(
          eq(apiKeys.id, row.id),
          or(isNull(apiKeys.lastUsedAt), lt(apiKeys.lastUsedAt, now - LAST_USED_GRANULARITY_MS)),
        ),
      )
      .run()
      .catch((err) =>
        console.error(JSON.stringify({ level: "warn", msg: "lastUsedAt not recorded", error: String(err) })),
      );
    opts.onUsed ? opts.onUsed(write) : await write;
  }
  return { kind: "apiKey", keyId: row.id, projectId: row.projectId, role: row.role };
}

async function authenticateRunToken(token: string, runId: string, db: Db, allowEnded: boolean): Promise<Principal> {
  const [row] = await db
    .select({ id: runs.id, tokenHash: runs.tokenHash, status: runs.status, projectId: runs.projectId })
    .from(runs)
    .where(eq(runs.id, runId))
    .limit(1);
  const hash = await sha256Hex(token);
  // Compare even when the run is missing, so an unknown run and a wrong token take the same path.
  const ok = await secretsEqual(hash, row?.tokenHash ?? "");
  if (!row || !ok) throw new ApiError("UNAUTHORIZED", "this run token is not valid for this run");
  // A run's token is refused once the run has ended.
  if (isTerminal(row.status) && !allowEnded)
    throw new ApiError("UNAUTHORIZED", `run ${runId} has ended (${row.status}); its token no longer works`);
  return { kind: "runToken", runId, projectId: row.projectId };
}

/** Whether a principal may use a route with this permission; the 403 names what would do. */
export function authorize(principal: Principal, permission: Permission, route: string): void {
  if (permission === "public" || permission === "signed") return;
  if (principal.kind === "runToken") {
    if (permission === "run" || permission === "write|run") return;
    throw new ApiError("FORBIDDEN", "a run token is accepted only on its own run's container endpoints", undefined, {
      required: describeNeed(permission),
    });
  }
  if (permission === "run") {
    throw new ApiError(
      "FORBIDDEN",
      "this endpoint takes the run's own token (ASSAY_RUN_TOKEN), not an API key",
      undefined,
      {
        required: describeNeed(permission),
      },
    );
  }
  if (principal.kind === "admin") return;
  const role = principal.role as Role;
  if ((GRANTS[permission] as readonly string[]).includes(role)) return;
  throw new ApiError("FORBIDDEN", `${route} needs ${describeNeed(permission)}; this key's role is ${role}`, undefined, {
    required: { roles: GRANTS[permission], admin: permission === "root" },
    role,
  });
}

function waitUntil(c: Context<AppEnv>): ((p: Promise<unknown>) => void) | undefined {
  try {
    const ctx = c.executionCtx;
    return (p) => ctx.waitUntil(p);
  } catch {
    return undefined;
  }
}

/**
 * Route guard. What a route needs comes from ROUTE_PERMISSIONS (functions/middleware/permissions.ts),
 * looked up by the route's method and registered path, so every route's requirement sits in one table;
 * a route missing from it is refused to every caller but the admin secret. The argument is kept so that
 * routes written before the table (`requireAuth("key")`) still compile; the table decides. A run token
 * stops working when its run ends, except where `allowEndedRun` is set (a retried `complete` must still
 * get its answer).
 */
export function requireAuth(
  _legacy?: "admin" | "key" | "runToken" | "keyOrRunToken" | { allowEndedRun?: boolean },
  opts: { allowEndedRun?: boolean } = {},
) {
  const allowEndedRun = (typeof _legacy === "object" ? _legacy.allowEndedRun : opts.allowEndedRun) ?? false;
  return createMiddleware<AppEnv>(async (c, next) => {
    const route = `${c.req.method} ${c.req.routePath}`;
    const permission = permissionOf(c.req.method, c.req.routePath);
    if (permission === "public" || permission === "signed") return next();
    // The dashboard's session cookie stands in for the bearer key (same lookup below); a bearer header wins.
    const token = bearerToken(c.req.header("authorization")) ?? (await sessionKeyOf(c));
    if (!token) throw new ApiError("UNAUTHORIZED", "missing bearer token: send Authorization: Bearer <key>");
    const db = c.var.db;
    let principal: Principal;
    if (token.startsWith(RUN_TOKEN_PREFIX)) {
      if (permission !== "run" && permission !== "write|run") {
        throw new ApiError("FORBIDDEN", "a run token is accepted only on its own run's container endpoints");
      }
      const runId = c.req.param("id");
      if (!runId) throw new ApiError("FORBIDDEN", "a run token needs a run in the path");
      principal = await authenticateRunToken(token, runId, db, allowEndedRun);
    } else {
      principal = await authenticateKey(token, c.env, db, {
        requestedProject: c.req.header(PROJECT_HEADER),
        onUsed: waitUntil(c),
      });
    }
    if (!permission) {
      // Fail closed: an unclassified route is open to the deployment's root only.
      if (principal.kind !== "admin") {
        throw new ApiError(
          "FORBIDDEN",
          `${route} has no entry in ROUTE_PERMISSIONS (functions/middleware/permissions.ts); only the admin secret may call it`,
        );
      }
    } else authorize(principal, permission, route);
    c.set("principal", principal);
    await next();
  });
}
