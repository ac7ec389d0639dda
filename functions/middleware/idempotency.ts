import { and, eq, isNull, lt } from "drizzle-orm";
import { createMiddleware } from "hono/factory";
import { idempotencyKeys } from "../../db/schema";
import type { AppEnv, Principal } from "../env";
import { sha256Hex } from "../lib/crypto";
import { ApiError } from "../lib/errors";
import { DEFAULT_PROJECT_ID } from "../lib/project";

/** A first request that died mid-way leaves a pending row; after this long a retry may take it over. */
const PENDING_TTL_MS = 60_000;

/**
 * The project is part of the key: the admin secret acting in two projects is two callers. The default
 * project keeps the keys of before projects existed, so a retry across that change still replays.
 */
function principalKey(p: Principal): string {
  const who = p.kind === "apiKey" ? `key:${p.keyId}` : p.kind === "runToken" ? `run:${p.runId}` : "admin";
  return p.projectId === DEFAULT_PROJECT_ID ? who : `${p.projectId}:${who}`;
}

/**
 * `Idempotency-Key` support for creating POSTs: the first request's 2xx answer is stored and replayed
 * for retries with the same key and body; the same key with another body is 409, as is a retry that
 * arrives while the first is still running. Without the header the route behaves as usual.
 */
export const idempotent = createMiddleware<AppEnv>(async (c, next) => {
  const clientKey = c.req.header("idempotency-key");
  if (!clientKey) return next();
  if (!/^[\w.:-]{1,128}$/.test(clientKey)) {
    throw new ApiError("BAD_REQUEST", "Idempotency-Key must be 1-128 characters of [A-Za-z0-9_.:-]");
  }
  const db = c.var.db;
  const key = `${principalKey(c.var.principal)}:${clientKey}`;
  const body = await c.req.raw.clone().text();
  const requestHash = await sha256Hex(`${c.req.method} ${c.req.path}\n${body}`);
  const now = Date.now();

  // Claim the key; a stale pending claim (its request died) is released first.
  await db
    .delete(idempotencyKeys)
    .where(
      and(
        eq(idempotencyKeys.key, key),
        isNull(idempotencyKeys.status),
        lt(idempotencyKeys.createdAt, now - PENDING_TTL_MS),
      ),
    );
  const claimed = await db
    .insert(idempotencyKeys)
    .values({
      key,
      projectId: c.var.principal.projectId,
      method: c.req.method,
      path: c.req.path,
      requestHash,
      createdAt: now,
    })
    .onConflictDoNothing()
    .returning({ key: idempotencyKeys.key });
  if (claimed.length === 0) {
    const [prior] = await db.select().from(idempotencyKeys).where(eq(idempotencyKeys.key, key)).limit(1);
    if (!prior) throw new ApiError("CONFLICT", "idempotency key is being released; retry");
    if (prior.requestHash !== requestHash) {
      throw new ApiError("CONFLICT", "this Idempotency-Key was already used with a different request");
    }
    if (prior.status === null)
      throw new ApiError("CONFLICT", "a request with this Idempotency-Key is still in progress");
    c.header("Idempotent-Replayed", "true");
    return c.body(prior.body ?? "", prior.status as 200, { "content-type": "application/json" });
  }

  try {
    await next();
  } catch (err) {
    await db.delete(idempotencyKeys).where(eq(idempotencyKeys.key, key));
    throw err;
  }
  if (c.res.status >= 200 && c.res.status < 300) {
    const stored = await c.res.clone().text();
    await db.update(idempotencyKeys).set({ status: c.res.status, body: stored }).where(eq(idempotencyKeys.key, key));
  } else {
    await db.delete(idempotencyKeys).where(eq(idempotencyKeys.key, key));
  }
});
