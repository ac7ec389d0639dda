import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { and, desc, eq, inArray, lt } from "drizzle-orm";
import type { Context } from "hono";
import { getDataset } from "../../db/queries/datasets";
import { driftChecks, experimentMonitoring, feedbackSources } from "../../db/schema";
import type { AppEnv } from "../env";
import { computeDrift, getMonitoring, parseWindow } from "../lib/drift-check";
import { badRequest } from "../lib/errors";
import { evalGraderIssues, evaluationPage } from "../lib/nightly";
import { bearer, Cursor, errors, json, jsonBody, Limit, ListOf } from "../lib/openapi";
import { page } from "../lib/pagination";
import { projectOf } from "../lib/project";
import { experimentOf, IdParam } from "../lib/route-helpers";
import { requireAuth } from "../middleware/auth";

const WindowParam = z
  .string()
  .regex(/^\d{1,5}[mhd]$/, 'a window such as "30m", "24h" or "7d"')
  .refine((w) => parseWindow(w) !== null, "windows are between 5 minutes and 30 days");

export const MonitoringConfig = z
  .object({
    referenceDataset: z
      .string()
      .regex(/^ds_\w+$/)
      .nullable()
      .optional()
      .openapi({
        description: "Dataset whose train inputs are the drift reference; default: the champion's training dataset",
      }),
    window: WindowParam.default("24h"),
    sources: z
      .array(z.string().regex(/^fs_\w+$/))
      .max(50)
      .nullable()
      .optional()
      .openapi({ description: "Feedback sources of the current inputs; default: every source tied to the experiment" }),
    alertMargin: z
      .number()
      .min(0)
      .max(1)
      .default(0.02)
      .openapi({ description: "Largest tolerated drop of the nightly KPI" }),
    nightlyAtUtc: z
      .string()
      .regex(/^([01]\d|2[0-3]):[0-5]\d$/, "HH:MM in UTC")
      .default("02:00")
      .openapi({ description: "Time (UTC) after which the champion's nightly evaluation runs" }),
    evalGrader: z.record(z.string(), z.unknown()).nullable().optional().openapi({
      description:
        "Grader config of the nightly evaluation; default: the experiment's eval grader (its newest retraining policy's gate grader, else the champion run's grader)",
    }),
    evalDataset: z
      .string()
      .regex(/^ds_\w+$/)
      .nullable()
      .optional()
      .openapi({
        description: "Dataset whose holdout split is the nightly frozen holdout; default: the champion's dataset",
      }),
    alertConfidence: z
      .number()
      .min(0.5)
      .max(0.9999)
      .default(0.95)
      .openapi({ description: "Confidence of the paired test that judges a nightly drop against alertMargin" }),
  })
  .strict()
  .openapi("MonitoringConfig");
export type MonitoringConfig = z.infer<typeof MonitoringConfig>;

const Monitoring = z
  .object({
    experimentId: z.string(),
    monitored: z.boolean().openapi({ description: "false: no config stored, the cron does not check this experiment" }),
    referenceDataset: z.string().nullable(),
    window: z.string(),
    sources: z.array(z.string()).nullable(),
    alertMargin: z.number(),
    nightlyAtUtc: z.string(),
    evalGrader: z.record(z.string(), z.unknown()).nullable(),
    evalDataset: z.string().nullable(),
    alertConfidence: z.number(),
    updatedAt: z.string().nullable(),
  })
  .openapi("Monitoring");

const NightlyComparison = z
  .object({
    compared: z.literal(true),
    previous: z.string().openapi({ description: "The evaluation compared with (same grader version and holdout)" }),
    previousNight: z.string(),
    previousRunId: z.string().nullable(),
    n: z.number().int(),
    mean: z.number(),
    previousMean: z.number(),
    drop: z.number().openapi({ description: "mean of previous − current per item" }),
    se: z.number(),
    df: z.number(),
    clusters: z.number().int().nullable(),
    confidence: z.number(),
    margin: z.number(),
    dropCiLow: z.number().openapi({ description: "One-sided lower confidence bound of the drop" }),
    dropCiHigh: z.number(),
    pValue: z.number().openapi({ description: "One-sided p-value of H0: drop ≤ margin" }),
    t: z.number().nullable().openapi({ description: "null when every item moved by the same amount (t is infinite)" }),
    correlation: z.number().nullable(),
    regressed: z.boolean().openapi({ description: "dropCiLow > margin" }),
    test: z.string(),
  })
  .openapi("NightlyComparison");

const NightlyEvaluation = z
  .object({
    id: z.string().openapi({ example: "evl_01m8hexfpm3jrcx73rs9jn9jc7" }),
    night: z.string().openapi({ example: "2026-12-03", description: "The UTC night" }),
    status: z.enum(["pending", "dispatched", "succeeded", "skipped", "failed"]),
    reason: z.string().nullable().openapi({ description: "Why a night was skipped or failed" }),
    runId: z.string().nullable().openapi({ description: "The eval run" }),
    runStatus: z.string().nullable(),
    champion: z.object({ run: z.string(), baseModel: z.string().nullable() }).nullable(),
    dataset: z.string().nullable().openapi({ description: "The dataset whose holdout split was evaluated" }),
    grader: z.object({ id: z.string(), version: z.string().nullable() }).nullable(),
    backend: z.string().nullable(),
    mean: z.number().nullable(),
    n: z.number().int().nullable(),
    kpis: z.record(z.string(), z.number()).nullable(),
    graderChanged: z
      .boolean()
      .openapi({ description: "true: the grader version differs from the previous evaluation's; a new segment" }),
    previous: z.string().nullable().openapi({ description: "The previous succeeded evaluation of the series" }),
    comparison: NightlyComparison.nullable(),
    comparisonNote: z.string().nullable().openapi({ description: "Why this evaluation was not compared" }),
    regressed: z.boolean(),
    createdAt: z.string(),
    finishedAt: z.string().nullable(),
  })
  .openapi("NightlyEvaluation");

const DriftFeature = z
  .object({
    name: z.string(),
    statistic: z.string(),
    value: z.number(),
    threshold: z.number(),
    drifted: z.boolean().openapi({ description: "value past threshold AND pValue below alpha" }),
    pValue: z.number(),
    alpha: z.number().openapi({ description: "Bonferroni share of the family-wise alpha for this feature" }),
    test: z.string(),
    n: z.object({ reference: z.number().int(), current: z.number().int() }),
  })
  .openapi("DriftFeature");

const DriftReport = z
  .object({
    experimentId: z.string(),
    reference: z.object({ dataset: z.string(), n: z.number().int() }),
    current: z.object({ from: z.string(), to: z.string(), n: z.number().int(), sources: z.array(z.string()) }),
    window: z.string(),
    features: z.array(DriftFeature),
    drifted: z.boolean(),
    method: z.string(),
    skipped: z.array(z.object({ name: z.string(), reason: z.string() })),
    embedding: z.object({
      kind: z.enum(["hashed", "provided"]),
      dimension: z.number().int(),
      componentsCompared: z.number().int(),
    }),
    alpha: z.number(),
  })
  .openapi("DriftReport");

const DriftCheck = DriftReport.extend({
  id: z.string().openapi({ example: "drf_01m8hexfpm3jrcx73rs9jn9jc7" }),
  trigger: z.enum(["cron", "api"]),
  createdAt: z.string(),
}).openapi("DriftCheck");

const key = requireAuth("key");

const putMonitoring = createRoute({
  method: "put",
  path: "/v1/experiments/{id}/monitoring",
  tags: ["monitoring"],
  summary: "Set how an experiment is monitored in production (drift reference, window, sources, nightly time)",
  security: bearer,
  middleware: [key] as const,
  request: { params: IdParam, body: jsonBody(MonitoringConfig) },
  responses: { 200: json(Monitoring, "The stored config"), ...errors(400, 401, 403, 404) },
});

const getMonitoringRoute = createRoute({
  method: "get",
  path: "/v1/experiments/{id}/monitoring",
  tags: ["monitoring"],
  summary: "How an experiment is monitored (the defaults when nothing is stored)",
  security: bearer,
  middleware: [key] as const,
  request: { params: IdParam },
  responses: { 200: json(Monitoring, "The config"), ...errors(401, 403, 404) },
});

const drift = createRoute({
  method: "get",
  path: "/v1/experiments/{id}/drift",
  tags: ["monitoring"],
  summary: "Drift of recent production inputs against the reference inputs",
  description:
    "Compares the feedback inputs of the window ending now (of the experiment's sources) with the train " +
    "inputs of the reference dataset. Each feature reports its statistic, threshold, p-value and sample " +
    "sizes; it drifts only when the effect passes its threshold and the test is significant. Computed " +
    "on request, not stored (the cron stores one check per window: …/drift/checks).",
  security: bearer,
  middleware: [key] as const,
  request: { params: IdParam, query: z.object({ window: WindowParam.optional() }) },
  responses: {
    200: json(DriftReport, "The drift report"),
    ...errors(400, 401, 403, 404, 409, 502),
  },
});

const checks = createRoute({
  method: "get",
  path: "/v1/experiments/{id}/drift/checks",
  tags: ["monitoring"],
  summary: "The stored series of drift checks, newest first (one per window, written by the cron)",
  security: bearer,
  middleware: [key] as const,
  request: { params: IdParam, query: z.object({ cursor: Cursor, limit: Limit }) },
  responses: { 200: json(ListOf(DriftCheck), "A page of drift checks"), ...errors(400, 401, 403, 404) },
});

const evaluations = createRoute({
  method: "get",
  path: "/v1/experiments/{id}/evaluations",
  tags: ["monitoring"],
  summary: "The nightly evaluations of the experiment's champion, newest night first",
  description:
    "One point per UTC night (written by the cron after the monitoring config's nightlyAtUtc): the eval run " +
    "of the champion on the frozen holdout, its mean and n, the grader id and version, and the paired " +
    "comparison with the previous evaluation under the same grader version. A changed grader version starts " +
    "a new segment (graderChanged) and is not compared. Skipped and failed nights carry their reason. The " +
    "cursor is the last night shown.",
  security: bearer,
  middleware: [key] as const,
  request: { params: IdParam, query: z.object({ cursor: Cursor, limit: Limit }) },
  responses: {
    200: json(ListOf(NightlyEvaluation), "A page of nightly evaluations"),
    ...errors(400, 401, 403, 404),
  },
});

async function experimentOr404(c: Context<AppEnv>, id: string) {
  const exp = await experimentOf(c, id);
  return exp;
}

function monitoringView(experimentId: string, row: typeof experimentMonitoring.$inferSelect | null) {
  return {
    experimentId,
    monitored: row !== null,
    referenceDataset: row?.referenceDataset ?? null,
    window: row?.window ?? "24h",
    sources: row?.sources ?? null,
    alertMargin: row?.alertMargin ?? 0.02,
    nightlyAtUtc: row?.nightlyAtUtc ?? "02:00",
    evalGrader: row?.evalGrader ?? null,
    evalDataset: row?.evalDataset ?? null,
    alertConfidence: row?.alertConfidence ?? 0.95,
    updatedAt: row ? new Date(row.updatedAt).toISOString() : null,
  };
}

export function monitoringRoutes(app: OpenAPIHono<AppEnv>) {
  app.openapi(putMonitoring, async (c) => {
    const { id } = c.req.valid("param");
    await experimentOr404(c, id);
    const body = c.req.valid("json");
    const projectId = projectOf(c);
    const db = c.var.db;
    if (body.referenceDataset && !(await getDataset(db, projectId, body.referenceDataset))) {
      throw badRequest(`dataset ${body.referenceDataset} not found`, [
        { path: ["referenceDataset"], message: "no such dataset", code: "not_found" },
      ]);
    }
    if (body.evalDataset && !(await getDataset(db, projectId, body.evalDataset))) {
      throw badRequest(`dataset ${body.evalDataset} not found`, [
        { path: ["evalDataset"], message: "no such dataset", code: "not_found" },
      ]);
    }
    if (body.evalGrader) {
      const issues = evalGraderIssues(body.evalGrader);
      if (issues.length) throw badRequest("invalid evalGrader config", issues);
    }
    if (body.sources?.length) {
      const found = await db
        .select({ id: feedbackSources.id })
        .from(feedbackSources)
        .where(and(eq(feedbackSources.projectId, projectId), inArray(feedbackSources.id, body.sources)));
      const known = new Set(found.map((f) => f.id));
      const missing = body.sources.filter((s) => !known.has(s));
      if (missing.length > 0) {
        throw badRequest(
          `feedback sources not found: ${missing.join(", ")}`,
          missing.map((s) => ({
            path: ["sources", body.sources!.indexOf(s)],
            message: `no source ${s}`,
            code: "not_found",
          })),
        );
      }
    }
    const now = Date.now();
    const existing = await getMonitoring(db, projectId, id);
    const row = {
      experimentId: id,
      projectId,
      referenceDataset: body.referenceDataset ?? null,
      window: body.window,
      windowMs: parseWindow(body.window)!,
      sources: body.sources?.length ? [...new Set(body.sources)] : null,
      alertMargin: body.alertMargin,
      nightlyAtUtc: body.nightlyAtUtc,
      evalGrader: body.evalGrader ?? null,
      evalDataset: body.evalDataset ?? null,
      alertConfidence: body.alertConfidence,
      createdAt: existing?.createdAt ?? now,
      updatedAt: now,
    };
    await db
      .insert(experimentMonitoring)
      .values(row)
      .onConflictDoUpdate({ target: experimentMonitoring.experimentId, set: { ...row, createdAt: undefined } });
    return c.json(monitoringView(id, row), 200);
  });

  app.openapi(getMonitoringRoute, async (c) => {
    const { id } = c.req.valid("param");
    await experimentOr404(c, id);
    return c.json(monitoringView(id, await getMonitoring(c.var.db, projectOf(c), id)), 200);
  });

  app.openapi(drift, async (c) => {
    const { id } = c.req.valid("param");
    await experimentOr404(c, id);
    const config = await getMonitoring(c.var.db, projectOf(c), id);
    const window = c.req.valid("query").window ?? config?.window ?? "24h";
    const result = await computeDrift(c.env, c.var.db, projectOf(c), id, {
      window,
      windowMs: parseWindow(window)!,
      to: Date.now(),
      config,
    });
    return c.json(result, 200);
  });

  app.openapi(checks, async (c) => {
    const { id } = c.req.valid("param");
    await experimentOr404(c, id);
    const { cursor, limit } = c.req.valid("query");
    const conds = [eq(driftChecks.experimentId, id), eq(driftChecks.projectId, projectOf(c))];
    if (cursor) conds.push(lt(driftChecks.id, cursor));
    const rows = await c.var.db
      .select()
      .from(driftChecks)
      .where(and(...conds))
      .orderBy(desc(driftChecks.id))
      .limit(limit + 1);
    const p = page(rows, limit);
    const data = p.data.map((r) => ({
      ...(r.report as unknown as z.infer<typeof DriftReport>),
      id: r.id,
      trigger: r.trigger,
      createdAt: new Date(r.createdAt).toISOString(),
    }));
    return c.json({ data, nextCursor: p.nextCursor }, 200);
  });

  app.openapi(evaluations, async (c) => {
    const { id } = c.req.valid("param");
    await experimentOr404(c, id);
    const { cursor, limit } = c.req.valid("query");
    if (cursor && !/^\d{4}-\d{2}-\d{2}$/.test(cursor)) {
      throw badRequest("cursor is not a night from a previous page", [
        { path: ["cursor"], message: "a night (YYYY-MM-DD) from nextCursor" },
      ]);
    }
    return c.json(await evaluationPage(c.var.db, projectOf(c), id, { cursor, limit }), 200);
  });
}
