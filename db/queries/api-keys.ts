import { and, desc, eq, lt } from "drizzle-orm";
import type { Db } from "../client";
import { apiKeys } from "../schema";

export async function insertApiKey(db: Db, row: typeof apiKeys.$inferInsert) {
  await db.insert(apiKeys).values(row);
}

export async function listApiKeys(db: Db, projectId: string, opts: { cursor?: string; limit: number }) {
  return db
    .select()
    .from(apiKeys)
    .where(and(eq(apiKeys.projectId, projectId), opts.cursor ? lt(apiKeys.id, opts.cursor) : undefined))
    .orderBy(desc(apiKeys.id))
    .limit(opts.limit + 1);
}

export async function revokeApiKey(db: Db, projectId: string, id: string, at: number) {
  const [row] = await db
    .select()
    .from(apiKeys)
    .where(and(eq(apiKeys.projectId, projectId), eq(apiKeys.id, id)))
    .limit(1);
  if (!row) return null;
  if (row.revokedAt !== null) return row;
  await db.update(apiKeys).set({ revokedAt: at }).where(eq(apiKeys.id, id));
  return { ...row, revokedAt: at };
}
