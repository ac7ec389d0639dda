import { and, asc, eq, gt, gte, lte, sql } from "drizzle-orm";
import type { Db } from "../client";
import { evalItemScores } from "../schema";

export type NewItemScore = typeof evalItemScores.$inferInsert;

/** Stores scored samples; a sample already stored (same run, item and sample key) is left as it was. */
export async function recordItemScores(db: Db, rows: NewItemScore[]) {
  if (!rows.length) return;
  // D1 binds at most 100 parameters a statement: 8 columns a row.
  const chunks = [];
  for (let i = 0; i < rows.length; i += 12) {
    chunks.push(
      db
        .insert(evalItemScores)
        .values(rows.slice(i, i + 12))
        .onConflictDoNothing(),
    );
  }
  const [first, ...rest] = chunks;
  await db.batch([first!, ...rest]);
}

export interface ItemScores {
  itemId: string;
  /** Valid scores in the order the samples were stored. */
  scores: number[];
  /** Mean of the valid scores; null when none was valid. */
  mean: number | null;
  invalid: number;
  cluster: string | null;
}

function group(rows: { itemId: string; score: number; valid: boolean; cluster: string | null }[]): ItemScores[] {
  const out = new Map<string, ItemScores>();
  for (const r of rows) {
    let it = out.get(r.itemId);
    if (!it) {
      it = { itemId: r.itemId, scores: [], mean: null, invalid: 0, cluster: r.cluster };
      out.set(r.itemId, it);
    }
    if (r.valid) it.scores.push(r.score);
    else it.invalid++;
  }
  for (const it of out.values()) {
    it.mean = it.scores.length ? it.scores.reduce((s, x) => s + x, 0) / it.scores.length : null;
  }
  return [...out.values()];
}

const cols = {
  itemId: evalItemScores.itemId,
  score: evalItemScores.score,
  valid: evalItemScores.valid,
  cluster: evalItemScores.cluster,
};

/** A page of a run's items in item-id order, with their scores; `limit + 1` items are read to see if more follow. */
export async function itemPage(db: Db, runId: string, opts: { cursor?: string; limit: number }) {
  const ids = await db
    .selectDistinct({ itemId: evalItemScores.itemId })
    .from(evalItemScores)
    .where(and(eq(evalItemScores.runId, runId), opts.cursor ? gt(evalItemScores.itemId, opts.cursor) : undefined))
    .orderBy(asc(evalItemScores.itemId))
    .limit(opts.limit + 1);
  const more = ids.length > opts.limit;
  const page = ids.slice(0, opts.limit).map((r) => r.itemId);
  if (!page.length) return { data: [] as ItemScores[], nextCursor: null };
  // The page's items are a contiguous range of ids (D1 binds at most 100 parameters: no IN list of a page).
  const rows = await db
    .select(cols)
    .from(evalItemScores)
    .where(
      and(
        eq(evalItemScores.runId, runId),
        gte(evalItemScores.itemId, page[0]!),
        lte(evalItemScores.itemId, page.at(-1)!),
      ),
    )
    .orderBy(asc(evalItemScores.itemId), asc(evalItemScores.createdAt), asc(evalItemScores.sampleKey));
  return { data: group(rows), nextCursor: more ? (page.at(-1) ?? null) : null };
}

/** Every item of a run (for comparisons; eval runs are bounded by their split's size). */
export async function allItems(db: Db, runId: string): Promise<ItemScores[]> {
  const rows = await db
    .select(cols)
    .from(evalItemScores)
    .where(eq(evalItemScores.runId, runId))
    .orderBy(asc(evalItemScores.itemId), asc(evalItemScores.createdAt), asc(evalItemScores.sampleKey));
  return group(rows);
}

export async function itemCount(db: Db, runId: string): Promise<number> {
  const [r] = await db
    .select({ n: sql<number>`count(distinct ${evalItemScores.itemId})` })
    .from(evalItemScores)
    .where(eq(evalItemScores.runId, runId));
  return r?.n ?? 0;
}
