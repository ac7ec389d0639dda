import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { asc, eq } from "drizzle-orm";
import { getExperiment } from "../../db/queries/experiments";
import { metricStandings, rankStandings } from "../../db/queries/metrics";
import { runStatusHistory, runs, sweeps } from "../../db/schema";
import { type DispatchSpec, SPEC_OF_KIND } from "../../gpu-jobs/spec";
import { applyPoint, points, SearchSpace } from "../../gpu-jobs/sweep";
import type { AppEnv } from "../env";
import { ApiError, notFound, zodIssues } from "../lib/errors";
import { newId } from "../lib/ids";
import { bearer, errors, json, jsonBody } from "../lib/openapi";
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
    backend: z.string(),
    jobId: z.string().nullable(),
    error: z.string().nullable(),
    createdAt: z.string(),
    runs: z.array(Standing.extend({ index: z.number().nullable(), point: z.record(z.string(), z.unknown()) })),
  })
  .openapi("Sweep");

const key = requireAuth("key");

function chunks<T>(xs: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += size) out.push(xs.slice(i, i + size));
  return out;
}

const create = createRoute({
  method: "post",
  path: "/v1/experiments/{id}/sweeps",
  tags: ["sweeps"],
  summary: "Create a hyperparameter sweep: one rft run per point of a grid or random search",
  description:
    "On aws-batch the runs go as one array job (child i runs the sweep's run of index i); on local the runner claims them one by one.",
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

async function sweepView(db: AppEnv["Variables"]["db"], id: string, metric?: string, mode?: "max" | "min") {
  const [sweep] = await db.select().from(sweeps).where(eq(sweeps.id, id)).limit(1);
  if (!sweep) throw notFound("sweep", id);
  const m = metric ?? sweep.metric;
  const md = mode ?? sweep.mode;
  const members = await db
    .select({ id: runs.id, index: runs.sweepIndex, params: runs.params })
    .from(runs)
    .where(eq(runs.sweepId, id))
    .orderBy(asc(runs.sweepIndex));
  const pointsByRun = new Map(members.map((r) => [r.id, r]));
  const points = (sweep.spec as { points?: Record<string, unknown>[] }).points ?? [];
  const ranked = rankStandings(await metricStandings(db, { sweepId: id }, m, md), md).map((s) => {
    const idx = pointsByRun.get(s.runId)?.index ?? null;
    return { ...s, index: idx, point: idx === null ? {} : (points[idx] ?? {}) };
  });
  return {
    id: sweep.id,
    experimentId: sweep.experimentId,
    name: sweep.name,
    metric: m,
    mode: md,
    backend: sweep.backend,
    jobId: sweep.jobId,
    error: sweep.error,
    createdAt: new Date(sweep.createdAt).toISOString(),
    runs: ranked,
  };
}

export function sweepRoutes(app: OpenAPIHono<AppEnv>) {
  app.openapi(create, async (c) => {
    const { id: experimentId } = c.req.valid("param");
    const body = c.req.valid("json");
    const db = c.var.db;
    if (!(await getExperiment(db, experimentId))) throw notFound("experiment", experimentId);
    const grid = points(body.search);
    const kind = (body.base.kind ?? "rft") as string;
    if (kind !== "rft" && kind !== "sft" && kind !== "dpo" && kind !== "kto") {
      throw new ApiError("BAD_REQUEST", `a sweep trains: base.kind must be rft, sft, dpo or kto, not ${kind}`, [
        { path: ["base", "kind"], message: "one of rft, sft, dpo, kto" },
      ]);
    }
    const specs = grid.map((p, i) => {
      const parsed = SPEC_OF_KIND[kind].safeParse(applyPoint({ kind, ...body.base }, p));
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
    const prepared = await prepareRun(db, c.env, specs[0]!);
    const sweepId = newId("swp");
    const now = Date.now();
    const backend = specs[0]!.backend;
    const runIds = specs.map(() => newId("run"));
    const runRows = specs.map((s, i) => ({
      id: runIds[i]!,
      experimentId,
      kind: s.kind,
      status: "queued" as const,
      name: `${body.name ?? sweepId} #${i}`,
      params: s.hyperparams,
      spec: s as unknown as Record<string, unknown>,
      datasetId: s.dataset,
      datasetSha256: prepared.datasetSha256,
      baseModel: s.baseModel,
      graderRef: prepared.graderRef,
      backend,
      sweepId,
      sweepIndex: i,
      createdAt: now,
      updatedAt: now,
    }));
    const history = runIds.map((runId) => ({ runId, status: "queued" as const, reason: `sweep ${sweepId}`, at: now }));
    // D1 binds at most 100 parameters a statement: a run row has ~20 columns, a history row 4.
    await db.batch([
      db.insert(sweeps).values({
        id: sweepId,
        experimentId,
        name: body.name ?? null,
        spec: { base: body.base, search: body.search, points: grid },
        metric: body.metric,
        mode: body.mode,
        backend,
        createdAt: now,
      }),
      ...chunks(runRows, 4).map((rows) => db.insert(runs).values(rows)),
      ...chunks(history, 20).map((rows) => db.insert(runStatusHistory).values(rows)),
    ]);
    if (backend === "aws-batch") await c.env.JOBS.send({ type: "dispatch-sweep", sweepId } satisfies JobMessage);
    return c.json(await sweepView(db, sweepId), 201);
  });

  app.openapi(get, async (c) => {
    const { id } = c.req.valid("param");
    const { metric, mode } = c.req.valid("query");
    return c.json(await sweepView(c.var.db, id, metric, mode), 200);
  });
}
