import { and, desc, eq, lt } from "drizzle-orm";
import type { Db } from "../client";
import { datasets } from "../schema";

export type DatasetRow = typeof datasets.$inferSelect;

export async function insertDataset(db: Db, row: typeof datasets.$inferInsert) {
  await db.insert(datasets).values(row);
}

export async function getDataset(db: Db, projectId: string, id: string): Promise<DatasetRow | null> {
  const [row] = await db
    .select()
    .from(datasets)
    .where(and(eq(datasets.projectId, projectId), eq(datasets.id, id)))
    .limit(1);
  return row ?? null;
}

/** Newest first; `cursor` is the last id of the previous page. Fetches `limit + 1` to tell if more follow. */
export async function listDatasets(db: Db, projectId: string, opts: { cursor?: string; limit: number }) {
  return db
    .select()
    .from(datasets)
    .where(and(eq(datasets.projectId, projectId), opts.cursor ? lt(datasets.id, opts.cursor) : undefined))
    .orderBy(desc(datasets.id))
    .limit(opts.limit + 1);
}
