import { and, asc, eq, isNull, sql } from "drizzle-orm";
import { metricStandings } from "../../db/queries/metrics";
import type { RunRow } from "../../db/queries/runs";
import { series } from "../../db/queries/training";
import { isTerminal } from "../../db/run-lifecycle";
import { runStatusHistory, runs, sweepRungs, sweeps } from "../../db/schema";
import { decideAtRung, rungSteps, valueAtRung } from "../../gpu-jobs/asha";
import { type DispatchSpec, SPEC_OF_KIND } from "../../gpu-jobs/spec";
import type { StopDecision } from "../../gpu-jobs/stopping";
import { applyPoint, pointOf, type SearchSpace, startupRuns } from "../../gpu-jobs/sweep";
import { proposeTpe } from "../../gpu-jobs/tpe";
import type { Db } from "../env";
import { newId } from "./ids";
import type { JobMessage } from "./training";

export type SweepRow = typeof sweeps.$inferSelect;

/** What a sweep stores in its `spec`: the base run spec, the search space, and (grid/random) its points. */
export interface SweepSpec {
  base: Record<string, unknown>;
  /** Absent only in rows written by hand before searches were stored (the projects migration test). */
  search?: SearchSpace;
  points?: Record<string, unknown>[];
}

const specOf = (sweep: SweepRow) => sweep.spec as unknown as SweepSpec;

/** A training run's spec: what a sweep's points are (eval runs do not sweep). */
export type TrainingSpec = Exclude<DispatchSpec, { kind: "eval" }>;

/**
 * The run spec of a sweep's point (its kind is the base's, rft by default), or the zod issues that make it
 * invalid. The base was checked when the sweep was created; a point can still break it (a range reaching a
 * value the spec refuses).
 */
export function pointSpec(base: Record<string, unknown>, point: Record<string, number | string | boolean>) {
  const kind = ((base.kind as string | undefined) ?? "rft") as TrainingSpec["kind"];
  const schema = SPEC_OF_KIND[kind] ?? SPEC_OF_KIND.rft;
  return schema.safeParse(applyPoint({ ...base, kind }, point)) as
    | { success: true; data: TrainingSpec }
    | { success: false; error: { issues: import("zod").core.$ZodIssue[] } };
}

/** The run rows of a sweep's points, from index `first` on. */
export function sweepRunRows(
  sweep: Pick<SweepRow, "id" | "projectId" | "experimentId" | "name" | "backend">,
  specs: TrainingSpec[],
  first: number,
  pinned: { datasetSha256: string; graderRef: string | null },
  now: number,
) {
  return specs.map((s, j) => ({
    id: newId("run", now),
    projectId: sweep.projectId,
    experimentId: sweep.experimentId,
    kind: s.kind,
    status: "queued" as const,
    name: `${sweep.name ?? sweep.id} #${first + j}`,
    params: s.hyperparams,
    spec: s,
    datasetId: s.dataset,
    datasetSha256: pinned.datasetSha256,
    baseModel: s.baseModel,
    graderRef: pinned.graderRef,
    backend: sweep.backend,
    sweepId: sweep.id,
    sweepIndex: first + j,
    createdAt: now,
    updatedAt: now,
  }));
}

/**
 * Proposes a `bayes` sweep's next runs: while fewer than `parallelism` are in flight and fewer than
 * `maxRuns` exist, TPE proposes a point from the finished runs' metric and a queued run is inserted for
 * it. Safe to call any number of times and concurrently: a run's index is unique within its sweep, so a
 * second proposer for the same index inserts nothing. Returns the ids of the runs it created.
 */
export async function advanceSweep(db: Db, env: Env, sweepId: string, now = Date.now()): Promise<string[]> {
  const [sweep] = await db.select().from(sweeps).where(eq(sweeps.id, sweepId)).limit(1);
  if (!sweep || sweep.doneAt !== null) return [];
  const { base, search } = specOf(sweep);
  if (search?.method !== "bayes") return [];
  const members = await db
    .select({
      id: runs.id,
      status: runs.status,
      spec: runs.spec,
      index: runs.sweepIndex,
      sha: runs.datasetSha256,
      grader: runs.graderRef,
    })
    .from(runs)
    .where(eq(runs.sweepId, sweepId))
    .orderBy(asc(runs.sweepIndex));
  const inFlight = members.filter((m) => !isTerminal(m.status)).length;
  const room = Math.min(search.parallelism - inFlight, search.maxRuns - members.length);
  if (room <= 0) {
    if (members.length >= search.maxRuns && inFlight === 0) {
      await db
        .update(sweeps)
        .set({ doneAt: now })
        .where(and(eq(sweeps.id, sweepId), isNull(sweeps.doneAt)));
    }
    return [];
  }
  const best = new Map(
    (await metricStandings(db, sweep.projectId, { sweepId }, sweep.metric, sweep.mode)).map((s) => [s.runId, s.best]),
  );
  const sign = sweep.mode === "max" ? 1 : -1;
  const history = members
    .filter((m) => isTerminal(m.status) && typeof best.get(m.id) === "number")
    .map((m) => ({ point: pointOf(m.spec ?? {}, search), value: sign * (best.get(m.id) as number) }));
  const specs: TrainingSpec[] = [];
  for (let j = 0; j < room; j++) {
    const point = proposeTpe(search.parameters, history, {
      seed: search.seed,
      index: members.length + j,
      startup: startupRuns(search),
    });
    const parsed = pointSpec(base, point);
    if (!parsed.success) {
      const message = `proposed point ${JSON.stringify(point)} is not a valid rft spec: ${parsed.error.issues[0]?.message}`;
      await db.update(sweeps).set({ error: message, doneAt: now }).where(eq(sweeps.id, sweepId));
      return [];
    }
    specs.push(parsed.data);
  }
  const pinned = { datasetSha256: members[0]?.sha ?? "", graderRef: members[0]?.grader ?? "" };
  const rows = sweepRunRows(sweep, specs, members.length, pinned, now);
  const created: string[] = [];
  for (const row of rows) {
    // One statement a run: the unique (sweep, index) refuses a proposal another delivery already made.
    const inserted = await db.insert(runs).values(row).onConflictDoNothing().returning({ id: runs.id });
    if (!inserted.length) continue;
    await db
      .insert(runStatusHistory)
      .values({ runId: row.id, status: "queued", reason: `proposed by sweep ${sweepId}`, at: now });
    created.push(row.id);
    if (sweep.backend === "aws-batch") await env.JOBS.send({ type: "dispatch", runId: row.id } satisfies JobMessage);
  }
  return created;
}

/** The cron's backstop: advances every searching sweep that is not done (a missed message, a lost run). */
export async function advanceSearchingSweeps(db: Db, env: Env, now = Date.now()): Promise<void> {
  const open = await db
    .select({ id: sweeps.id })
    .from(sweeps)
    .where(and(isNull(sweeps.doneAt), sql`json_extract(${sweeps.spec}, '$.search.method') = 'bayes'`));
  for (const s of open) await advanceSweep(db, env, s.id, now);
}

/**
 * Successive halving for a sweep's run, after new metrics: each rung the run has reached is decided once
 * (ranked against the rows recorded at that rung before it); the first rung that cuts it stops it.
 */
export async function ashaDecision(db: Db, run: RunRow, now = Date.now()): Promise<StopDecision | null> {
  if (!run.sweepId) return null;
  const [sweep] = await db.select().from(sweeps).where(eq(sweeps.id, run.sweepId)).limit(1);
  const cfg = sweep ? specOf(sweep).search?.earlyTermination : undefined;
  if (!sweep || !cfg) return null;
  const points = await series(db, run.id, sweep.metric);
  const last = points.at(-1)?.step;
  if (last === undefined) return null;
  const steps = rungSteps(cfg);
  for (let k = 0; k < steps.length && last >= steps[k]!; k++) {
    const rows = await db
      .select()
      .from(sweepRungs)
      .where(and(eq(sweepRungs.sweepId, sweep.id), eq(sweepRungs.rung, k)))
      .orderBy(asc(sweepRungs.createdAt), asc(sweepRungs.runId));
    let mine = rows.find((r) => r.runId === run.id);
    if (!mine) {
      const value = valueAtRung(points, steps[k]!);
      if (value === undefined) continue;
      const d = decideAtRung(rows, { runId: run.id, value }, cfg.eta, sweep.mode === "max");
      const row = {
        sweepId: sweep.id,
        rung: k,
        runId: run.id,
        step: steps[k]!,
        value,
        rank: d.rank,
        n: d.n,
        keep: d.keep,
        continued: d.continue,
        createdAt: now,
      };
      await db.insert(sweepRungs).values(row).onConflictDoNothing();
      mine = row;
    }
    if (!mine.continued) {
      return {
        stop: true,
        reason: `successive halving: at rung ${k} (step ${mine.step}) ${sweep.metric} = ${mine.value} ranked ${mine.rank} of ${mine.n}; only the top ${mine.keep} go on`,
      };
    }
  }
  return null;
}
