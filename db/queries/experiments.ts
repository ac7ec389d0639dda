import { and, asc, eq, gt, sql } from "drizzle-orm";
import type { Db } from "../client";
import { experiments, runs } from "../schema";

export type ExperimentRow = typeof experiments.$inferSelect;

export async function insertExperiment(db: Db, row: ExperimentRow) {
  await db.insert(experiments).values(row);
  return row;
}

export async function getExperiment(db: Db, projectId: string, id: string) {
  const [row] = await db
    .select()
    .from(experiments)
    .where(and(eq(experiments.projectId, projectId), eq(experiments.id, id)))
    .limit(1);
  return row ?? null;
}

/** Experiments in creation order (ids sort by time), from after `cursor`. */
export async function listExperiments(
  db: Db,
  projectId: string,
  opts: { cursor?: string; limit: number; tag?: string },
) {
  const conds = [eq(experiments.projectId, projectId)];
  if (opts.cursor) conds.push(gt(experiments.id, opts.cursor));
  if (opts.tag) conds.push(sql`exists (select 1 from json_each(${experiments.tags}) where value = ${opts.tag})`);
  return db
    .select()
    .from(experiments)
    .where(and(...conds))
    .orderBy(asc(experiments.id))
    .limit(opts.limit + 1);
}

export async function runCountsByStatus(
  db: Db,
  projectId: string,
  experimentId: string,
): Promise<Record<string, number>> {
  const rows = await db
    .select({ status: runs.status, n: sql<number>`count(*)` })
    .from(runs)
    .where(and(eq(runs.projectId, projectId), eq(runs.experimentId, experimentId)))
    .groupBy(runs.status);
  return Object.fromEntries(rows.map((r) => [r.status, r.n]));
}
