import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { type getExperiment, insertExperiment, listExperiments, runCountsByStatus } from "../../db/queries/experiments";
import { metricStandings, rankStandings } from "../../db/queries/metrics";
import type { AppEnv } from "../env";
import { newId } from "../lib/ids";
import { bearer, Cursor, errors, json, jsonBody, Limit, ListOf } from "../lib/openapi";
import { page } from "../lib/pagination";
import { projectOf } from "../lib/project";
import { experimentOf, IdParam } from "../lib/route-helpers";
import { requireAuth } from "../middleware/auth";
import { idempotent } from "../middleware/idempotency";

export const CreateExperiment = z
  .object({
    name: z.string().trim().min(1).max(200),
    description: z.string().max(5000).optional(),
    tags: z.array(z.string().trim().min(1).max(64)).max(32).optional(),
  })
  .strict()
  .openapi("CreateExperiment");
export type CreateExperiment = z.infer<typeof CreateExperiment>;

export const Experiment = z
  .object({
    id: z.string().openapi({ example: "exp_01m8hexfpm3jrcx73rs9jn9jc7" }),
    name: z.string(),
    description: z.string().nullable(),
    tags: z.array(z.string()),
    createdAt: z.string(),
  })
  .openapi("Experiment");

const ExperimentDetail = Experiment.extend({ runs: z.record(z.string(), z.number()) }).openapi("ExperimentDetail");

export const MetricName = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[\w.:/@-]+$/, "metric names use letters, digits and _ . : / @ -");

export const Standing = z
  .object({
    rank: z.number().nullable().openapi({ description: "1 = best; null for runs without the metric" }),
    runId: z.string(),
    name: z.string().nullable(),
    status: z.string(),
    best: z.number().nullable(),
    bestStep: z.number().nullable(),
    last: z.number().nullable(),
    lastStep: z.number().nullable(),
    points: z.number(),
  })
  .openapi("RunStanding");

const key = requireAuth("key");

const create = createRoute({
  method: "post",
  path: "/v1/experiments",
  tags: ["experiments"],
  summary: "Create an experiment (send Idempotency-Key to make retries safe)",
  security: bearer,
  middleware: [key, idempotent] as const,
  request: { body: jsonBody(CreateExperiment) },
  responses: { 201: json(Experiment, "The experiment"), ...errors(400, 401, 409) },
});

const list = createRoute({
  method: "get",
  path: "/v1/experiments",
  tags: ["experiments"],
  summary: "List experiments, oldest first",
  security: bearer,
  middleware: [key] as const,
  request: { query: z.object({ cursor: Cursor, limit: Limit, tag: z.string().max(64).optional() }) },
  responses: { 200: json(ListOf(Experiment), "A page of experiments"), ...errors(400, 401) },
});

const get = createRoute({
  method: "get",
  path: "/v1/experiments/{id}",
  tags: ["experiments"],
  summary: "An experiment, with its run counts by status",
  security: bearer,
  middleware: [key] as const,
  request: { params: IdParam },
  responses: { 200: json(ExperimentDetail, "The experiment"), ...errors(401, 404) },
});

const compare = createRoute({
  method: "get",
  path: "/v1/experiments/{id}/compare",
  tags: ["experiments"],
  summary: "Rank the experiment's runs by the best value of one metric",
  description:
    "Every run of the experiment with its best (by mode) and last value of the metric; runs without it come last.",
  security: bearer,
  middleware: [key] as const,
  request: { params: IdParam, query: z.object({ metric: MetricName, mode: z.enum(["max", "min"]).default("max") }) },
  responses: {
    200: json(z.object({ metric: z.string(), mode: z.enum(["max", "min"]), runs: z.array(Standing) }), "Runs ranked"),
    ...errors(400, 401, 404),
  },
});

type ExperimentRow = NonNullable<Awaited<ReturnType<typeof getExperiment>>>;
const view = (r: ExperimentRow) => ({
  id: r.id,
  name: r.name,
  description: r.description,
  tags: r.tags,
  createdAt: new Date(r.createdAt).toISOString(),
});

export function experimentRoutes(app: OpenAPIHono<AppEnv>) {
  app.openapi(create, async (c) => {
    const body = c.req.valid("json");
    const row = await insertExperiment(c.var.db, {
      id: newId("exp"),
      projectId: projectOf(c),
      name: body.name,
      description: body.description ?? null,
      tags: body.tags ?? [],
      createdAt: Date.now(),
    });
    return c.json(view(row), 201);
  });

  app.openapi(list, async (c) => {
    const { cursor, limit, tag } = c.req.valid("query");
    const p = page(await listExperiments(c.var.db, projectOf(c), { cursor, limit, tag }), limit);
    return c.json({ data: p.data.map(view), nextCursor: p.nextCursor }, 200);
  });

  app.openapi(get, async (c) => {
    const { id } = c.req.valid("param");
    const row = await experimentOf(c, id);
    return c.json({ ...view(row), runs: await runCountsByStatus(c.var.db, projectOf(c), id) }, 200);
  });

  app.openapi(compare, async (c) => {
    const { id } = c.req.valid("param");
    const { metric, mode } = c.req.valid("query");
    await experimentOf(c, id);
    const rows = await metricStandings(c.var.db, projectOf(c), { experimentId: id }, metric, mode);
    return c.json({ metric, mode, runs: rankStandings(rows, mode) }, 200);
  });
}
