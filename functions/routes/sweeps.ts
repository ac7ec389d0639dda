import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { and, asc, eq } from "drizzle-orm";
import { getExperiment } from "../../db/queries/experiments";
import { metricStandings, rankStandings } from "../../db/queries/metrics";
import { runStatusHistory, runs, sweepRungs, sweeps } from "../../db/schema";
import type { DispatchSpec } from "../../gpu-jobs/spec";
import { type Point, pointOf, points, SearchSpace, startupRuns } from "../../gpu-jobs/sweep";
import { proposeTpe } from "../../gpu-jobs/tpe";
import type { AppEnv } from "../env";
import { ApiError, notFound, zodIssues } from "../lib/errors";
import { newId } from "../lib/ids";
import { bearer, errors, json, jsonBody } from "../lib/openapi";
import { projectOf } from "../lib/project";
import { pointSpec, type SweepSpec, sweepRunRows } from "../lib/sweep-search";
import { type JobMessage, prepareRun } from "../lib/training";
import { requireAuth } from "../middleware/auth";
import { idempotent } from "../middleware/idempotency";
import { MetricName, Standing } from "./experiments";

const CreateSweep = z
  .object({
    name: z.string().trim().min(1).max(200).optional(),
    base: z.record(z.string(), z.unknown()).openapi({
      description:
        "A run spec of kind rft (the default), sft, dpo or kto (see RftSpec, SftSpec…); each point overrides some of it",
    }),
    search: SearchSpace,
    metric: MetricName.default("reward/mean").openapi({ description: "The metric that ranks the sweep's runs" }),
    mode: z.enum(["max", "min"]).default("max"),
  })
  .strict()
  .openapi("CreateSweep");

const SweepView = z
  .object({
    id: z.string(),
    experimentId: z.string(),
    name: z.string().nullable(),
    metric: z.string(),
    mode: z.enum(["max", "min"]),
    method: z.enum(["grid", "random", "bayes"]),
    backend: z.string(),
    jobId: z.string().nullable(),
    error: z.string().nullable(),
    searching: z.boolean().openapi({ description: "A bayes sweep that may still propose runs" }),
    createdAt: z.string(),
    runs: z.array(
      Standing.extend({
        index: z.number().nullable(),
        point: z.record(z.string(), z.unknown()),
        cut: z
          .object({
            rung: z.number(),
            step: z.number(),
            value: z.number(),
            rank: z.number(),
            n: z.number(),
            keep: z.number(),
          })
          .nullable()
          .openapi({ description: "Where successive halving stopped this run, or null" }),
        rungs: z.array(
          z.object({
            rung: z.number(),
            step: z.number(),
            value: z.number(),
            rank: z.number(),
            n: z.number(),
            continued: z.boolean(),
          }),
        ),
      }),
    ),
  })
  .openapi("Sweep");

const key = requireAuth("key");

/** `point` with one range parameter at a time moved to its minimum, then to its maximum. */
function rangeEnds(search: SearchSpace, point: Point): Point[] {
  return Object.entries(search.parameters).flatMap(([k, v]) =>
    Array.isArray(v)
      ? v.map((x) => ({ ...point, [k]: x }))
      : [
          { ...point, [k]: v.min },
          { ...point, [k]: v.max },
        ],
  );
}

function chunks<T>(xs: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += size) out.push(xs.slice(i, i + size));
  return out;
}

const create = createRoute({
  method: "post",
  path: "/v1/experiments/{id}/sweeps",
  tags: ["sweeps"],
  summary: "Create a hyperparameter sweep: grid, random or Bayesian (TPE) search, optionally with successive halving",
  description:
    "Grid and random: one rft run per point, created at once; on aws-batch they go as one array job (child i runs the sweep's run of index i). Bayes: `parallelism` runs at a time, each next point proposed by TPE from the finished runs' metric when a run ends; on aws-batch each goes as its own job. `search.earlyTermination` (ASHA) stops runs that fall out of the top 1/eta at a rung. On local the runner claims runs one by one.",
  security: bearer,
  middleware: [key, idempotent] as const,
  request: { params: z.object({ id: z.string().min(1).max(64) }), body: jsonBody(CreateSweep) },
  responses: { 201: json(SweepView, "The sweep and its runs"), ...errors(400, 401, 404, 409) },
});

const get = createRoute({
  method: "get",
  path: "/v1/sweeps/{id}",
  tags: ["sweeps"],
  summary: "A sweep with its runs ranked by a metric",
  security: bearer,
  middleware: [key] as const,
  request: {
    params: z.object({ id: z.string().min(1).max(64) }),
    query: z.object({ metric: MetricName.optional(), mode: z.enum(["max", "min"]).optional() }),
  },
  responses: { 200: json(SweepView, "The sweep"), ...errors(400, 401, 404) },
});

async function sweepView(
  db: AppEnv["Variables"]["db"],
  projectId: string,
  id: string,
  metric?: string,
  mode?: "max" | "min",
) {
  const [sweep] = await db
    .select()
    .from(sweeps)
    .where(and(eq(sweeps.projectId, projectId), eq(sweeps.id, id)))
    .limit(1);
  if (!sweep) throw notFound("sweep", id);
  const m = metric ?? sweep.metric;
  const md = mode ?? sweep.mode;
  const spec = sweep.spec as unknown as SweepSpec;
  const [members, rungs] = await db.batch([
    db
      .select({ id: runs.id, index: runs.sweepIndex, spec: runs.spec, stopReason: runs.stopReason })
      .from(runs)
      .where(and(eq(runs.projectId, projectId), eq(runs.sweepId, id)))
      .orderBy(asc(runs.sweepIndex)),
    db.select().from(sweepRungs).where(eq(sweepRungs.sweepId, id)).orderBy(asc(sweepRungs.rung)),
  ]);
  const byRun = new Map(members.map((r) => [r.id, r]));
  const cutAt = new Map(rungs.filter((r) => !r.continued).map((r) => [r.runId, r]));
  const rungsOf = (runId: string) =>
    rungs
      .filter((r) => r.runId === runId)
      .map((r) => ({ rung: r.rung, step: r.step, value: r.value, rank: r.rank, n: r.n, continued: r.continued }));
  const ranked = rankStandings(await metricStandings(db, projectId, { sweepId: id }, m, md), md).map((s) => {
    const member = byRun.get(s.runId);
    const idx = member?.index ?? null;
    // Grid and random sweeps stored their points; a bayes sweep's point is read back from the run's spec.
    const point =
      idx === null ? {} : (spec.points?.[idx] ?? (spec.search ? pointOf(member?.spec ?? {}, spec.search) : {}));
    const cut = cutAt.get(s.runId);
    return {
      ...s,
      index: idx,
      point,
      cut: cut ? { rung: cut.rung, step: cut.step, value: cut.value, rank: cut.rank, n: cut.n, keep: cut.keep } : null,
      rungs: rungsOf(s.runId),
    };
  });
  return {
    id: sweep.id,
    experimentId: sweep.experimentId,
    name: sweep.name,
    // Sweeps stored before searching sweeps existed carry no method: they were grids or random searches.
    method: spec.search?.method ?? "grid",
    metric: m,
    mode: md,
    backend: sweep.backend,
    jobId: sweep.jobId,
    error: sweep.error,
    searching: spec.search?.method === "bayes" && sweep.doneAt === null,
    createdAt: new Date(sweep.createdAt).toISOString(),
    runs: ranked,
  };
}

export function sweepRoutes(app: OpenAPIHono<AppEnv>) {
  app.openapi(create, async (c) => {
    const { id: experimentId } = c.req.valid("param");
    const body = c.req.valid("json");
    const db = c.var.db;
    const projectId = projectOf(c);
    if (!(await getExperiment(db, projectId, experimentId))) throw notFound("experiment", experimentId);
    const search = body.search;
    const kind = (body.base.kind ?? "rft") as string;
    if (kind !== "rft" && kind !== "sft" && kind !== "dpo" && kind !== "kto") {
      throw new ApiError("BAD_REQUEST", `a sweep trains: base.kind must be rft, sft, dpo or kto, not ${kind}`, [
        { path: ["base", "kind"], message: "one of rft, sft, dpo, kto" },
      ]);
    }
    const initial =
      search.method === "bayes"
        ? Array.from({ length: Math.min(search.parallelism, search.maxRuns) }, (_, index) =>
            proposeTpe(search.parameters, [], { seed: search.seed, index, startup: startupRuns(search) }),
          )
        : points(search);
    // A bayes sweep's later points are not known yet: its ranges' ends must make valid specs too.
    const probes = search.method === "bayes" ? [...initial, ...rangeEnds(search, initial[0]!)] : initial;
    const specs = probes.map((p, i) => {
      const parsed = pointSpec(body.base, p);
      if (!parsed.success) {
        throw new ApiError(
          "BAD_REQUEST",
          `point ${i} of the sweep (${JSON.stringify(p)}) is not a valid ${kind} spec`,
          zodIssues(parsed.error.issues).map((iss) => ({ ...iss, path: ["base", ...iss.path] })),
        );
      }
      return parsed.data as Exclude<DispatchSpec, { kind: "eval" }>;
    });
    // Every point shares the grader and dataset, so one check covers them all.
    const prepared = await prepareRun(db, c.env, projectId, specs[0]!);
    const sweepId = newId("swp");
    const now = Date.now();
    const backend = specs[0]!.backend;
    const sweep = { id: sweepId, projectId, experimentId, name: body.name ?? null, backend };
    const runRows = sweepRunRows(sweep, specs.slice(0, initial.length), 0, prepared, now);
    const history = runRows.map((r) => ({
      runId: r.id,
      status: "queued" as const,
      reason: `sweep ${sweepId}`,
      at: now,
    }));
    // D1 binds at most 100 parameters a statement: a run row binds all its 26 columns, a history row 4.
    await db.batch([
      db.insert(sweeps).values({
        ...sweep,
        spec: { base: body.base, search, ...(search.method === "bayes" ? {} : { points: initial }) },
        metric: body.metric,
        mode: body.mode,
        createdAt: now,
      }),
      ...chunks(runRows, 3).map((rows) => db.insert(runs).values(rows)),
      ...chunks(history, 20).map((rows) => db.insert(runStatusHistory).values(rows)),
    ]);
    if (backend === "aws-batch") {
      // Grid and random points go as one array job; bayes points are proposed one by one, so each run goes alone.
      if (search.method === "bayes") {
        for (const r of runRows) await c.env.JOBS.send({ type: "dispatch", runId: r.id } satisfies JobMessage);
      } else await c.env.JOBS.send({ type: "dispatch-sweep", sweepId } satisfies JobMessage);
    }
    return c.json(await sweepView(db, projectId, sweepId), 201);
  });

  app.openapi(get, async (c) => {
    const { id } = c.req.valid("param");
    const { metric, mode } = c.req.valid("query");
    return c.json(await sweepView(c.var.db, projectOf(c), id, metric, mode), 200);
  });
}
