import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { and, asc, desc, eq, gt, lt } from "drizzle-orm";
import { championHistoryOf, currentChampion, setChampion } from "../../db/queries/champions";
import { allItems } from "../../db/queries/eval-items";
import { getRun } from "../../db/queries/runs";
import { retrainingCycles, retrainingPolicies } from "../../db/schema";
import type { AppEnv } from "../env";
import { startCycle } from "../lib/cycle-triggers";
import { ApiError, conflict, notFound } from "../lib/errors";
import { newId } from "../lib/ids";
import { bearer, Cursor, errors, json, jsonBody, Limit, ListOf } from "../lib/openapi";
import { page } from "../lib/pagination";
import { projectOf } from "../lib/project";
import { type CycleRow, RetrainingPolicySpec, validateTemplate } from "../lib/retraining-policy";
import { experimentOf, IdParam } from "../lib/route-helpers";
import { ComparisonError, comparePaired } from "../lib/stats";
import { adapterOf } from "../lib/training";
import { requireAuth } from "../middleware/auth";

const key = requireAuth("key");
const RunId = z.string().regex(/^run_[0-9a-z]{1,60}$/);
const Scores = z.array(z.number().finite()).min(2).max(1_000_000);

const CompareRequest = z
  .object({
    a: z.union([RunId, Scores]).openapi({ description: "An eval run (run_…) or per-item scores" }),
    b: z.union([RunId, Scores]).openapi({ description: "The same kind as a: differences are b − a" }),
    clusters: z
      .array(z.string().max(200))
      .max(1_000_000)
      .optional()
      .openapi({ description: "Score arrays only: each item's cluster, for a cluster-robust standard error" }),
    confidence: z.number().min(0.5).max(0.9999).default(0.95),
    margin: z.number().min(-1e6).max(1e6).default(0),
  })
  .strict()
  .refine((r) => typeof r.a === typeof r.b, { message: "a and b must both be run ids or both be score arrays" })
  .openapi("CompareRequest");

const Comparison = z
  .object({
    n: z.number().int(),
    meanA: z.number(),
    meanB: z.number(),
    meanDiff: z.number().openapi({ description: "Mean of the per-item differences b − a" }),
    se: z.number().openapi({ description: "sd(d)/√n, or cluster-robust (CR1) with clusters" }),
    df: z.number(),
    clusters: z.number().int().nullable(),
    confidence: z.number(),
    margin: z.number(),
    ciLow: z.number().openapi({ description: "One-sided lower confidence bound of meanDiff" }),
    ciHigh: z.number().openapi({ description: "One-sided upper confidence bound of meanDiff" }),
    pValue: z.number().openapi({ description: "One-sided p-value of meanDiff > margin (Student's t)" }),
    t: z.number(),
    correlation: z.number().nullable(),
    better: z.enum(["a", "b", "neither"]),
    items: z.array(z.string()).optional().openapi({ description: "Run comparisons: the item ids, in pair order" }),
  })
  .openapi("Comparison");

const compareRoute = createRoute({
  method: "post",
  path: "/v1/compare",
  tags: ["evaluation"],
  summary: "Paired comparison of two eval runs on the same items, or of two score arrays",
  description:
    "Per-item differences b − a; SE = sd(d)/√n (cluster-robust when clusters are given, or when every item of the runs carries a cluster); a one-sided t test of meanDiff > margin. Runs must be succeeded eval runs with every item scored, over the same items.",
  security: bearer,
  middleware: [key] as const,
  request: { body: jsonBody(CompareRequest) },
  responses: { 200: json(Comparison, "The comparison"), ...errors(400, 401, 404, 409) },
});

/** The per-item means of a succeeded, complete eval run. */
async function evalItems(db: AppEnv["Variables"]["db"], projectId: string, id: string) {
  const run = await getRun(db, projectId, id);
  if (!run) throw notFound("run", id);
  if (run.kind !== "eval") throw new ApiError("BAD_REQUEST", `run ${id} is a ${run.kind} run, not an eval run`);
  if (run.status !== "succeeded") throw conflict(`eval ${id} is ${run.status}: only a succeeded eval can be compared`);
  const items = await allItems(db, id);
  const broken = items.filter((it) => it.invalid > 0 || it.mean === null);
  if (broken.length) {
    throw conflict(`eval ${id} has ${broken.length} item(s) whose evaluation failed; a partial eval is not compared`, {
      items: broken.slice(0, 20).map((it) => it.itemId),
    });
  }
  return items;
}

const ChampionEntry = z.object({
  run: z.string(),
  since: z.string(),
  until: z.string().nullable(),
  reason: z.string(),
  cycle: z.string().nullable(),
});
const ChampionView = z
  .object({ run: z.string().nullable(), since: z.string().nullable(), history: z.array(ChampionEntry) })
  .openapi("Champion");

const getChampion = createRoute({
  method: "get",
  path: "/v1/experiments/{id}/champion",
  tags: ["evaluation"],
  summary: "The experiment's champion and its history of promotions (run: null before the first)",
  security: bearer,
  middleware: [key] as const,
  request: { params: IdParam },
  responses: { 200: json(ChampionView, "The champion"), ...errors(401, 404) },
});

const putChampion = createRoute({
  method: "put",
  path: "/v1/experiments/{id}/champion",
  tags: ["evaluation"],
  summary: "Set the champion by hand: a succeeded run of this experiment with an adapter or lora-adapter artifact",
  security: bearer,
  middleware: [key] as const,
  request: {
    params: IdParam,
    body: jsonBody(
      z
        .object({ run: RunId, reason: z.string().trim().min(1).max(2000) })
        .strict()
        .openapi("SetChampion"),
    ),
  },
  responses: { 200: json(ChampionView, "The champion"), ...errors(400, 401, 404, 409) },
});

const PolicyView = z
  .object({
    id: z.string(),
    experimentId: z.string(),
    name: z.string(),
    feedback: z.record(z.string(), z.unknown()),
    trigger: z.record(z.string(), z.unknown()),
    curation: z.record(z.string(), z.unknown()),
    run: z.record(z.string(), z.unknown()),
    gate: z.record(z.string(), z.unknown()),
    createdAt: z.string(),
  })
  .openapi("RetrainingPolicy");

const CycleView = z
  .object({
    id: z.string(),
    policyId: z.string(),
    experimentId: z.string(),
    status: z.enum(["curating", "training", "evaluating", "succeeded", "failed"]),
    trigger: z.record(z.string(), z.unknown()),
    feedback: z.object({ since: z.string(), count: z.number().int() }),
    champion: z.string().nullable().openapi({ description: "The champion when the cycle started" }),
    curation: z.string().nullable(),
    dataset: z.string().nullable(),
    holdout: z.string().nullable(),
    run: z.string().nullable(),
    evals: z.object({ champion: z.string().nullable(), challenger: z.string().nullable() }),
    decision: z.record(z.string(), z.unknown()).nullable(),
    error: z.string().nullable(),
    log: z.array(z.object({ at: z.string(), step: z.string(), detail: z.string().optional() })),
    createdAt: z.string(),
    updatedAt: z.string(),
    endedAt: z.string().nullable(),
  })
  .openapi("RetrainingCycle");

const createPolicy = createRoute({
  method: "post",
  path: "/v1/experiments/{id}/retraining-policies",
  tags: ["retraining"],
  summary: "Create a retraining policy: curated feedback → challenger warm-started from the champion → gated promotion",
  security: bearer,
  middleware: [key] as const,
  request: { params: IdParam, body: jsonBody(RetrainingPolicySpec.openapi("CreateRetrainingPolicy")) },
  responses: { 201: json(PolicyView, "The policy"), ...errors(400, 401, 404) },
});

const listPolicies = createRoute({
  method: "get",
  path: "/v1/experiments/{id}/retraining-policies",
  tags: ["retraining"],
  summary: "The experiment's retraining policies",
  security: bearer,
  middleware: [key] as const,
  request: { params: IdParam, query: z.object({ cursor: Cursor, limit: Limit }) },
  responses: { 200: json(ListOf(PolicyView), "A page of policies"), ...errors(400, 401, 404) },
});

const getPolicy = createRoute({
  method: "get",
  path: "/v1/retraining-policies/{id}",
  tags: ["retraining"],
  summary: "A retraining policy",
  security: bearer,
  middleware: [key] as const,
  request: { params: IdParam },
  responses: { 200: json(PolicyView, "The policy"), ...errors(401, 404) },
});

const triggerPolicy = createRoute({
  method: "post",
  path: "/v1/retraining-policies/{id}/trigger",
  tags: ["retraining"],
  summary: "Fire the policy now (a cooldown does not apply; an open cycle is 409)",
  security: bearer,
  middleware: [key] as const,
  request: {
    params: IdParam,
    body: {
      required: false,
      content: {
        "application/json": {
          schema: z
            .object({ reason: z.string().max(2000).optional() })
            .strict()
            .openapi("TriggerPolicy"),
        },
      },
    },
  },
  responses: { 202: json(CycleView, "The cycle, started"), ...errors(400, 401, 404, 409) },
});

const listCycles = createRoute({
  method: "get",
  path: "/v1/retraining-policies/{id}/cycles",
  tags: ["retraining"],
  summary:
    "The policy's cycles, newest first, each with its lineage: feedback → curation → dataset → run → evals → decision",
  security: bearer,
  middleware: [key] as const,
  request: { params: IdParam, query: z.object({ cursor: Cursor, limit: Limit }) },
  responses: { 200: json(ListOf(CycleView), "A page of cycles"), ...errors(400, 401, 404) },
});

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

function policyView(p: typeof retrainingPolicies.$inferSelect) {
  const s = RetrainingPolicySpec.parse(p.spec);
  return {
    id: p.id,
    experimentId: p.experimentId,
    name: s.name,
    feedback: s.feedback,
    trigger: s.trigger,
    curation: s.curation,
    run: s.run,
    gate: s.gate,
    createdAt: iso(p.createdAt)!,
  };
}

export function cycleView(c: CycleRow) {
  return {
    id: c.id,
    policyId: c.policyId,
    experimentId: c.experimentId,
    status: c.status,
    trigger: c.trigger,
    feedback: { since: iso(c.feedbackSince)!, count: c.feedbackCount },
    champion: c.championRunId,
    curation: c.curationId,
    dataset: c.datasetId,
    holdout: c.holdoutDatasetId,
    run: c.runId,
    evals: { champion: c.championEvalId, challenger: c.challengerEvalId },
    decision: c.decision ?? null,
    error: c.error,
    log: c.log.map((l) => ({ ...l, at: iso(l.at)! })),
    createdAt: iso(c.createdAt)!,
    updatedAt: iso(c.updatedAt)!,
    endedAt: iso(c.endedAt),
  };
}

async function championView(db: AppEnv["Variables"]["db"], projectId: string, experimentId: string) {
  const history = await championHistoryOf(db, projectId, experimentId);
  const current = history.find((h) => h.until === null) ?? null;
  return {
    run: current?.runId ?? null,
    since: iso(current?.since ?? null),
    history: history.map((h) => ({
      run: h.runId,
      since: iso(h.since)!,
      until: iso(h.until),
      reason: h.reason,
      cycle: h.cycleId,
    })),
  };
}

async function ownPolicy(c: { var: AppEnv["Variables"] } & Parameters<typeof projectOf>[0], id: string) {
  const [p] = await c.var.db
    .select()
    .from(retrainingPolicies)
    .where(and(eq(retrainingPolicies.id, id), eq(retrainingPolicies.projectId, projectOf(c))))
    .limit(1);
  if (!p) throw notFound("retraining policy", id);
  return p;
}

export function retrainingRoutes(app: OpenAPIHono<AppEnv>) {
  app.openapi(compareRoute, async (c) => {
    const body = c.req.valid("json");
    const db = c.var.db;
    let a: number[];
    let b: number[];
    let clusters = body.clusters;
    let items: string[] | undefined;
    if (typeof body.a === "string" && typeof body.b === "string") {
      if (clusters) throw new ApiError("BAD_REQUEST", "clusters go with score arrays; eval runs bring their own");
      const ia = await evalItems(db, projectOf(c), body.a);
      const ib = await evalItems(db, projectOf(c), body.b);
      const inB = new Map(ib.map((it) => [it.itemId, it]));
      const inA = new Set(ia.map((it) => it.itemId));
      const onlyA = ia.filter((it) => !inB.has(it.itemId)).map((it) => it.itemId);
      const onlyB = ib.filter((it) => !inA.has(it.itemId)).map((it) => it.itemId);
      if (onlyA.length || onlyB.length) {
        throw conflict(
          `the runs scored different items: ${onlyA.length} only in ${body.a}, ${onlyB.length} only in ${body.b}; a paired comparison needs the same items`,
          { onlyInA: onlyA.slice(0, 20), onlyInB: onlyB.slice(0, 20) },
        );
      }
      a = ia.map((it) => it.mean!);
      b = ia.map((it) => inB.get(it.itemId)!.mean!);
      items = ia.map((it) => it.itemId);
      if (ia.every((it) => it.cluster !== null) && new Set(ia.map((it) => it.cluster)).size >= 2) {
        clusters = ia.map((it) => it.cluster!);
      }
    } else {
      a = body.a as number[];
      b = body.b as number[];
    }
    try {
      const cmp = comparePaired(a, b, { confidence: body.confidence, margin: body.margin, clusters });
      return c.json({ ...cmp, ...(items ? { items } : {}) }, 200);
    } catch (err) {
      if (err instanceof ComparisonError) throw new ApiError("BAD_REQUEST", err.message);
      throw err;
    }
  });

  app.openapi(getChampion, async (c) => {
    const { id } = c.req.valid("param");
    await experimentOf(c, id);
    return c.json(await championView(c.var.db, projectOf(c), id), 200);
  });

  app.openapi(putChampion, async (c) => {
    const { id } = c.req.valid("param");
    const { run: runId, reason } = c.req.valid("json");
    const db = c.var.db;
    await experimentOf(c, id);
    const run = await getRun(db, projectOf(c), runId);
    if (!run || run.experimentId !== id) {
      throw new ApiError("BAD_REQUEST", `run ${runId} is not a run of experiment ${id}`, [
        { path: ["run"], message: "not a run of this experiment" },
      ]);
    }
    if (run.status !== "succeeded") throw conflict(`run ${runId} is ${run.status}: a champion must have succeeded`);
    if (!(await adapterOf(db, runId))) {
      throw conflict(`run ${runId} has no adapter or lora-adapter artifact: there is no model to serve`);
    }
    const current = await currentChampion(db, projectOf(c), id);
    if (current?.runId !== runId) {
      await setChampion(db, { projectId: projectOf(c), experimentId: id, runId, reason, now: Date.now() });
    }
    return c.json(await championView(db, projectOf(c), id), 200);
  });

  app.openapi(createPolicy, async (c) => {
    const { id } = c.req.valid("param");
    const spec = c.req.valid("json");
    const db = c.var.db;
    await experimentOf(c, id);
    validateTemplate(spec);
    const row = {
      id: newId("pol"),
      projectId: projectOf(c),
      experimentId: id,
      name: spec.name,
      spec: spec as unknown as Record<string, unknown>,
      createdAt: Date.now(),
    };
    await db.insert(retrainingPolicies).values(row);
    return c.json(policyView(row), 201);
  });

  app.openapi(listPolicies, async (c) => {
    const { id } = c.req.valid("param");
    const { cursor, limit } = c.req.valid("query");
    await experimentOf(c, id);
    const rows = await c.var.db
      .select()
      .from(retrainingPolicies)
      .where(
        and(
          eq(retrainingPolicies.projectId, projectOf(c)),
          eq(retrainingPolicies.experimentId, id),
          cursor ? gt(retrainingPolicies.id, cursor) : undefined,
        ),
      )
      .orderBy(asc(retrainingPolicies.id))
      .limit(limit + 1);
    const p = page(rows, limit);
    return c.json({ data: p.data.map(policyView), nextCursor: p.nextCursor }, 200);
  });

  app.openapi(getPolicy, async (c) => c.json(policyView(await ownPolicy(c, c.req.valid("param").id)), 200));

  app.openapi(triggerPolicy, async (c) => {
    const policy = await ownPolicy(c, c.req.valid("param").id);
    const reason = (c.req.valid("json") as { reason?: string } | undefined)?.reason;
    const cycle = await startCycle(c.env, policy, { kind: "manual", ...(reason ? { reason } : {}) });
    if (!cycle) throw conflict(`policy ${policy.id} already has a cycle in progress`);
    return c.json(cycleView(cycle), 202);
  });

  app.openapi(listCycles, async (c) => {
    const policy = await ownPolicy(c, c.req.valid("param").id);
    const { cursor, limit } = c.req.valid("query");
    const rows = await c.var.db
      .select()
      .from(retrainingCycles)
      .where(and(eq(retrainingCycles.policyId, policy.id), cursor ? lt(retrainingCycles.id, cursor) : undefined))
      .orderBy(desc(retrainingCycles.id))
      .limit(limit + 1);
    const p = page(rows, limit);
    return c.json({ data: p.data.map(cycleView), nextCursor: p.nextCursor }, 200);
  });
}
