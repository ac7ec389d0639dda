import { and, asc, eq, gt, inArray } from "drizzle-orm";
import type { Db } from "../client";
import { artifacts, type RunStatus, runStatusHistory, runs } from "../schema";

export type RunRow = typeof runs.$inferSelect;
export type NewRun = typeof runs.$inferInsert;

/** Inserts a run with its first status-history entry, atomically. */
export async function insertRun(db: Db, row: NewRun & { status: RunStatus; createdAt: number }, reason?: string) {
  await db.batch([
    db.insert(runs).values(row),
    db
      .insert(runStatusHistory)
      .values({ runId: row.id, status: row.status, reason: reason ?? null, at: row.createdAt }),
  ]);
}

/**
 * Inserts a run unless one with its id exists; the history entry is written only with a new row. Answers
 * whether this call created it (a caller that reserved the id beforehand may call it again safely).
 */
export async function insertRunOnce(db: Db, row: NewRun & { status: RunStatus; createdAt: number }, reason?: string) {
  const d1 = db.$client;
  const ins = db.insert(runs).values(row).onConflictDoNothing().toSQL();
  const [res] = await d1.batch([
    d1.prepare(ins.sql).bind(...ins.params),
    d1
      .prepare("insert into run_status_history (run_id, status, reason, at) select ?, ?, ?, ? where changes() > 0")
      .bind(row.id, row.status, reason ?? null, row.createdAt),
  ]);
  return (res?.meta.changes ?? 0) > 0;
}

/**
 * A run of the project. Without `projectId` (queue and cron work, which act on ids they were given by a
 * project-scoped request) any run.
 */
export async function getRun(db: Db, projectId: string | null, id: string) {
  const [row] = await db
    .select()
    .from(runs)
    .where(projectId === null ? eq(runs.id, id) : and(eq(runs.projectId, projectId), eq(runs.id, id)))
    .limit(1);
  return row ?? null;
}

export async function getRunDetail(db: Db, projectId: string, id: string) {
  const [row, history, arts] = await db.batch([
    db
      .select()
      .from(runs)
      .where(and(eq(runs.projectId, projectId), eq(runs.id, id)))
      .limit(1),
    db.select().from(runStatusHistory).where(eq(runStatusHistory.runId, id)).orderBy(asc(runStatusHistory.id)),
    db.select().from(artifacts).where(eq(artifacts.runId, id)).orderBy(asc(artifacts.id)),
  ]);
  if (!row[0]) return null;
  return { run: row[0], history, artifacts: arts };
}

export async function listRuns(
  db: Db,
  projectId: string,
  opts: { experimentId?: string; status?: RunStatus; cursor?: string; limit: number },
) {
  const conds = [eq(runs.projectId, projectId)];
  if (opts.experimentId) conds.push(eq(runs.experimentId, opts.experimentId));
  if (opts.status) conds.push(eq(runs.status, opts.status));
  if (opts.cursor) conds.push(gt(runs.id, opts.cursor));
  return db
    .select()
    .from(runs)
    .where(and(...conds))
    .orderBy(asc(runs.id))
    .limit(opts.limit + 1);
}

export interface RunUpdate {
  status?: RunStatus;
  reason?: string | null;
  summary?: Record<string, unknown>;
  artifacts?: { kind: string; uri: string }[];
  fields?: Partial<Pick<RunRow, "stopRequested" | "stopReason" | "error" | "jobId" | "heartbeatAt" | "tokenHash">>;
}

/**
 * Applies an update atomically: the status change (only from `expectFrom` when given, so two writers
 * cannot both move a run), its history entry, the summary and new artifacts (repeats ignored).
 * Returns false when the status guard did not match.
 */
export async function updateRun(
  db: Db,
  id: string,
  upd: RunUpdate,
  expectFrom?: readonly RunStatus[],
): Promise<boolean> {
  const now = Date.now();
  const set: Partial<NewRun> = { updatedAt: now, ...(upd.fields ?? {}) };
  if (upd.status) set.status = upd.status;
  if (upd.summary) set.summary = upd.summary;
  const where = expectFrom ? and(eq(runs.id, id), inArray(runs.status, [...expectFrom])) : eq(runs.id, id);
  const update = db.update(runs).set(set).where(where).toSQL();
  const d1 = db.$client;
  // One transaction. The statements after the update take effect only if the guarded update matched:
  // `changes()` still reports the update when the history row is inserted right after it.
  const stmts = [d1.prepare(update.sql).bind(...update.params)];
  if (upd.status) {
    stmts.push(
      d1
        .prepare("insert into run_status_history (run_id, status, reason, at) select ?, ?, ?, ? where changes() > 0")
        .bind(id, upd.status, upd.reason ?? null, now),
    );
  }
  for (const a of upd.artifacts ?? []) {
    stmts.push(
      d1
        .prepare(
          `insert into artifacts (run_id, kind, uri, created_at) select ?, ?, ?, ?
           where exists (select 1 from runs where id = ? and updated_at = ?) on conflict do nothing`,
        )
        .bind(id, a.kind, a.uri, now, id, now),
    );
  }
  const [res] = await d1.batch(stmts);
  return (res?.meta.changes ?? 0) > 0;
}
