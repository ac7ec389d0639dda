import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { and, eq } from "drizzle-orm";
import { getExperiment } from "../../db/queries/experiments";
import { getRun, getRunDetail, insertRun, listRuns, updateRun } from "../../db/queries/runs";
import { allowedFrom, canMove, isTerminal, RUN_STATUSES } from "../../db/run-lifecycle";
import { datasets } from "../../db/schema";
import { type DispatchSpec, DpoSpec, EvalSpec, KtoSpec, RftSpec, SftSpec } from "../../gpu-jobs/spec";
import type { AppEnv } from "../env";
import { ApiError, conflict, notFound, zodIssues } from "../lib/errors";
import { newId } from "../lib/ids";
import { bearer, Cursor, errors, json, jsonBody, Limit, ListOf } from "../lib/openapi";
import { page } from "../lib/pagination";
import { projectOf } from "../lib/project";
import { IdParam, runOf } from "../lib/route-helpers";
import { announceRunFinished } from "../lib/run-events";
import { createDispatchedRun } from "../lib/training";
import { requireAuth } from "../middleware/auth";
import { idempotent } from "../middleware/idempotency";

export const RunKind = z.enum(["rft", "eval", "sft", "dpo", "kto"]);

export const Artifact = z
  .object({
    kind: z.string().trim().min(1).max(64).openapi({ example: "lora-adapter" }),
    uri: z
      .string()
      .trim()
      .min(1)
      .max(2048)
      .openapi({ example: "r2://assay-blobs/artifacts/run_…/adapter.safetensors" }),
  })
  .openapi("Artifact");

const JsonObject = z.record(z.string(), z.unknown());

export const CreateRecordRun = z
  .object({
    kind: z.enum(["eval", "sft", "dpo", "kto"]),
    name: z.string().trim().min(1).max(200).optional(),
    params: JsonObject.optional().openapi({ description: "Hyperparameters and other settings, recorded as given" }),
    dataset: z
      .string()
      .min(1)
      .max(64)
      .optional()
      .openapi({ description: "Dataset id (ds_…); its SHA-256 is recorded" }),
    baseModel: z.string().trim().min(1).max(300).optional(),
    parentRunId: z
      .string()
      .min(1)
      .max(64)
      .optional()
      .openapi({ description: "Lineage: the run this one derives from" }),
  })
  .strict()
  .openapi("CreateRecordRun");

const OTHER_SPECS = { sft: SftSpec, dpo: DpoSpec, kto: KtoSpec, eval: EvalSpec } as const;

/**
 * Other kinds: with a `backend`, the kind's spec (SftSpec, DpoSpec, KtoSpec, EvalSpec), dispatched like rft;
 * without one, a ledger-only record (CreateRecordRun). Checked in the handler, so that a refusal names the
 * exact field of the spec that was meant.
 */
const OtherKind = (kind: keyof typeof OTHER_SPECS) =>
  z
    .object({ kind: z.literal(kind), backend: z.enum(["local", "aws-batch"]).optional() })
    .passthrough()
    .openapi(`Create${kind[0]!.toUpperCase()}${kind.slice(1)}Run`, {
      description: `With backend: ${kind === "eval" ? "EvalSpec" : `${kind[0]!.toUpperCase()}${kind.slice(1)}Spec`}, dispatched; without: CreateRecordRun, a ledger-only record`,
    });

/** An `rft` run carries the whole training spec and is dispatched on creation; other kinds when they name a backend. */
export const CreateRun = z
  .discriminatedUnion("kind", [
    RftSpec.openapi("RftSpec"),
    OtherKind("sft"),
    OtherKind("dpo"),
    OtherKind("kto"),
    OtherKind("eval"),
  ])
  .openapi("CreateRun");
export type CreateRun = z.infer<typeof CreateRun>;

/** The validated body: a dispatchable spec, or a record run. */
export function parseCreateRun(body: CreateRun): DispatchSpec | CreateRecordRun {
  if (body.kind === "rft") return body as RftSpec;
  const schema = "backend" in body && body.backend !== undefined ? OTHER_SPECS[body.kind] : CreateRecordRun;
  const parsed = schema.safeParse(body);
  if (!parsed.success) {
    throw new ApiError("BAD_REQUEST", "request failed validation", zodIssues(parsed.error.issues));
  }
  return parsed.data as DispatchSpec | CreateRecordRun;
}
export type CreateRecordRun = z.infer<typeof CreateRecordRun>;

export const PatchRun = z
  .object({
    status: z.enum(RUN_STATUSES).optional(),
    reason: z.string().max(2000).optional(),
    summary: JsonObject.optional().openapi({ description: "Merged into the stored summary (top-level keys replaced)" }),
    artifacts: z
      .array(Artifact)
      .max(100)
      .optional()
      .openapi({ description: "Appended; an artifact already recorded is ignored" }),
  })
  .strict()
  .refine((p) => p.status || p.summary || p.artifacts, {
    message: "nothing to update: give status, summary or artifacts",
  })
  .openapi("PatchRun");

const StatusEntry = z.object({ status: z.enum(RUN_STATUSES), reason: z.string().nullable(), at: z.string() });

export const Run = z
  .object({
    id: z.string().openapi({ example: "run_01m8hexfpm3jrcx73rs9jn9jc7" }),
    experimentId: z.string(),
    kind: RunKind,
    name: z.string().nullable(),
    status: z.enum(RUN_STATUSES),
    params: JsonObject,
    spec: JsonObject.nullable(),
    dataset: z.object({ id: z.string(), sha256: z.string().nullable() }).nullable(),
    baseModel: z.string().nullable(),
    grader: z.string().nullable().openapi({ description: "name@version the run is pinned to" }),
    backend: z.string().nullable(),
    parentRunId: z.string().nullable(),
    sweepId: z.string().nullable(),
    summary: JsonObject.nullable(),
    stopRequested: z.boolean(),
    stopReason: z.string().nullable(),
    error: z.string().nullable(),
    jobId: z.string().nullable(),
    statusHistory: z.array(StatusEntry),
    artifacts: z.array(Artifact.extend({ createdAt: z.string() })),
    heartbeatAt: z.string().nullable(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi("Run");

export const RunListItem = Run.omit({ statusHistory: true, artifacts: true }).openapi("RunListItem");

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

type RunRow = NonNullable<Awaited<ReturnType<typeof getRun>>>;
export function runListView(r: RunRow) {
  return {
    id: r.id,
    experimentId: r.experimentId,
    kind: r.kind,
    name: r.name,
    status: r.status,
    params: r.params,
    spec: r.spec,
    dataset: r.datasetId ? { id: r.datasetId, sha256: r.datasetSha256 } : null,
    baseModel: r.baseModel,
    grader: r.graderRef,
    backend: r.backend,
    parentRunId: r.parentRunId,
    sweepId: r.sweepId,
    summary: r.summary,
    stopRequested: r.stopRequested,
    stopReason: r.stopReason,
    error: r.error,
    jobId: r.jobId,
    heartbeatAt: iso(r.heartbeatAt),
    createdAt: iso(r.createdAt)!,
    updatedAt: iso(r.updatedAt)!,
  };
}

export async function runDetailView(db: AppEnv["Variables"]["db"], projectId: string, id: string) {
  const d = await getRunDetail(db, projectId, id);
  if (!d) throw notFound("run", id);
  return {
    ...runListView(d.run),
    statusHistory: d.history.map((h) => ({ status: h.status, reason: h.reason, at: iso(h.at)! })),
    artifacts: d.artifacts.map((a) => ({ kind: a.kind, uri: a.uri, createdAt: iso(a.createdAt)! })),
  };
}

const key = requireAuth("key");

const create = createRoute({
  method: "post",
  path: "/v1/experiments/{id}/runs",
  tags: ["runs"],
  summary: "Create a run in an experiment (send Idempotency-Key to make retries safe)",
  security: bearer,
  middleware: [key, idempotent] as const,
  request: { params: IdParam, body: jsonBody(CreateRun) },
  responses: { 201: json(Run, "The run"), ...errors(400, 401, 404, 409) },
});

const get = createRoute({
  method: "get",
  path: "/v1/runs/{id}",
  tags: ["runs"],
  summary: "A run with its status history and artifacts",
  security: bearer,
  middleware: [key] as const,
  request: { params: IdParam },
  responses: { 200: json(Run, "The run"), ...errors(401, 404) },
});

const list = createRoute({
  method: "get",
  path: "/v1/runs",
  tags: ["runs"],
  summary: "List runs, oldest first, optionally of one experiment or status",
  security: bearer,
  middleware: [key] as const,
  request: {
    query: z.object({
      experiment: z.string().min(1).max(64).optional(),
      status: z.enum(RUN_STATUSES).optional(),
      cursor: Cursor,
      limit: Limit,
    }),
  },
  responses: { 200: json(ListOf(RunListItem), "A page of runs"), ...errors(400, 401) },
});

const patch = createRoute({
  method: "patch",
  path: "/v1/runs/{id}",
  tags: ["runs"],
  summary: "Update a run's status, summary or artifacts",
  description:
    "Status moves only forward (queued → dispatching → running → succeeded | failed | cancelled | stopped); repeating the current status is a no-op, moving an ended run is 409.",
  security: bearer,
  middleware: [key] as const,
  request: { params: IdParam, body: jsonBody(PatchRun) },
  responses: { 200: json(Run, "The updated run"), ...errors(400, 401, 404, 409) },
});

export function runRoutes(app: OpenAPIHono<AppEnv>) {
  app.openapi(create, async (c) => {
    const { id: experimentId } = c.req.valid("param");
    const body = parseCreateRun(c.req.valid("json"));
    const db = c.var.db;
    const projectId = projectOf(c);
    if (!(await getExperiment(db, projectId, experimentId))) throw notFound("experiment", experimentId);
    if (body.parentRunId && !(await getRun(db, projectId, body.parentRunId))) {
      throw new ApiError("BAD_REQUEST", `parent run ${body.parentRunId} does not exist`, [
        { path: ["parentRunId"], message: "unknown run" },
      ]);
    }
    const now = Date.now();
    const id = newId("run");
    if ("hyperparams" in body && "backend" in body && body.backend) {
      await createDispatchedRun(db, c.env, { id, projectId, experimentId, spec: body, now });
      return c.json(await runDetailView(db, projectId, id), 201);
    }
    const record = body as CreateRecordRun;
    let datasetSha256: string | null = null;
    if (record.dataset) {
      const [ds] = await db
        .select({ sha256: datasets.sha256 })
        .from(datasets)
        .where(and(eq(datasets.projectId, projectId), eq(datasets.id, record.dataset)))
        .limit(1);
      if (!ds)
        throw new ApiError("BAD_REQUEST", `dataset ${record.dataset} does not exist`, [
          { path: ["dataset"], message: "unknown dataset" },
        ]);
      datasetSha256 = ds.sha256;
    }
    await insertRun(db, {
      id,
      projectId,
      experimentId,
      kind: record.kind,
      status: "queued",
      name: record.name ?? null,
      params: record.params ?? {},
      datasetId: record.dataset ?? null,
      datasetSha256,
      baseModel: record.baseModel ?? null,
      parentRunId: record.parentRunId ?? null,
      createdAt: now,
      updatedAt: now,
    });
    return c.json(await runDetailView(db, projectId, id), 201);
  });

  app.openapi(get, async (c) => c.json(await runDetailView(c.var.db, projectOf(c), c.req.valid("param").id), 200));

  app.openapi(list, async (c) => {
    const { experiment, status, cursor, limit } = c.req.valid("query");
    const p = page(await listRuns(c.var.db, projectOf(c), { experimentId: experiment, status, cursor, limit }), limit);
    return c.json({ data: p.data.map(runListView), nextCursor: p.nextCursor }, 200);
  });

  app.openapi(patch, async (c) => {
    const { id } = c.req.valid("param");
    const body = c.req.valid("json");
    const db = c.var.db;
    const run = await runOf(c, id);
    const statusChange = body.status && body.status !== run.status ? body.status : undefined;
    if (statusChange && !canMove(run.status, statusChange)) {
      throw conflict(`run ${id} is ${run.status} and cannot become ${statusChange}`, { status: run.status });
    }
    if (!statusChange && isTerminal(run.status) && body.summary) {
      // An ended run's summary is part of its record; only artifacts may still be attached.
      throw conflict(`run ${id} has ended (${run.status}); its summary can no longer change`, { status: run.status });
    }
    const ok = await updateRun(
      db,
      id,
      {
        status: statusChange,
        reason: body.reason ?? null,
        summary: body.summary ? { ...(run.summary ?? {}), ...body.summary } : undefined,
        artifacts: body.artifacts,
      },
      statusChange ? allowedFrom(statusChange) : undefined,
    );
    if (!ok) throw conflict(`run ${id} changed concurrently; fetch it and retry`);
    if (statusChange && isTerminal(statusChange)) await announceRunFinished(db, c.env, id, projectOf(c));
    return c.json(await runDetailView(db, projectOf(c), id), 200);
  });
}
