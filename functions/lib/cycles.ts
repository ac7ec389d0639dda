import { and, eq, isNull, sql } from "drizzle-orm";
import * as z from "zod";
import { createDb, type Db } from "../../db/client";
import { promotionOfCycle, setChampion } from "../../db/queries/champions";
import { allItems, type ItemScores } from "../../db/queries/eval-items";
import { getRun } from "../../db/queries/runs";
import { isTerminal } from "../../db/run-lifecycle";
import {
  type CycleStatus,
  championHistory,
  curations,
  datasets,
  retrainingCycles,
  retrainingPolicies,
} from "../../db/schema";
import { type DispatchSpec, SPEC_OF_KIND } from "../../gpu-jobs/spec";
import { prepareCuration } from "./curation/job";
import { ApiError } from "./errors";
import { newId } from "./ids";
import { type CycleRow, OPEN_CYCLE, RetrainingPolicySpec, validateTemplate } from "./retraining-policy";
import { comparePaired } from "./stats";
import { createDispatchedRun, type JobMessage } from "./training";

/**
 * A retraining cycle's steps: curate the new feedback, train the candidate, evaluate it beside the champion
 * on the holdout, and decide. Policies, their validation and what starts a cycle live in
 * retraining-policy.ts and cycle-triggers.ts.
 */

export async function currentChampionRow(db: Db, experimentId: string) {
  const [row] = await db
    .select()
    .from(championHistory)
    .where(and(eq(championHistory.experimentId, experimentId), isNull(championHistory.until)))
    .limit(1);
  return row ?? null;
}

const log = (msg: string, data: Record<string, unknown>) =>
  console.log(JSON.stringify({ level: "info", msg, ...data }));

async function getCycle(db: Db, id: string) {
  const [row] = await db.select().from(retrainingCycles).where(eq(retrainingCycles.id, id)).limit(1);
  return row ?? null;
}

async function getPolicy(db: Db, id: string) {
  const [row] = await db.select().from(retrainingPolicies).where(eq(retrainingPolicies.id, id)).limit(1);
  return row ?? null;
}

/** Appends to the cycle's log (json_insert, so concurrent steps never overwrite each other's entries). */
function logEntry(step: string, detail: string | undefined, now: number) {
  return sql`json_insert(${retrainingCycles.log}, '$[#]', json(${JSON.stringify({ at: now, step, ...(detail ? { detail } : {}) })}))`;
}

/** Moves a cycle from `from` with `set`, only if it is still there; answers whether it moved. */
async function transition(
  db: Db,
  cycle: CycleRow,
  from: CycleStatus,
  set: Partial<typeof retrainingCycles.$inferInsert>,
  step: string,
  detail: string | undefined,
  now: number,
): Promise<boolean> {
  const ended = set.status === "succeeded" || set.status === "failed";
  const res = await db
    .update(retrainingCycles)
    .set({ ...set, updatedAt: now, ...(ended ? { endedAt: now } : {}), log: logEntry(step, detail, now) as never })
    .where(and(eq(retrainingCycles.id, cycle.id), eq(retrainingCycles.status, from)))
    .returning({ id: retrainingCycles.id });
  return res.length > 0;
}

/** Writes an id into an empty column of the cycle (first writer wins); answers the id that is there now. */
async function reserve(
  db: Db,
  cycleId: string,
  column: "curationId" | "runId" | "championEvalId" | "challengerEvalId",
  id: string,
): Promise<string> {
  const col = retrainingCycles[column];
  await db
    .update(retrainingCycles)
    .set({ [column]: id })
    .where(and(eq(retrainingCycles.id, cycleId), sql`${col} is null`));
  const again = await getCycle(db, cycleId);
  return (again?.[column] as string | null) ?? id;
}

const fail = (db: Db, cycle: CycleRow, reason: string, now: number, extra: Partial<CycleRow> = {}) =>
  transition(db, cycle, cycle.status, { status: "failed", error: reason, ...extra }, "failed", reason, now);

type Outcome = "waiting" | "advanced" | "ended";

/**
 * Takes every step of a cycle that can be taken now, and stops where it has to wait (a curation or a run in
 * progress). Safe to call at any time and any number of times, concurrently too: each step's output id is
 * reserved on the cycle before the thing is created, creation is idempotent by that id, and status moves by
 * guarded updates. Answers the status it left the cycle in.
 */
export async function advanceCycle(
  env: Env,
  cycleId: string,
  now = Date.now(),
  opts: { poll?: boolean } = {},
): Promise<CycleStatus | null> {
  const db = createDb(env.DB);
  for (let i = 0; i < 8; i++) {
    const cycle = await getCycle(db, cycleId);
    if (!cycle) return null;
    if (!OPEN_CYCLE.includes(cycle.status)) return cycle.status;
    const policy = await getPolicy(db, cycle.policyId);
    if (!policy) {
      await fail(db, cycle, `policy ${cycle.policyId} no longer exists`, now);
      continue;
    }
    const spec = RetrainingPolicySpec.parse(policy.spec);
    let outcome: Outcome;
    try {
      if (cycle.status === "curating") outcome = await curateStep(db, env, cycle, spec, now, opts.poll ?? false);
      else if (cycle.status === "training") outcome = await trainStep(db, env, cycle, spec, now);
      else outcome = await evaluateStep(db, env, cycle, spec, now);
    } catch (err) {
      // A refusal by the platform (the curated rows do not fit the kind, a missing dataset) ends the cycle.
      if (err instanceof ApiError && err.status < 500) {
        await fail(db, cycle, `${cycle.status}: ${err.message}`, now);
        continue;
      }
      if (err instanceof z.ZodError) {
        const first = err.issues[0];
        await fail(
          db,
          cycle,
          `${cycle.status}: the filled-in spec is invalid: ${first?.path.join(".")}: ${first?.message}`,
          now,
        );
        continue;
      }
      throw err;
    }
    if (outcome === "waiting") return cycle.status;
  }
  return (await getCycle(db, cycleId))?.status ?? null;
}

/** While a curation runs, the cycle looks again this often through the queue (the cron covers longer waits). */
const CURATION_POLL_SECONDS = 5;
const CURATION_POLL_FOR_MS = 30 * 60_000;

/** `poll`: this call came from the queue, so it keeps the cycle's one chain of delayed look-agains going. */
async function curateStep(db: Db, env: Env, cycle: CycleRow, spec: RetrainingPolicySpec, now: number, poll: boolean) {
  const curationId = cycle.curationId ?? (await reserve(db, cycle.id, "curationId", newId("cur", now)));
  let [cur] = await db.select().from(curations).where(eq(curations.id, curationId)).limit(1);
  if (!cur) {
    const request = {
      ...(spec.curation.name ? { name: spec.curation.name } : {}),
      feedback: { sources: spec.feedback.sources, since: new Date(cycle.feedbackSince).toISOString() },
      into: spec.curation.into,
      ...(spec.curation.dedup ? { dedup: spec.curation.dedup } : {}),
      // The contamination guard: nothing that (nearly) repeats a prompt of the frozen holdout.
      ...(spec.curation.holdoutOf || cycle.holdoutDatasetId
        ? { holdoutOf: spec.curation.holdoutOf ?? cycle.holdoutDatasetId }
        : {}),
      ...(spec.curation.base ? { base: spec.curation.base } : {}),
    };
    // The curation job itself (functions/lib/curation/job.ts), under the id the cycle reserved: a redelivered
    // step prepares nothing twice. A refusal (a bad request, an unknown dataset) ends the cycle below.
    await prepareCuration(db, cycle.projectId, request, now, { id: curationId });
    await env.JOBS.send({ type: "curate", curationId, chunk: 0 } satisfies JobMessage);
    await db
      .update(retrainingCycles)
      .set({ log: logEntry("curation queued", curationId, now) as never, updatedAt: now })
      .where(eq(retrainingCycles.id, cycle.id));
    [cur] = await db.select().from(curations).where(eq(curations.id, curationId)).limit(1);
  }
  if (!cur) return "waiting" as const;
  if (cur.status === "succeeded") {
    if (!cur.datasetId) {
      await fail(db, cycle, `curation ${cur.id} succeeded without a dataset`, now);
      return "advanced" as const;
    }
    await transition(
      db,
      cycle,
      "curating",
      { status: "training", datasetId: cur.datasetId },
      "curated",
      `${cur.id} → ${cur.datasetId}`,
      now,
    );
    return "advanced" as const;
  }
  if (cur.status === "failed") {
    await fail(db, cycle, `curation ${cur.id} failed: ${cur.error ?? "no reason given"}`, now);
    return "advanced" as const;
  }
  if (poll && now - cur.createdAt < CURATION_POLL_FOR_MS) {
    await env.JOBS.send({ type: "cycle", cycleId: cycle.id } satisfies JobMessage, {
      delaySeconds: CURATION_POLL_SECONDS,
    });
  }
  return "waiting" as const;
}

const template = validateTemplate;

/** A run created by a step whose dispatch message was lost (a crash just after the insert) is sent again. */
const REDISPATCH_AFTER_MS = 5 * 60_000;
async function redispatchIfLost(env: Env, run: NonNullable<Awaited<ReturnType<typeof getRun>>>, now: number) {
  if (
    run.status === "queued" &&
    run.backend === "aws-batch" &&
    !run.jobId &&
    now - run.createdAt > REDISPATCH_AFTER_MS
  ) {
    await env.JOBS.send({ type: "dispatch", runId: run.id } satisfies JobMessage);
  }
}

async function trainStep(db: Db, env: Env, cycle: CycleRow, spec: RetrainingPolicySpec, now: number) {
  const runId = cycle.runId ?? (await reserve(db, cycle.id, "runId", newId("run", now)));
  let run = await getRun(db, cycle.projectId, runId);
  if (!run) {
    const t = template(spec);
    const kind = t.kind as "sft" | "dpo" | "kto" | "rft";
    const parsed = SPEC_OF_KIND[kind].parse({
      ...spec.run,
      backend: (spec.run.backend as string | undefined) ?? "local",
      dataset: cycle.datasetId,
      ...(cycle.championRunId ? { warmStart: cycle.championRunId } : {}),
      name: `${spec.name}: challenger (${cycle.id})`,
    }) as DispatchSpec;
    await createDispatchedRun(db, env, {
      id: runId,
      projectId: cycle.projectId,
      experimentId: cycle.experimentId,
      spec: parsed,
      now,
      reason: `retraining cycle ${cycle.id}`,
    });
    run = await getRun(db, cycle.projectId, runId);
    if (!run) return "waiting" as const;
  }
  if (run.status === "succeeded") {
    await transition(db, cycle, "training", { status: "evaluating" }, "trained", run.id, now);
    return "advanced" as const;
  }
  if (isTerminal(run.status)) {
    await fail(
      db,
      cycle,
      `training run ${run.id} ended ${run.status}: ${run.error ?? run.stopReason ?? "no reason given"}`,
      now,
    );
    return "advanced" as const;
  }
  return "waiting" as const;
}

async function ensureEval(
  db: Db,
  env: Env,
  cycle: CycleRow,
  spec: RetrainingPolicySpec,
  which: "championEvalId" | "challengerEvalId",
  adapterOf: string | null,
  holdout: string,
  now: number,
) {
  const id = cycle[which] ?? (await reserve(db, cycle.id, which, newId("run", now)));
  const existing = await getRun(db, cycle.projectId, id);
  if (existing) return existing;
  const t = template(spec);
  const grader = spec.gate.grader ?? ("grader" in t ? t.grader : undefined);
  const evalSpec = SPEC_OF_KIND.eval.parse({
    kind: "eval",
    name: `${spec.name}: ${which === "championEvalId" ? "champion" : "challenger"} on the holdout (${cycle.id})`,
    model: { baseModel: t.kind === "eval" ? t.model.baseModel : t.baseModel, ...(adapterOf ? { adapterOf } : {}) },
    dataset: holdout,
    split: "holdout",
    grader,
    samplesPerItem: 1,
    backend: t.backend,
    ...(adapterOf ? { parentRunId: adapterOf } : {}),
  });
  await createDispatchedRun(db, env, {
    id,
    projectId: cycle.projectId,
    experimentId: cycle.experimentId,
    spec: evalSpec,
    now,
    reason: `retraining cycle ${cycle.id}`,
  });
  return getRun(db, cycle.projectId, id);
}

async function evaluateStep(db: Db, env: Env, cycle: CycleRow, spec: RetrainingPolicySpec, now: number) {
  const holdout = cycle.holdoutDatasetId ?? spec.gate.holdout ?? cycle.datasetId;
  if (!holdout) {
    await fail(db, cycle, "no holdout dataset to evaluate on", now);
    return "advanced" as const;
  }
  if (!cycle.holdoutDatasetId) {
    await db
      .update(retrainingCycles)
      .set({ holdoutDatasetId: holdout })
      .where(and(eq(retrainingCycles.id, cycle.id), sql`${retrainingCycles.holdoutDatasetId} is null`));
  }
  const champ = await ensureEval(db, env, cycle, spec, "championEvalId", cycle.championRunId, holdout, now);
  const chall = await ensureEval(db, env, cycle, spec, "challengerEvalId", cycle.runId, holdout, now);
  if (!champ || !chall) return "waiting" as const;
  for (const [who, run] of [
    ["champion", champ],
    ["challenger", chall],
  ] as const) {
    if (isTerminal(run.status) && run.status !== "succeeded") {
      await fail(
        db,
        cycle,
        `the ${who} eval ${run.id} ended ${run.status}: ${run.error ?? run.stopReason ?? "no reason given"}; nothing is promoted on a failed eval`,
        now,
      );
      return "advanced" as const;
    }
  }
  if (champ.status !== "succeeded" || chall.status !== "succeeded") {
    await redispatchIfLost(env, champ, now);
    await redispatchIfLost(env, chall, now);
    return "waiting" as const;
  }
  await decide(db, cycle, spec, holdout, champ.id, chall.id, now);
  return "advanced" as const;
}

/** Why an eval's items cannot be used, or null: every item of the split scored, each with no failed sample. */
function partial(items: ItemScores[], expected: number, runId: string): string | null {
  if (items.length !== expected) {
    return `eval ${runId} scored ${items.length} of the holdout's ${expected} items`;
  }
  const broken = items.filter((it) => it.invalid > 0 || it.scores.length === 0);
  if (broken.length) {
    return `eval ${runId} has ${broken.length} item(s) whose evaluation failed (first: ${broken[0]!.itemId})`;
  }
  return null;
}

async function decide(
  db: Db,
  cycle: CycleRow,
  spec: RetrainingPolicySpec,
  holdout: string,
  championEval: string,
  challengerEval: string,
  now: number,
) {
  const [ds] = await db.select().from(datasets).where(eq(datasets.id, holdout)).limit(1);
  const a = await allItems(db, championEval);
  const b = await allItems(db, challengerEval);
  const expected = ds?.holdoutRows ?? -1;
  const notUsable = partial(a, expected, championEval) ?? partial(b, expected, challengerEval);
  const refuse = (reason: string) =>
    fail(db, cycle, `${reason}: nothing is promoted`, now, { decision: { promoted: false, reason } });
  if (notUsable) {
    await refuse(`partial eval: ${notUsable}`);
    return;
  }
  const byId = new Map(b.map((it) => [it.itemId, it]));
  const onlyA = a.filter((it) => !byId.has(it.itemId)).map((it) => it.itemId);
  const ids = new Set(a.map((it) => it.itemId));
  const onlyB = b.filter((it) => !ids.has(it.itemId)).map((it) => it.itemId);
  if (onlyA.length || onlyB.length) {
    await refuse(
      `the evals scored different items (${onlyA.length} only in the champion's, ${onlyB.length} only in the challenger's; first: ${onlyA[0] ?? onlyB[0]})`,
    );
    return;
  }
  const clusters = a.every((it) => it.cluster !== null) ? a.map((it) => it.cluster!) : undefined;
  const cmp = comparePaired(
    a.map((it) => it.mean!),
    a.map((it) => byId.get(it.itemId)!.mean!),
    {
      confidence: spec.gate.confidence,
      margin: spec.gate.margin,
      clusters: clusters && new Set(clusters).size >= 2 ? clusters : undefined,
    },
  );
  const { confidence, margin, minItems } = spec.gate;
  const fmt = (x: number) => (Number.isFinite(x) ? x.toFixed(4) : String(x));
  let promoted = cmp.n >= minItems && cmp.ciLow > margin;
  let reason = promoted
    ? `promoted: the ${confidence} lower bound of challenger − champion is ${fmt(cmp.ciLow)} > margin ${margin} (mean ${fmt(cmp.meanDiff)}, p ${cmp.pValue.toPrecision(3)}, n ${cmp.n})`
    : cmp.n < minItems
      ? `rejected: only ${cmp.n} items compared, fewer than minItems ${minItems}`
      : `rejected: the ${confidence} lower bound of challenger − champion is ${fmt(cmp.ciLow)}, not above margin ${margin} (mean ${fmt(cmp.meanDiff)}, p ${cmp.pValue.toPrecision(3)}, n ${cmp.n})`;
  if (promoted && cycle.runId) {
    const already = await promotionOfCycle(db, cycle.id);
    if (!already) {
      const ok = await setChampion(db, {
        projectId: cycle.projectId,
        experimentId: cycle.experimentId,
        runId: cycle.runId,
        reason: `${reason} (cycle ${cycle.id})`,
        cycleId: cycle.id,
        now,
        expect: cycle.championRunId,
      });
      if (!ok) {
        promoted = false;
        reason =
          "rejected: the champion changed while the cycle ran; its comparison is against a model that is no longer champion";
      }
    }
  }
  const decision = { promoted, reason, ...cmp, minItems, championEval, challengerEval };
  const moved = await transition(
    db,
    cycle,
    "evaluating",
    { status: "succeeded", decision },
    promoted ? "promoted" : "rejected",
    reason,
    now,
  );
  if (moved) log(promoted ? "challenger promoted" : "challenger rejected", { cycleId: cycle.id, reason });
}
