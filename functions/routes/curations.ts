import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { and, desc, eq, lt } from "drizzle-orm";
import { getDataset } from "../../db/queries/datasets";
import { curations } from "../../db/schema";
import type { AppEnv } from "../env";
import { type CurationReport, type CurationRow, createCuration, getCuration, sourceNames } from "../lib/curation/job";
import { CurationSpec } from "../lib/curation/spec";
import { notFound } from "../lib/errors";
import { bearer, Cursor, errors, json, jsonBody, Limit, ListOf } from "../lib/openapi";
import { page } from "../lib/pagination";
import { projectOf } from "../lib/project";
import { requireAuth } from "../middleware/auth";
import { Dataset, toDataset } from "./datasets";

const Dropped = z.object({
  duplicate: z.number().int(),
  nearDuplicate: z.number().int(),
  contaminated: z.number().int(),
  invalid: z.number().int(),
  noSignal: z.number().int(),
});

const Report = z
  .object({
    input: z.number().int().openapi({ description: "Feedback events read" }),
    output: z.number().int().openapi({ description: "New rows written (besides the base's rows)" }),
    dropped: Dropped,
    invalidReasons: z.record(z.string(), z.number().int()),
    contamination: z.object({
      exact: z.number().int(),
      near: z.number().int(),
      holdoutOf: z.string().nullable(),
      holdoutPrompts: z.number().int(),
    }),
    redacted: z
      .record(z.string(), z.number().int())
      .openapi({ description: "PII replaced in the input events, by kind" }),
    format: z.enum(["sft", "dpo", "kto", "rft"]),
    reason: z.string().openapi({ description: "Why this format (for into: auto, the decision framework's words)" }),
    recommendation: z.string().optional(),
    baseRows: z.number().int(),
    dedup: z.object({ exact: z.boolean(), near: z.union([z.literal(false), z.record(z.string(), z.number())]) }),
    lineage: z.object({ feedbackCount: z.number().int(), sources: z.record(z.string(), z.number().int()) }),
  })
  .openapi("CurationReport");

const Curation = z
  .object({
    id: z.string().openapi({ example: "cur_01jq7w2x3y4z5a6b7c8d9e0f1g" }),
    name: z.string().nullable(),
    status: z.enum(["queued", "running", "succeeded", "failed"]),
    progress: z.object({ done: z.number().int(), total: z.number().int() }),
    dataset: z.string().optional(),
    report: Report.optional(),
    error: z.string().optional(),
    spec: z.record(z.string(), z.unknown()),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi("Curation");

const Queued = z.object({ id: z.string(), status: z.literal("queued") }).openapi("CurationQueued");

const Lineage = z
  .object({
    dataset: Dataset,
    parent: Dataset.optional(),
    curation: Curation.optional(),
    sources: z.array(z.object({ id: z.string(), name: z.string().nullable(), events: z.number().int() })),
    feedbackCount: z.number().int().openapi({ description: "Distinct feedback events behind the dataset's rows" }),
  })
  .openapi("DatasetLineage");

const Params = z.object({ id: z.string().min(1).max(64) });

function toCuration(row: CurationRow): z.infer<typeof Curation> {
  return {
    id: row.id,
    name: row.name,
    status: row.status,
    progress: { done: row.progressDone, total: row.progressTotal },
    ...(row.datasetId ? { dataset: row.datasetId } : {}),
    ...(row.report ? { report: row.report as unknown as z.infer<typeof Report> } : {}),
    ...(row.error ? { error: row.error } : {}),
    spec: row.spec,
    createdAt: new Date(row.createdAt).toISOString(),
    updatedAt: new Date(row.updatedAt).toISOString(),
  };
}

const key = requireAuth("key");

const create = createRoute({
  method: "post",
  path: "/v1/curations",
  tags: ["curations"],
  summary: "Curate a slice of feedback into a new immutable dataset version (runs as a job)",
  description:
    "Rows follow TRL's formats: sft { prompt, completion } or { messages }, dpo { prompt, chosen, rejected }, " +
    "kto { prompt, completion, label }, rft { prompt, ...reference }; auto picks one with the dataset " +
    "recommendation's rules. Exact dedup on normalised text, near dedup with MinHash + LSH and an exact " +
    "Jaccard check; prompts that duplicate the holdout of `holdoutOf` (default: `base`) are dropped.",
  security: bearer,
  middleware: [key] as const,
  request: { body: jsonBody(CurationSpec) },
  responses: { 202: json(Queued, "The job is queued"), ...errors(400, 401, 403, 404) },
});

const get = createRoute({
  method: "get",
  path: "/v1/curations/{id}",
  tags: ["curations"],
  summary: "A curation job: status, progress, and once done its dataset and report",
  security: bearer,
  middleware: [key] as const,
  request: { params: Params },
  responses: { 200: json(Curation, "The curation"), ...errors(401, 403, 404) },
});

const list = createRoute({
  method: "get",
  path: "/v1/curations",
  tags: ["curations"],
  summary: "List curations, newest first",
  security: bearer,
  middleware: [key] as const,
  request: { query: z.object({ cursor: Cursor, limit: Limit }) },
  responses: { 200: json(ListOf(Curation), "Curations, newest first"), ...errors(400, 401, 403) },
});

const lineage = createRoute({
  method: "get",
  path: "/v1/datasets/{id}/lineage",
  tags: ["datasets"],
  summary: "Where a dataset came from: its parent, the curation that made it, its feedback sources",
  security: bearer,
  middleware: [key] as const,
  request: { params: Params },
  responses: { 200: json(Lineage, "The lineage"), ...errors(401, 403, 404) },
});

export function curationRoutes(app: OpenAPIHono<AppEnv>) {
  app.openapi(create, async (c) => {
    const out = await createCuration(c.var.db, c.env, projectOf(c), c.req.valid("json"));
    return c.json(out, 202);
  });

  app.openapi(get, async (c) => {
    const { id } = c.req.valid("param");
    const row = await getCuration(c.var.db, projectOf(c), id);
    if (!row) throw notFound("curation", id);
    return c.json(toCuration(row), 200);
  });

  app.openapi(list, async (c) => {
    const { cursor, limit } = c.req.valid("query");
    const rows = await c.var.db
      .select()
      .from(curations)
      .where(and(eq(curations.projectId, projectOf(c)), cursor ? lt(curations.id, cursor) : undefined))
      .orderBy(desc(curations.id))
      .limit(limit + 1);
    const p = page(rows, limit);
    return c.json({ data: p.data.map(toCuration), nextCursor: p.nextCursor }, 200);
  });

  app.openapi(lineage, async (c) => {
    const { id } = c.req.valid("param");
    const db = c.var.db;
    const ds = await getDataset(db, projectOf(c), id);
    if (!ds) throw notFound("dataset", id);
    const parent = ds.parentId ? await getDataset(db, projectOf(c), ds.parentId) : null;
    const cur = ds.curationId ? await getCuration(db, projectOf(c), ds.curationId) : null;
    const counts = (cur?.report as CurationReport | null)?.lineage?.sources ?? {};
    const names = await sourceNames(db, projectOf(c), Object.keys(counts));
    return c.json(
      {
        dataset: toDataset(ds),
        ...(parent ? { parent: toDataset(parent) } : {}),
        ...(cur ? { curation: toCuration(cur) } : {}),
        sources: Object.entries(counts)
          .map(([sid, events]) => ({ id: sid, name: names.get(sid) ?? null, events }))
          .sort((a, b) => b.events - a.events || a.id.localeCompare(b.id)),
        feedbackCount: (cur?.report as CurationReport | null)?.lineage?.feedbackCount ?? 0,
      },
      200,
    );
  });
}
