import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { type DatasetRow, getDataset, insertDataset, listDatasets } from "../../db/queries/datasets";
import type { AppEnv } from "../env";
import { ingestJsonl } from "../lib/datasets-ingest";
import { readRows } from "../lib/datasets-rows";
import {
  DPO_MIN_PAIRS,
  LABEL_FIELDS,
  PREFERENCE_PAIRS,
  RFT_MIN_VERIFIABLE,
  recommend,
  SFT_MIN_LABELLED,
  VERIFIABLE_FIELDS,
} from "../lib/datasets-stats";
import { ApiError, notFound } from "../lib/errors";
import { newId } from "../lib/ids";
import { bearer, Cursor, errors, json, Limit, ListOf } from "../lib/openapi";
import { page } from "../lib/pagination";
import { projectOf } from "../lib/project";
import { requireAuth } from "../middleware/auth";
import { limitFor } from "../middleware/limits";

/** Media types accepted for uploads (parameters such as charset are ignored). */
export const JSONL_MEDIA_TYPES = ["application/x-ndjson", "application/jsonl"] as const;

export const DatasetStats = z
  .object({
    labelled: z.number().int().openapi({ description: "Rows with a label (answer, output, completion, …)" }),
    preferencePairs: z.number().int().openapi({ description: "Rows with chosen + rejected" }),
    verifiable: z.number().int().openapi({ description: "Rows with a target a grader can check" }),
    fields: z.record(z.string(), z.number().int()).openapi({ description: "Rows carrying each top-level field" }),
  })
  .openapi("DatasetStats");
export type DatasetStats = z.infer<typeof DatasetStats>;

export const Dataset = z
  .object({
    id: z.string().openapi({ example: "ds_01jq7w2x3y4z5a6b7c8d9e0f1g" }),
    name: z.string().nullable(),
    sha256: z.string().openapi({ description: "SHA-256 of the uploaded bytes, hex" }),
    rows: z.number().int(),
    bytes: z.number().int(),
    splits: z.object({ train: z.number().int(), holdout: z.number().int() }),
    holdoutFraction: z.number(),
    createdAt: z.string(),
    stats: DatasetStats,
    parent: z.string().nullable().openapi({ description: "The dataset this version was built on (a curation's base)" }),
    curation: z.string().nullable().openapi({ description: "The curation that made this dataset (cur_…)" }),
  })
  .openapi("Dataset");
export type Dataset = z.infer<typeof Dataset>;

export const UploadDatasetQuery = z.object({
  name: z.string().min(1).max(200).optional(),
  holdout: z.coerce
    .number()
    .gt(0)
    .lte(0.5)
    .default(0.1)
    .openapi({ description: "Share of rows held out, in (0, 0.5]; rows are assigned by a hash of their content" }),
});

export const DatasetRowsQuery = z.object({
  split: z
    .enum(["train", "holdout"])
    .optional()
    .openapi({ description: "Which split to page through; without it, the original file" }),
  cursor: Cursor,
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

export const DatasetRows = z
  .object({
    data: z.array(z.record(z.string(), z.unknown())),
    nextCursor: z.string().nullable(),
  })
  .openapi("DatasetRows");

export const DatasetRecommendation = z
  .object({
    recommendation: z.enum(["sft", "sft+dpo", "rft", "collect-more-data"]),
    reasons: z.array(z.string()),
    explanation: z.string(),
    stats: DatasetStats.extend({ rows: z.number().int() }),
  })
  .openapi("DatasetRecommendation");

const DatasetParams = z.object({ id: z.string().min(1).max(64) });

// A plain OpenAPI schema, not a zod one: @hono/zod-openapi would otherwise install a body validator, and
// it takes "application/jsonl" for JSON and would read the whole body to parse it.
const binary = { type: "string" as const, format: "binary" };

export function toDataset(row: DatasetRow): Dataset {
  return {
    id: row.id,
    name: row.name,
    sha256: row.sha256,
    rows: row.rows,
    bytes: row.bytes,
    splits: { train: row.trainRows, holdout: row.holdoutRows },
    holdoutFraction: row.holdoutFraction,
    createdAt: new Date(row.createdAt).toISOString(),
    stats: row.stats,
    parent: row.parentId ?? null,
    curation: row.curationId ?? null,
  };
}

const key = requireAuth("key");

const upload = createRoute({
  method: "post",
  path: "/v1/datasets",
  tags: ["datasets"],
  summary: "Upload a JSONL dataset",
  description:
    "Streams the body: each non-empty line must be a JSON object. The file is accepted whole or rejected " +
    'whole; bad lines are listed in `error.issues` with path `["line", N]`. Rows are split into train and ' +
    "holdout by a hash of their canonical JSON, so the same row always lands in the same split.",
  security: bearer,
  middleware: [key] as const,
  request: {
    query: UploadDatasetQuery,
    body: {
      required: true,
      content: { "application/x-ndjson": { schema: binary }, "application/jsonl": { schema: binary } },
    },
  },
  responses: { 201: json(Dataset, "The stored dataset"), ...errors(400, 401, 403, 413, 415, 502) },
});

const list = createRoute({
  method: "get",
  path: "/v1/datasets",
  tags: ["datasets"],
  summary: "List datasets, newest first",
  security: bearer,
  middleware: [key] as const,
  request: { query: z.object({ cursor: Cursor, limit: Limit }) },
  responses: { 200: json(ListOf(Dataset), "Datasets, newest first"), ...errors(400, 401, 403) },
});

const get = createRoute({
  method: "get",
  path: "/v1/datasets/{id}",
  tags: ["datasets"],
  summary: "Get a dataset",
  security: bearer,
  middleware: [key] as const,
  request: { params: DatasetParams },
  responses: { 200: json(Dataset, "The dataset"), ...errors(401, 403, 404) },
});

const rows = createRoute({
  method: "get",
  path: "/v1/datasets/{id}/rows",
  tags: ["datasets"],
  summary: "Page through a dataset's rows, in file order",
  description:
    "A page holds up to `limit` rows (fewer when they add up to 8 MiB); follow `nextCursor` until it is null.",
  security: bearer,
  middleware: [key] as const,
  request: { params: DatasetParams, query: DatasetRowsQuery },
  responses: { 200: json(DatasetRows, "A page of rows"), ...errors(400, 401, 403, 404, 502) },
});

const recommendation = createRoute({
  method: "get",
  path: "/v1/datasets/{id}/recommendation",
  tags: ["datasets"],
  summary: "Which fine-tuning method this dataset supports (SFT, SFT + DPO, RFT) and why",
  description:
    `More than ${SFT_MIN_LABELLED} labelled rows: \`sft\`, or \`sft+dpo\` with at least ${DPO_MIN_PAIRS} preference ` +
    `pairs. Otherwise at least ${RFT_MIN_VERIFIABLE} rows, and at least half of them, with a verifiable target: ` +
    "`rft`. Otherwise `collect-more-data`, saying what is missing. Labels: a non-empty " +
    `${LABEL_FIELDS.join(", ")}, or chat \`messages\` with an assistant turn. Preference pairs: ` +
    `${PREFERENCE_PAIRS.map(([a, b]) => `${a} + ${b}`).join(" or ")}. Verifiable targets: ` +
    `${VERIFIABLE_FIELDS.join(", ")}.`,
  security: bearer,
  middleware: [key] as const,
  request: { params: DatasetParams },
  responses: { 200: json(DatasetRecommendation, "The recommendation"), ...errors(401, 403, 404) },
});

export function datasetRoutes(app: OpenAPIHono<AppEnv>) {
  app.openapi(upload, async (c) => {
    const mediaType = (c.req.header("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
    if (!(JSONL_MEDIA_TYPES as readonly string[]).includes(mediaType)) {
      throw new ApiError(
        "UNSUPPORTED_MEDIA_TYPE",
        `send the file as ${JSONL_MEDIA_TYPES.join(" or ")}, not ${mediaType || "no content type"}`,
      );
    }
    const { name, holdout } = c.req.valid("query");
    const id = newId("ds");
    const keys = {
      original: `datasets/${id}/original.jsonl`,
      train: `datasets/${id}/train.jsonl`,
      holdout: `datasets/${id}/holdout.jsonl`,
    };
    const result = await ingestJsonl(c.req.raw.body, {
      bucket: c.env.BLOBS,
      keys,
      holdoutFraction: holdout,
      maxBytes: limitFor(c.req.path),
    });
    const row: DatasetRow = {
      id,
      projectId: projectOf(c),
      name: name ?? null,
      sha256: result.sha256,
      rows: result.rows,
      bytes: result.bytes,
      trainRows: result.trainRows,
      holdoutRows: result.holdoutRows,
      holdoutFraction: holdout,
      objectKey: keys.original,
      trainKey: keys.train,
      holdoutKey: keys.holdout,
      stats: result.stats,
      parentId: null,
      curationId: null,
      createdAt: Date.now(),
    };
    try {
      await insertDataset(c.var.db, row);
    } catch (err) {
      await c.env.BLOBS.delete(Object.values(keys));
      throw err;
    }
    return c.json(toDataset(row), 201);
  });

  app.openapi(list, async (c) => {
    const { cursor, limit } = c.req.valid("query");
    const p = page(await listDatasets(c.var.db, projectOf(c), { cursor, limit }), limit);
    return c.json({ data: p.data.map(toDataset), nextCursor: p.nextCursor }, 200);
  });

  app.openapi(get, async (c) => {
    const { id } = c.req.valid("param");
    const row = await getDataset(c.var.db, projectOf(c), id);
    if (!row) throw notFound("dataset", id);
    return c.json(toDataset(row), 200);
  });

  app.openapi(rows, async (c) => {
    const { id } = c.req.valid("param");
    const { split, cursor, limit } = c.req.valid("query");
    const row = await getDataset(c.var.db, projectOf(c), id);
    if (!row) throw notFound("dataset", id);
    const source = split ?? "original";
    const objectKey = split === "train" ? row.trainKey : split === "holdout" ? row.holdoutKey : row.objectKey;
    const result = await readRows(c.env.BLOBS, objectKey, source, { cursor, limit });
    if (!result) throw new ApiError("NOT_FOUND", `the ${source} file of dataset ${id} is missing from storage`);
    return c.json(result, 200);
  });

  app.openapi(recommendation, async (c) => {
    const { id } = c.req.valid("param");
    const row = await getDataset(c.var.db, projectOf(c), id);
    if (!row) throw notFound("dataset", id);
    return c.json({ ...recommend(row.rows, row.stats), stats: { rows: row.rows, ...row.stats } }, 200);
  });
}
