import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { getDataset } from "../../db/queries/datasets";
import { recordItemScores } from "../../db/queries/eval-items";
import { updateRun } from "../../db/queries/runs";
import { recordRewardBatch } from "../../db/queries/training";
import { ACTIVE_STATUSES, isTerminal } from "../../db/run-lifecycle";
import { type AdapterRef, ContainerSpec, type DispatchSpec } from "../../gpu-jobs/spec";
import { canonicalJson } from "../../rewards/core/canonical";
import { scoreBatch } from "../../rewards/core/engine";
import { ascending, percentile, scoreGroups, zeroVarianceGroups } from "../../rewards/core/stats";
import type { RewardResult, Sample } from "../../rewards/core/types";
import { batchConcurrency } from "../../rewards/graders";
import type { AppEnv } from "../env";
import { sha256Hex } from "../lib/crypto";
import { notifyCyclesOfRun } from "../lib/cycle-triggers";
import { readRows } from "../lib/datasets-rows";
import { ApiError, conflict, notFound } from "../lib/errors";
import { bearer, Cursor, errors, json, jsonBody } from "../lib/openapi";
import { IdParam, runOf } from "../lib/route-helpers";
import { announceRunFinished } from "../lib/run-events";
import { cachedGrader, scoringContext } from "../lib/scoring";
import { keepStepSamples, MAX_SAMPLES_PER_STEP, stepBudget } from "../lib/step-samples";
import { adapterOf, evaluateStop, type JobMessage } from "../lib/training";
import { requireAuth } from "../middleware/auth";
import { Artifact, Run, runDetailView } from "./runs";
import { Result, SampleIn, Summary } from "./scoring";

const runToken = requireAuth("runToken");
const Stop = { stop: z.boolean(), stopReason: z.string().optional() };
export const StopAnswer = z.object(Stop).openapi("StopAnswer");

const specRoute = createRoute({
  method: "get",
  path: "/v1/runs/{id}/spec",
  tags: ["container"],
  summary: "The run's training spec and dataset location (run token)",
  security: bearer,
  middleware: [runToken] as const,
  request: { params: IdParam },
  responses: {
    200: json(ContainerSpec.openapi("ContainerSpec"), "The spec"),
    ...errors(401, 403, 404),
  },
});

const rowsRoute = createRoute({
  method: "get",
  path: "/v1/runs/{id}/dataset/rows",
  tags: ["container"],
  summary: "Page through the run's dataset (run token)",
  security: bearer,
  middleware: [runToken] as const,
  request: {
    params: IdParam,
    query: z.object({
      split: z.enum(["train", "holdout"]).default("train"),
      cursor: Cursor,
      limit: z.coerce.number().int().min(1).max(1000).default(100),
    }),
  },
  responses: {
    200: json(
      z.object({ data: z.array(z.record(z.string(), z.unknown())), nextCursor: z.string().nullable() }),
      "A page of rows",
    ),
    ...errors(400, 401, 403, 404),
  },
});

const RewardSample = SampleIn.extend({
  itemId: z
    .string()
    .regex(/^[\w.:@/-]{1,200}$/)
    .optional()
    .openapi({ description: "The dataset item this sample answers; required on eval runs (per-item scores)" }),
});

const RewardsRequest = z
  .object({
    step: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
    samples: z.array(RewardSample).min(1).max(10_000),
    batchKey: z
      .string()
      .regex(/^[\w.:-]{1,128}$/)
      .optional()
      .openapi({
        description: "Names this batch within the step, so a retry is recorded once; default: a hash of the samples",
      }),
    keepSamples: z
      .number()
      .int()
      .min(0)
      .max(MAX_SAMPLES_PER_STEP)
      .optional()
      .openapi({
        description: `How many of this step's samples to keep for inspection (GET …/steps/{step}/samples); default and most: ASSAY_SAMPLES_PER_STEP (${MAX_SAMPLES_PER_STEP})`,
      }),
  })
  .strict()
  .openapi("RewardsRequest");

const rewardsRoute = createRoute({
  method: "post",
  path: "/v1/runs/{id}/rewards",
  tags: ["container"],
  summary: "Score a training step's samples with the run's pinned grader (run token)",
  description:
    "Exactly one result per sample. Per-step telemetry lands in the run's metrics: reward/mean, reward/std, reward/invalid_rate, reward/samples, frac_reward_zero_std, rewards/<sub-grader>/mean, verifier/latency_p50_ms and verifier/latency_p99_ms. A retried batch (same step and batchKey) is recorded once. The step's samples are kept for inspection (GET /v1/runs/{id}/steps/{step}/samples), up to ASSAY_SAMPLES_PER_STEP.",
  security: bearer,
  middleware: [runToken] as const,
  request: { params: IdParam, body: jsonBody(RewardsRequest) },
  responses: {
    200: json(z.object({ results: z.array(Result), summary: Summary, ...Stop }).openapi("RewardsAnswer"), "Results"),
    ...errors(400, 401, 403, 404, 409, 413),
  },
});

const heartbeatRoute = createRoute({
  method: "post",
  path: "/v1/runs/{id}/heartbeat",
  tags: ["container"],
  summary: "Report liveness; the answer says whether to stop (run token)",
  security: bearer,
  middleware: [runToken] as const,
  request: {
    params: IdParam,
    body: jsonBody(
      z
        .object({ step: z.number().int().min(0).optional(), message: z.string().max(2000).optional() })
        .strict()
        .openapi("Heartbeat"),
    ),
  },
  responses: { 200: json(StopAnswer, "Whether to stop"), ...errors(400, 401, 403, 404) },
});

const artifactRoute = createRoute({
  method: "put",
  path: "/v1/runs/{id}/artifacts/{name}",
  tags: ["container"],
  summary: "Upload an artifact (e.g. the final adapter) to R2 (run token)",
  security: bearer,
  middleware: [runToken] as const,
  request: {
    params: z.object({ id: z.string().min(1).max(64), name: z.string().regex(/^[\w.-]{1,128}$/) }),
    body: {
      required: true,
      content: { "application/octet-stream": { schema: z.string().openapi({ format: "binary" }) } },
    },
  },
  responses: {
    201: json(z.object({ uri: z.string(), bytes: z.number(), etag: z.string() }).openapi("StoredArtifact"), "Stored"),
    ...errors(400, 401, 403, 404, 413),
  },
});

const baseAdapterRoute = createRoute({
  method: "get",
  path: "/v1/runs/{id}/base-adapter",
  tags: ["container"],
  summary: "The adapter this run starts from: a training run's warmStart, an eval run's model.adapterOf (run token)",
  security: bearer,
  middleware: [runToken] as const,
  request: { params: IdParam },
  responses: {
    200: {
      description: "The adapter's bytes",
      content: { "application/octet-stream": { schema: z.string().openapi({ format: "binary" }) } },
    },
    ...errors(400, 401, 403, 404),
  },
});

const completeRoute = createRoute({
  method: "post",
  path: "/v1/runs/{id}/complete",
  tags: ["container"],
  summary: "Finish the run with its artifacts and summary (run token; a retry changes nothing)",
  description: "A run that was told to stop and completes with succeeded ends as `stopped`, with its stop reason.",
  security: bearer,
  middleware: [requireAuth("runToken", { allowEndedRun: true })] as const,
  request: {
    params: IdParam,
    body: jsonBody(
      z
        .object({
          status: z.enum(["succeeded", "failed"]),
          artifacts: z.array(Artifact).max(100).optional(),
          summary: z.record(z.string(), z.unknown()).optional(),
          error: z.string().max(4000).optional(),
        })
        .strict()
        .openapi("CompleteRun"),
    ),
  },
  responses: { 200: json(Run, "The ended run"), ...errors(400, 401, 403, 404) },
});

function telemetry(samples: Sample[], results: RewardResult[], latencies: number[]) {
  let valid = 0;
  let sum = 0;
  let sumSq = 0;
  const sub: Record<string, [number, number]> = {};
  for (const r of results) {
    if (!r.valid) continue;
    valid++;
    sum += r.score;
    sumSq += r.score * r.score;
    for (const [name, m] of Object.entries(r.metrics ?? {})) {
      sub[name] ??= [0, 0];
      const acc = sub[name];
      acc[0] += m.score;
      acc[1] += 1;
    }
  }
  // The same grouping and percentiles as pre-flight, so a run's telemetry and its pre-flight agree.
  const groups = scoreGroups(samples, results);
  const sorted = ascending(latencies);
  return {
    samples: samples.length,
    valid,
    scoreSum: sum,
    scoreSumSq: sumSq,
    groups: groups.length,
    zeroStdGroups: zeroVarianceGroups(groups),
    subScores: sub,
    latencyP50: percentile(sorted, 50),
    latencyP99: percentile(sorted, 99),
  };
}

/** The run whose adapter a run starts from: a training run's warm start, an eval run's evaluated adapter. */
export function startingAdapterRun(spec: DispatchSpec): string | undefined {
  if (spec.kind === "eval") return spec.model.adapterOf;
  return spec.warmStart ?? (spec.hyperparams as { warmStart?: string }).warmStart;
}

/** The routes a training or eval container calls with its run token while it works. */
export function containerRoutes(app: OpenAPIHono<AppEnv>) {
  app.openapi(specRoute, async (c) => {
    const run = await runOf(c, c.req.valid("param").id);
    const spec = run.spec;
    if (!spec) throw new ApiError("BAD_REQUEST", `run ${run.id} is a ledger-only record without a spec`);
    const ds = await getDataset(c.var.db, run.projectId, spec.dataset);
    if (!ds) throw notFound("dataset", spec.dataset);
    const base = `/v1/runs/${run.id}/dataset/rows`;
    const warm = startingAdapterRun(spec);
    const adapter = warm ? await adapterOf(c.var.db, warm) : null;
    const warmStart: AdapterRef | null =
      warm && adapter ? { run: warm, ...adapter, download: `/v1/runs/${run.id}/base-adapter` } : null;
    const body: ContainerSpec = {
      runId: run.id,
      experimentId: run.experimentId,
      kind: spec.kind,
      baseModel: spec.kind === "eval" ? spec.model.baseModel : spec.baseModel,
      grader: spec.grader ? { ref: run.graderRef ?? "", config: spec.grader } : null,
      hyperparams: spec.hyperparams as Record<string, unknown>,
      warmStart,
      ...(spec.kind === "eval" ? { eval: { split: spec.split, samplesPerItem: spec.samplesPerItem } } : {}),
      earlyStopping: "earlyStopping" in spec ? spec.earlyStopping : [],
      limits: spec.limits,
      dataset: {
        id: ds.id,
        sha256: ds.sha256,
        rows: ds.rows,
        trainRows: `${base}?split=train`,
        holdoutRows: `${base}?split=holdout`,
      },
    };
    return c.json(body, 200);
  });

  app.openapi(rowsRoute, async (c) => {
    const run = await runOf(c, c.req.valid("param").id);
    const { split, cursor, limit } = c.req.valid("query");
    if (!run.datasetId) throw new ApiError("BAD_REQUEST", `run ${run.id} has no dataset`);
    const ds = await getDataset(c.var.db, run.projectId, run.datasetId);
    if (!ds) throw notFound("dataset", run.datasetId);
    const result = await readRows(c.env.BLOBS, split === "train" ? ds.trainKey : ds.holdoutKey, split, {
      cursor,
      limit,
    });
    if (!result) throw new ApiError("NOT_FOUND", `the ${split} file of dataset ${ds.id} is missing from storage`);
    return c.json(result, 200);
  });

  app.openapi(rewardsRoute, async (c) => {
    const db = c.var.db;
    const run = await runOf(c, c.req.valid("param").id);
    const { step, samples: withIds, batchKey, keepSamples } = c.req.valid("json");
    const spec = run.spec;
    if (!spec?.grader) throw new ApiError("BAD_REQUEST", `run ${run.id} has no grader`);
    if (run.kind === "eval") {
      const missing = withIds.findIndex((s) => s.itemId === undefined);
      if (missing >= 0) {
        throw new ApiError("BAD_REQUEST", "an eval run's samples must each name their itemId", [
          { path: ["samples", missing, "itemId"], message: "required on eval runs" },
        ]);
      }
    }
    const samples: Sample[] = withIds.map(({ itemId: _, ...s }) => s);
    const grader = cachedGrader(spec.grader, run.projectId);
    if (run.graderRef && grader.ref !== run.graderRef) {
      throw conflict(
        `the run is pinned to ${run.graderRef} but this deployment serves ${grader.ref}; the verdicts would not be comparable`,
      );
    }
    const out = await scoreBatch(grader.score, samples, {
      context: scoringContext(c.env, run.projectId),
      concurrency: batchConcurrency(spec.grader),
    });
    const key = batchKey ?? (await sha256Hex(canonicalJson(withIds))).slice(0, 32);
    if (run.kind === "eval") {
      const now = Date.now();
      await recordItemScores(
        db,
        withIds.map((s, i) => {
          const r = out.results[i]!;
          const cluster = s.item.cluster;
          return {
            runId: run.id,
            projectId: run.projectId,
            itemId: s.itemId!,
            sampleKey: `${step}:${key}:${i}`,
            score: r.valid ? r.score : 0,
            valid: r.valid,
            cluster: typeof cluster === "string" || typeof cluster === "number" ? String(cluster) : null,
            createdAt: now,
          };
        }),
      );
    }
    const recorded = await recordRewardBatch(db, {
      runId: run.id,
      step,
      batchKey: key,
      createdAt: Date.now(),
      ...telemetry(samples, out.results, out.latencies),
    });
    if (recorded) {
      await keepStepSamples(c.env.BLOBS, run.id, step, key, samples, out.results, stepBudget(c.env, keepSamples));
    }
    const stop = await evaluateStop(db, c.env, run);
    return c.json({ results: out.results, summary: out.summary, ...stop }, 200);
  });

  app.openapi(heartbeatRoute, async (c) => {
    const db = c.var.db;
    const run = await runOf(c, c.req.valid("param").id);
    const now = Date.now();
    const starting = run.status === "queued" || run.status === "dispatching";
    await updateRun(
      db,
      run.id,
      {
        status: starting ? "running" : undefined,
        reason: starting ? "first heartbeat from the container" : null,
        fields: { heartbeatAt: now, ...(run.startedAt === null ? { startedAt: now } : {}) },
      },
      starting ? ["queued", "dispatching"] : undefined,
    );
    const stop = await evaluateStop(db, c.env, { ...run, startedAt: run.startedAt ?? now });
    return c.json(stop, 200);
  });

  app.openapi(artifactRoute, async (c) => {
    const { id, name } = c.req.valid("param");
    await runOf(c, id);
    const body = c.req.raw.body;
    if (!body) throw new ApiError("BAD_REQUEST", "the artifact body is empty");
    const key = `artifacts/${id}/${name}`;
    const length = Number(c.req.header("content-length") ?? Number.NaN);
    // R2 takes a stream only when its length is known; otherwise the body (bounded by the route's limit) is read first.
    const stored = Number.isFinite(length)
      ? await c.env.BLOBS.put(key, body.pipeThrough(new FixedLengthStream(length)))
      : await c.env.BLOBS.put(key, await c.req.arrayBuffer());
    if (!stored) throw new ApiError("UPSTREAM_FAILED", "storing the artifact failed");
    return c.json({ uri: `r2://assay-blobs/${key}`, bytes: stored.size, etag: stored.etag }, 201);
  });

  app.openapi(completeRoute, async (c) => {
    const db = c.var.db;
    const run = await runOf(c, c.req.valid("param").id);
    const body = c.req.valid("json");
    if (!isTerminal(run.status)) {
      const status = body.status === "succeeded" && run.stopRequested ? "stopped" : body.status;
      const finished = await updateRun(
        db,
        run.id,
        {
          status,
          reason: status === "stopped" ? run.stopReason : (body.error ?? null),
          summary: body.summary ? { ...(run.summary ?? {}), ...body.summary } : undefined,
          artifacts: body.artifacts,
          fields: body.error ? { error: body.error } : undefined,
        },
        ACTIVE_STATUSES,
      );
      // A searching sweep proposes its next point when one of its runs ends.
      if (run.sweepId) await c.env.JOBS.send({ type: "sweep-advance", sweepId: run.sweepId } satisfies JobMessage);
      await notifyCyclesOfRun(db, c.env, run.id);
      if (finished) await announceRunFinished(db, c.env, run.id, run.projectId);
    }
    return c.json(await runDetailView(db, run.projectId, run.id), 200);
  });

  app.openapi(baseAdapterRoute, async (c) => {
    const run = await runOf(c, c.req.valid("param").id);
    const warm = run.spec ? startingAdapterRun(run.spec) : undefined;
    if (!warm) throw new ApiError("NOT_FOUND", `run ${run.id} starts from no adapter`);
    const adapter = await adapterOf(c.var.db, warm);
    if (!adapter) throw new ApiError("NOT_FOUND", `run ${warm} has no adapter artifact`);
    const prefix = "r2://assay-blobs/";
    if (!adapter.uri.startsWith(prefix)) {
      throw new ApiError(
        "BAD_REQUEST",
        `the adapter of ${warm} is not stored here (${adapter.uri}): read it at its URI`,
      );
    }
    const obj = await c.env.BLOBS.get(adapter.uri.slice(prefix.length));
    if (!obj) throw new ApiError("NOT_FOUND", `the adapter of ${warm} is missing from storage`);
    return new Response(obj.body, {
      status: 200,
      headers: { "content-type": "application/octet-stream", "content-length": String(obj.size) },
    }) as never;
  });
}
