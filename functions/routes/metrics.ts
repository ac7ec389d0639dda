import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import {
  bucketedMetricPoints,
  insertMetricPoints,
  MetricConflictError,
  readMetricPoints,
} from "../../db/queries/metrics";
import type { AppEnv } from "../env";
import { ApiError } from "../lib/errors";
import { bearer, errors, json, jsonBody } from "../lib/openapi";
import { IdParam, runOf } from "../lib/route-helpers";
import { evaluateStop } from "../lib/training";
import { requireAuth } from "../middleware/auth";
import { MetricName } from "./experiments";

export const MAX_POINTS_PER_BATCH = 10_000;

const Timestamp = z.union([z.number().int().min(0).max(8.64e15), z.iso.datetime({ offset: true })]);

export const MetricPointIn = z
  .object({
    name: MetricName.openapi({ example: "reward/mean" }),
    step: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
    value: z.number().refine(Number.isFinite, "value must be a finite number"),
    ts: Timestamp.optional().openapi({ description: "Epoch milliseconds or an ISO 8601 time; default: now" }),
  })
  .strict()
  .openapi("MetricPoint");

export const PostMetrics = z
  .object({ points: z.array(MetricPointIn).min(1).max(MAX_POINTS_PER_BATCH) })
  .strict()
  .openapi("PostMetrics");

export const MetricsAccepted = z
  .object({
    accepted: z.number().openapi({ description: "Points stored by this call" }),
    duplicates: z.number().openapi({ description: "Points identical to ones already stored (retries): ignored" }),
    stop: z.boolean().openapi({ description: "true when the run should stop (early-stopping rule, limit or cancel)" }),
    stopReason: z.string().optional(),
  })
  .openapi("MetricsAccepted");

const Series = z
  .object({
    series: z.array(
      z.object({
        name: z.string(),
        points: z.array(
          z.object({
            step: z.number(),
            value: z.number(),
            ts: z.string(),
            min: z.number().optional().openapi({ description: "With buckets: the lowest value in the point's bucket" }),
            max: z
              .number()
              .optional()
              .openapi({ description: "With buckets: the highest value in the point's bucket" }),
            count: z.number().int().optional().openapi({ description: "With buckets: points in the bucket" }),
          }),
        ),
      }),
    ),
    nextCursor: z.string().nullable(),
  })
  .openapi("MetricSeries");

const post = createRoute({
  method: "post",
  path: "/v1/runs/{id}/metrics",
  tags: ["metrics"],
  summary: "Record step-wise KPIs (API key or the run's own token)",
  description:
    "Up to 10,000 points. `(run, name, step)` is unique: an identical point again is counted in `duplicates`; a different value for a stored point is 409 and nothing of the batch is applied.",
  security: bearer,
  middleware: [requireAuth("keyOrRunToken")] as const,
  request: { params: IdParam, body: jsonBody(PostMetrics) },
  responses: { 200: json(MetricsAccepted, "Stored"), ...errors(400, 401, 403, 404, 409, 413) },
});

const get = createRoute({
  method: "get",
  path: "/v1/runs/{id}/metrics",
  tags: ["metrics"],
  summary: "Read a run's metric series in step order",
  security: bearer,
  middleware: [requireAuth("key")] as const,
  request: {
    params: IdParam,
    query: z.object({
      name: z
        .string()
        .max(2000)
        .optional()
        .openapi({ description: "One metric name, or several separated by commas; default: all" }),
      fromStep: z.coerce.number().int().min(0).optional(),
      toStep: z.coerce.number().int().min(0).optional(),
      limit: z.coerce.number().int().min(1).max(100_000).default(10_000).openapi({ description: "Points per page" }),
      cursor: z.string().max(400).optional(),
      buckets: z.coerce.number().int().min(1).max(10_000).optional().openapi({
        description:
          "Downsample for drawing: cut the step range into this many buckets (e.g. one per pixel) and give each series' last point per bucket with the bucket's min, max and count. All points in one page; cursor and limit do not apply.",
      }),
    }),
  },
  responses: { 200: json(Series, "The series, by name, each in step order"), ...errors(400, 401, 404) },
});

function encodeCursor(name: string, step: number) {
  return btoa(JSON.stringify([name, step])).replaceAll("=", "");
}

function decodeCursor(cursor: string): { name: string; step: number } {
  try {
    const [name, step] = JSON.parse(atob(cursor)) as [unknown, unknown];
    if (typeof name === "string" && typeof step === "number" && Number.isInteger(step)) return { name, step };
  } catch {}
  throw new ApiError("BAD_REQUEST", "malformed cursor", [{ path: ["cursor"], message: "not a cursor from this API" }]);
}

export function metricRoutes(app: OpenAPIHono<AppEnv>) {
  app.openapi(post, async (c) => {
    const { id } = c.req.valid("param");
    const { points } = c.req.valid("json");
    const db = c.var.db;
    const run = await runOf(c, id);
    const now = Date.now();
    const rows = points.map((p) => ({
      name: p.name,
      step: p.step,
      value: p.value,
      ts: p.ts === undefined ? now : typeof p.ts === "number" ? p.ts : Date.parse(p.ts),
    }));
    let accepted: number;
    try {
      accepted = await insertMetricPoints(db, id, rows);
    } catch (err) {
      if (!(err instanceof MetricConflictError)) throw err;
      throw new ApiError(
        "CONFLICT",
        "some points repeat a stored (name, step) with a different value; nothing was stored",
        undefined,
        {
          conflicts: err.conflicts,
        },
      );
    }
    const stop = await evaluateStop(db, c.env, run);
    return c.json({ accepted, duplicates: rows.length - accepted, ...stop }, 200);
  });

  app.openapi(get, async (c) => {
    const { id } = c.req.valid("param");
    const q = c.req.valid("query");
    const db = c.var.db;
    await runOf(c, id);
    const names = q.name
      ?.split(",")
      .map((n) => n.trim())
      .filter(Boolean);
    if (q.buckets !== undefined) {
      const pts = await bucketedMetricPoints(db, id, {
        names,
        fromStep: q.fromStep,
        toStep: q.toStep,
        buckets: q.buckets,
      });
      const series: { name: string; points: z.infer<typeof Series>["series"][number]["points"] }[] = [];
      for (const p of pts) {
        let s = series.at(-1);
        if (!s || s.name !== p.name) {
          s = { name: p.name, points: [] };
          series.push(s);
        }
        s.points.push({
          step: p.step,
          value: p.value,
          ts: new Date(p.ts).toISOString(),
          min: p.min,
          max: p.max,
          count: p.count,
        });
      }
      return c.json({ series, nextCursor: null }, 200);
    }
    const rows = await readMetricPoints(db, id, {
      names,
      fromStep: q.fromStep,
      toStep: q.toStep,
      after: q.cursor ? decodeCursor(q.cursor) : undefined,
      limit: q.limit,
    });
    const more = rows.length > q.limit;
    const shown = more ? rows.slice(0, q.limit) : rows;
    const series: { name: string; points: { step: number; value: number; ts: string }[] }[] = [];
    for (const r of shown) {
      let s = series.at(-1);
      if (!s || s.name !== r.name) {
        s = { name: r.name, points: [] };
        series.push(s);
      }
      s.points.push({ step: r.step, value: r.value, ts: new Date(r.ts).toISOString() });
    }
    const last = shown.at(-1);
    return c.json({ series, nextCursor: more && last ? encodeCursor(last.name, last.step) : null }, 200);
  });
}
