import { eq } from "drizzle-orm";
import { createMiddleware } from "hono/factory";
import { apiKeys, runs } from "../../db/schema";
import type { AppEnv, Principal } from "../env";
import { secretsEqual, sha256Hex } from "../lib/crypto";
import { ApiError } from "../lib/errors";
import { sessionKeyOf } from "../ui/session";

export const API_KEY_PREFIX = "ak_";
export const RUN_TOKEN_PREFIX = "rt_";

/** A run's token is refused once the run has ended. */
const ENDED = new Set(["succeeded", "failed", "cancelled", "stopped"]);

function bearerToken(header: string | undefined): string | null {
  if (!header) return null;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m?.[1] ?? null;
}

export async function authenticateKey(token: string, env: Env, db: AppEnv["Variables"]["db"]): Promise<Principal> {
  if (token.startsWith(RUN_TOKEN_PREFIX)) {
    throw new ApiError("FORBIDDEN", "a run token is accepted only on its own run's container endpoints");
  }
  if (await secretsEqual(token, env.ASSAY_ADMIN_KEY ?? "")) return { kind: "admin" };
  if (!token.startsWith(API_KEY_PREFIX)) throw new ApiError("UNAUTHORIZED", "unknown API key");
  // Looked up by the hash of the presented key: the stored value is never compared byte by byte.
  const hash = await sha256Hex(token);
  const [row] = await db.select().from(apiKeys).where(eq(apiKeys.hash, hash)).limit(1);
  if (!row) throw new ApiError("UNAUTHORIZED", "unknown API key");
  if (row.revokedAt !== null) throw new ApiError("UNAUTHORIZED", "this API key has been revoked");
  return { kind: "apiKey", keyId: row.id };
}

async function authenticateRunToken(
  token: string,
  runId: string,
  db: AppEnv["Variables"]["db"],
  allowEnded: boolean,
): Promise<Principal> {
  const [row] = await db
    .select({ id: runs.id, tokenHash: runs.tokenHash, status: runs.status })
    .from(runs)
    .where(eq(runs.id, runId))
    .limit(1);
  const hash = await sha256Hex(token);
  // Compare even when the run is missing, so an unknown run and a wrong token take the same path.
  const ok = await secretsEqual(hash, row?.tokenHash ?? "");
  if (!row || !ok) throw new ApiError("UNAUTHORIZED", "this run token is not valid for this run");
  if (ENDED.has(row.status) && !allowEnded)
    throw new ApiError("UNAUTHORIZED", `run ${runId} has ended (${row.status}); its token no longer works`);
  return { kind: "runToken", runId };
}

type Accepts = "admin" | "key" | "runToken" | "keyOrRunToken";

/**
 * Route guard. `key` accepts API keys and the admin key; `runToken` accepts only the token of the run
 * named by the `:id` path parameter; `keyOrRunToken` accepts either. A run token stops working when its
 * run ends, except where `allowEndedRun` is set (a retried `complete` must still get its answer).
 */
export function requireAuth(accepts: Accepts, opts: { allowEndedRun?: boolean } = {}) {
  return createMiddleware<AppEnv>(async (c, next) => {
    // The dashboard's session cookie stands in for the bearer key (same lookup below); a bearer header wins.
    const token = bearerToken(c.req.header("authorization")) ?? (await sessionKeyOf(c));
    if (!token) throw new ApiError("UNAUTHORIZED", "missing bearer token: send Authorization: Bearer <key>");
    const db = c.var.db;
    let principal: Principal;
    if (token.startsWith(RUN_TOKEN_PREFIX)) {
      if (accepts !== "runToken" && accepts !== "keyOrRunToken") {
        throw new ApiError("FORBIDDEN", "a run token is accepted only on its own run's container endpoints");
      }
      const runId = c.req.param("id");
      if (!runId) throw new ApiError("FORBIDDEN", "a run token needs a run in the path");
      principal = await authenticateRunToken(token, runId, db, opts.allowEndedRun ?? false);
    } else {
      if (accepts === "runToken") {
        throw new ApiError("FORBIDDEN", "this endpoint takes the run's own token (ASSAY_RUN_TOKEN), not an API key");
      }
      principal = await authenticateKey(token, c.env, db);
      if (accepts === "admin" && principal.kind !== "admin") {
        throw new ApiError("FORBIDDEN", "this endpoint needs the admin key");
      }
    }
    c.set("principal", principal);
    await next();
  });
}
