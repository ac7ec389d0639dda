import { desc, eq, lt } from "drizzle-orm";
import type { Db } from "../client";
import { apiKeys } from "../schema";

export async function insertApiKey(db: Db, row: typeof apiKeys.$inferInsert) {
  await db.insert(apiKeys).values(row);
}

export async function listApiKeys(db: Db, opts: { cursor?: string; limit: number }) {
  const q = db
    .select()
    .from(apiKeys)
    .orderBy(desc(apiKeys.id))
    .limit(opts.limit + 1);
  return opts.cursor ? q.where(lt(apiKeys.id, opts.cursor)) : q;
}

export async function revokeApiKey(db: Db, id: string, at: number) {
  const [row] = await db.select().from(apiKeys).where(eq(apiKeys.id, id)).limit(1);
  if (!row) return null;
  if (row.revokedAt !== null) return row;
  await db.update(apiKeys).set({ revokedAt: at }).where(eq(apiKeys.id, id));
  return { ...row, revokedAt: at };
}
