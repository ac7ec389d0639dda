import { and, desc, eq, isNull } from "drizzle-orm";
import type { Db } from "../client";
import { championHistory } from "../schema";

export type ChampionRow = typeof championHistory.$inferSelect;

export async function currentChampion(db: Db, projectId: string, experimentId: string) {
  const [row] = await db
    .select()
    .from(championHistory)
    .where(
      and(
        eq(championHistory.projectId, projectId),
        eq(championHistory.experimentId, experimentId),
        isNull(championHistory.until),
      ),
    )
    .limit(1);
  return row ?? null;
}

export async function championHistoryOf(db: Db, projectId: string, experimentId: string, limit = 500) {
  return db
    .select()
    .from(championHistory)
    .where(and(eq(championHistory.projectId, projectId), eq(championHistory.experimentId, experimentId)))
    .orderBy(desc(championHistory.id))
    .limit(limit);
}

export async function promotionOfCycle(db: Db, cycleId: string) {
  const [row] = await db.select().from(championHistory).where(eq(championHistory.cycleId, cycleId)).limit(1);
  return row ?? null;
}

/**
 * Makes `runId` the experiment's champion, closing the current one, in one transaction. With `expect`
 * (a run id, or null for "no champion yet") the change happens only if the current champion is still that
 * one, so a gate never replaces a champion someone changed while its cycle ran. Answers whether it changed.
 */
export async function setChampion(
  db: Db,
  opts: {
    projectId: string;
    experimentId: string;
    runId: string;
    reason: string;
    cycleId?: string | null;
    now: number;
    expect?: string | null;
  },
): Promise<boolean> {
  const d1 = db.$client;
  const close =
    opts.expect === undefined
      ? d1
          .prepare("update champion_history set until = ? where experiment_id = ? and until is null")
          .bind(opts.now, opts.experimentId)
      : d1
          .prepare("update champion_history set until = ? where experiment_id = ? and until is null and run_id = ?")
          .bind(opts.now, opts.experimentId, opts.expect ?? "");
  // Inserted only when no champion is current any more: the close above matched, or there was none.
  const open = d1
    .prepare(
      `insert into champion_history (project_id, experiment_id, run_id, reason, cycle_id, since, until)
       select ?, ?, ?, ?, ?, ?, null
       where not exists (select 1 from champion_history where experiment_id = ? and until is null)`,
    )
    .bind(
      opts.projectId,
      opts.experimentId,
      opts.runId,
      opts.reason,
      opts.cycleId ?? null,
      opts.now,
      opts.experimentId,
    );
  const [, inserted] = await d1.batch([close, open]);
  return (inserted?.meta.changes ?? 0) > 0;
}
