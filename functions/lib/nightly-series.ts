/**
 * The nightly series (see nightly.ts for the whole flow): settling a night once its eval run has ended (the
 * KPIs from its per-item scores, the paired comparison with the previous night under the same grader
 * version and holdout, `evaluation.regressed` past the margin) and showing the series to the API.
 */
import { and, desc, eq, inArray, lt } from "drizzle-orm";
import type { Db } from "../../db/client";
import { allItems, type ItemScores } from "../../db/queries/eval-items";
import { getRun } from "../../db/queries/runs";
import { isTerminal } from "../../db/run-lifecycle";
import { datasets, experimentMonitoring, type NightlyStatus, nightlyEvaluations, runs } from "../../db/schema";
import { validateGrader } from "../../rewards/graders";
import type { MonitoringConfig } from "./drift-check";
import { emitEventSafely } from "./events";
import { ComparisonError, comparePaired } from "./stats";
import type { JobMessage } from "./training";

const log = (msg: string, data: Record<string, unknown>) =>
  console.log(JSON.stringify({ level: "info", msg, ...data }));

export type NightlyRow = typeof nightlyEvaluations.$inferSelect;

/** An aws-batch eval run still queued without a job after this long lost its dispatch message: sent again. */
const REDISPATCH_AFTER_MS = 5 * 60_000;

/** The stored monitoring config of a night's experiment, or the defaults when it was removed since. */
export async function configOf(db: Db, row: NightlyRow): Promise<MonitoringConfig> {
  const [config] = await db
    .select()
    .from(experimentMonitoring)
    .where(
      and(eq(experimentMonitoring.experimentId, row.experimentId), eq(experimentMonitoring.projectId, row.projectId)),
    )
    .limit(1);
  return (
    config ?? {
      experimentId: row.experimentId,
      projectId: row.projectId,
      referenceDataset: null,
      window: "24h",
      windowMs: 86_400_000,
      sources: null,
      alertMargin: 0.02,
      nightlyAtUtc: "02:00",
      evalGrader: null,
      evalDataset: null,
      alertConfidence: 0.95,
      createdAt: row.createdAt,
      updatedAt: row.createdAt,
    }
  );
}

/** The paired comparison of a night with the previous one (`drop` = previous − current), as stored and shown. */
export interface Compared {
  compared: true;
  previous: string;
  previousNight: string;
  previousRunId: string | null;
  n: number;
  mean: number;
  previousMean: number;
  drop: number;
  se: number;
  df: number;
  clusters: number | null;
  confidence: number;
  margin: number;
  dropCiLow: number;
  dropCiHigh: number;
  pValue: number;
  t: number | null;
  correlation: number | null;
  regressed: boolean;
  test: string;
}
export type Comparison = Compared | { compared: false; note: string };

/** Why an eval's items cannot be used for the night's KPIs, or null. */
function incomplete(items: ItemScores[], expected: number, runId: string): string | null {
  if (items.length !== expected)
    return `the eval run ${runId} scored ${items.length} of the holdout's ${expected} items`;
  const broken = items.filter((it) => it.invalid > 0 || it.mean === null);
  if (broken.length) {
    return `the eval run ${runId} has ${broken.length} item(s) whose scoring failed (first: ${broken[0]!.itemId})`;
  }
  return null;
}

const mean = (xs: number[]) => (xs.length ? xs.reduce((s, x) => s + x, 0) / xs.length : 0);

/**
 * Settles a dispatched night whose eval run has ended: KPIs, the comparison with the previous evaluation and,
 * when the drop is past the margin, `evaluation.regressed`. A night still running is left as it is. Safe to
 * call any number of times, concurrently too: only the call that moves the row from `dispatched` alerts.
 */
export async function settleNight(db: Db, env: Env, id: string, now = Date.now()): Promise<NightlyStatus | null> {
  const [row] = await db.select().from(nightlyEvaluations).where(eq(nightlyEvaluations.id, id)).limit(1);
  if (!row) return null;
  if (row.status !== "dispatched" || !row.evalRunId) return row.status;
  const run = await getRun(db, row.projectId, row.evalRunId);
  if (!run) return finish(db, env, row, { status: "failed", reason: `the eval run ${row.evalRunId} is missing` }, now);
  if (!isTerminal(run.status)) {
    if (
      run.status === "queued" &&
      run.backend === "aws-batch" &&
      !run.jobId &&
      now - run.createdAt > REDISPATCH_AFTER_MS
    ) {
      await env.JOBS.send({ type: "dispatch", runId: run.id } satisfies JobMessage);
    }
    return row.status;
  }
  if (run.status !== "succeeded") {
    const why = run.error ?? run.stopReason ?? "no reason given";
    return finish(
      db,
      env,
      row,
      { status: "failed", reason: `the eval run ${run.id} ended ${run.status}: ${why}` },
      now,
    );
  }
  const [ds] = await db
    .select({ holdoutRows: datasets.holdoutRows })
    .from(datasets)
    .where(eq(datasets.id, row.datasetId ?? ""))
    .limit(1);
  const items = await allItems(db, run.id);
  const valid = items.filter((it) => it.mean !== null);
  const kpis = {
    mean: mean(valid.map((it) => it.mean!)),
    n: valid.length,
    items: items.length,
    invalidItems: items.length - valid.length,
    holdoutItems: ds?.holdoutRows ?? 0,
  };
  const notUsable = incomplete(items, ds?.holdoutRows ?? -1, run.id);
  if (notUsable)
    return finish(db, env, row, { status: "failed", reason: `partial evaluation: ${notUsable}`, kpis }, now);
  const config = await configOf(db, row);
  const { previous, comparison } = await compareWithPrevious(db, row, items, config);
  return finish(
    db,
    env,
    row,
    {
      status: "succeeded",
      reason: null,
      kpis,
      previousId: previous?.id ?? null,
      graderChanged: previous !== null && previous.graderVersion !== row.graderVersion,
      comparison: comparison as unknown as Record<string, unknown>,
      regressed: comparison.compared && comparison.regressed,
    },
    now,
  );
}

/** The newest succeeded evaluation of an earlier night of the same experiment, and the paired comparison with it. */
async function compareWithPrevious(db: Db, row: NightlyRow, items: ItemScores[], config: MonitoringConfig) {
  const [previous] = await db
    .select()
    .from(nightlyEvaluations)
    .where(
      and(
        eq(nightlyEvaluations.projectId, row.projectId),
        eq(nightlyEvaluations.experimentId, row.experimentId),
        eq(nightlyEvaluations.status, "succeeded"),
        lt(nightlyEvaluations.night, row.night),
      ),
    )
    .orderBy(desc(nightlyEvaluations.night))
    .limit(1);
  const none = (note: string): { previous: NightlyRow | null; comparison: Comparison } => ({
    previous: previous ?? null,
    comparison: { compared: false, note },
  });
  if (!previous) return none("the first evaluation of the series: nothing to compare with");
  if (previous.graderVersion !== row.graderVersion) {
    return none(
      `the grader changed from ${previous.graderVersion} to ${row.graderVersion}: a new segment starts here, and evaluations under different grader versions are not compared`,
    );
  }
  if (previous.datasetId !== row.datasetId) {
    return none(
      `the holdout changed from ${previous.datasetId} to ${row.datasetId}: a new segment starts here, and evaluations on different holdouts are not compared`,
    );
  }
  const before = new Map((await allItems(db, previous.evalRunId ?? "")).map((it) => [it.itemId, it]));
  const missing = items.filter((it) => !before.has(it.itemId));
  if (missing.length || before.size !== items.length) {
    return none(
      `the evaluations scored different items (${missing.length} new, first ${missing[0]?.itemId ?? "none"}; ${before.size} before, ${items.length} now): a paired comparison needs the same items`,
    );
  }
  const current = items.map((it) => it.mean!);
  const prior = items.map((it) => before.get(it.itemId)!.mean!);
  const clusters = items.every((it) => it.cluster !== null) ? items.map((it) => it.cluster!) : undefined;
  try {
    // b − a = previous − current: the drop. The gate's one-sided test of "drop > margin".
    const cmp = comparePaired(current, prior, {
      confidence: config.alertConfidence,
      margin: config.alertMargin,
      clusters: clusters && new Set(clusters).size >= 2 ? clusters : undefined,
    });
    const regressed = cmp.ciLow > cmp.margin;
    return {
      previous,
      comparison: {
        compared: true,
        previous: previous.id,
        previousNight: previous.night,
        previousRunId: previous.evalRunId,
        n: cmp.n,
        mean: cmp.meanA,
        previousMean: cmp.meanB,
        drop: cmp.meanDiff,
        se: cmp.se,
        df: cmp.df,
        clusters: cmp.clusters,
        confidence: cmp.confidence,
        margin: cmp.margin,
        dropCiLow: cmp.ciLow,
        dropCiHigh: cmp.ciHigh,
        pValue: cmp.pValue,
        // ±Infinity when every item moved by the same amount: JSON has no infinity.
        t: Number.isFinite(cmp.t) ? cmp.t : null,
        correlation: cmp.correlation,
        regressed,
        test: "paired t-test of previous − current against the margin (one-sided), as the champion gate",
      } satisfies Compared,
    };
  } catch (err) {
    if (err instanceof ComparisonError) return none(`not compared: ${err.message}`);
    throw err;
  }
}

type Settled = Partial<typeof nightlyEvaluations.$inferInsert> & { status: "succeeded" | "failed" };

async function finish(db: Db, env: Env, row: NightlyRow, set: Settled, now: number): Promise<NightlyStatus> {
  const moved = await db
    .update(nightlyEvaluations)
    .set({ ...set, finishedAt: now, updatedAt: now })
    .where(and(eq(nightlyEvaluations.id, row.id), eq(nightlyEvaluations.status, "dispatched")))
    .returning();
  const done = moved[0];
  if (!done) {
    const [again] = await db
      .select({ status: nightlyEvaluations.status })
      .from(nightlyEvaluations)
      .where(eq(nightlyEvaluations.id, row.id));
    return again?.status ?? set.status;
  }
  log("nightly evaluation settled", { id: row.id, status: done.status, regressed: done.regressed });
  if (done.regressed) {
    await emitEventSafely(db, env, row.projectId, "evaluation.regressed", {
      experimentId: row.experimentId,
      evaluation: evaluationView(done),
      statistics: done.comparison,
    });
  }
  return done.status;
}

/** A night as the API shows it. */
export function evaluationView(r: NightlyRow, runStatus?: string | null) {
  const comparison = r.comparison as unknown as Comparison | null;
  return {
    id: r.id,
    night: r.night,
    status: r.status,
    reason: r.reason,
    runId: r.evalRunId,
    runStatus: runStatus ?? null,
    champion: r.championRunId ? { run: r.championRunId, baseModel: r.baseModel } : null,
    dataset: r.datasetId,
    grader: r.graderId ? { id: r.graderId, version: r.graderVersion } : null,
    backend: r.backend,
    mean: r.kpis?.mean ?? null,
    n: r.kpis?.n ?? null,
    kpis: r.kpis ?? null,
    graderChanged: r.graderChanged,
    previous: r.previousId,
    comparison: comparison?.compared ? comparison : null,
    comparisonNote: comparison && !comparison.compared ? comparison.note : null,
    regressed: r.regressed,
    createdAt: new Date(r.createdAt).toISOString(),
    finishedAt: r.finishedAt ? new Date(r.finishedAt).toISOString() : null,
  };
}

/** For the route: a page of an experiment's nights, newest night first, with each eval run's status. */
export async function evaluationPage(
  db: Db,
  projectId: string,
  experimentId: string,
  opts: { cursor?: string; limit: number },
) {
  const conds = [eq(nightlyEvaluations.projectId, projectId), eq(nightlyEvaluations.experimentId, experimentId)];
  if (opts.cursor) conds.push(lt(nightlyEvaluations.night, opts.cursor));
  const rows = await db
    .select()
    .from(nightlyEvaluations)
    .where(and(...conds))
    .orderBy(desc(nightlyEvaluations.night))
    .limit(opts.limit + 1);
  const more = rows.length > opts.limit;
  const page = rows.slice(0, opts.limit);
  const runIds = page.map((r) => r.evalRunId).filter((x): x is string => !!x);
  const statuses = new Map<string, string>();
  // D1 binds at most 100 parameters a statement.
  for (let i = 0; i < runIds.length; i += 90) {
    const found = await db
      .select({ id: runs.id, status: runs.status })
      .from(runs)
      .where(inArray(runs.id, runIds.slice(i, i + 90)));
    for (const f of found) statuses.set(f.id, f.status);
  }
  return {
    data: page.map((r) => evaluationView(r, r.evalRunId ? (statuses.get(r.evalRunId) ?? null) : null)),
    nextCursor: more ? (page[page.length - 1]?.night ?? null) : null,
  };
}

/** Validates a monitoring config's eval grader; answers the zod-style issues (empty when valid). */
export function evalGraderIssues(grader: unknown) {
  const outcome = validateGrader(grader);
  return outcome.valid ? [] : outcome.errors.map((e) => ({ path: ["evalGrader", ...e.path], message: e.message }));
}
