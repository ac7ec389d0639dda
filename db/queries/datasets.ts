import { desc, eq, lt } from "drizzle-orm";
import type { Db } from "../client";
import { datasets } from "../schema";

export type DatasetRow = typeof datasets.$inferSelect;

export async function insertDataset(db: Db, row: typeof datasets.$inferInsert) {
  await db.insert(datasets).values(row);
}

export async function getDataset(db: Db, id: string): Promise<DatasetRow | null> {
  const [row] = await db.select().from(datasets).where(eq(datasets.id, id)).limit(1);
  return row ?? null;
}

/** Newest first; `cursor` is the last id of the previous page. Fetches `limit + 1` to tell if more follow. */
export async function listDatasets(db: Db, opts: { cursor?: string; limit: number }) {
  return db
    .select()
    .from(datasets)
    .where(opts.cursor ? lt(datasets.id, opts.cursor) : undefined)
    .orderBy(desc(datasets.id))
    .limit(opts.limit + 1);
}
