import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { latestCertificate } from "../../db/queries/training";
import type { AppEnv } from "../env";
import { notFound } from "../lib/errors";
import { bearer, Cursor, errors, json } from "../lib/openapi";
import { runOf } from "../lib/route-helpers";
import { graderHash } from "../lib/scoring";
import {
  decodeOffset,
  encodeOffset,
  filterSamples,
  MAX_COMPLETION_CHARS,
  MAX_ITEM_CHARS,
  MAX_SAMPLES_PER_STEP,
  readStepSamples,
  zeroVarianceGroups,
} from "../lib/step-samples";
import { requireAuth } from "../middleware/auth";
import { Certificate } from "./scoring";

export const StepSampleView = z
  .object({
    batch: z.string().openapi({ description: "The batchKey the sample came in" }),
    index: z.number().int().openapi({ description: "Position in its batch" }),
    completion: z.string().openapi({ description: `Cut to ${MAX_COMPLETION_CHARS} characters` }),
    completionChars: z.number().int().openapi({ description: "The completion's full length" }),
    truncated: z.boolean(),
    item: z.record(z.string(), z.unknown()).openapi({
      description: `The sample's item (prompt, reference); over ${MAX_ITEM_CHARS} characters of JSON it is { _truncated, preview }`,
    }),
    group: z.union([z.string(), z.number()]).nullable(),
    score: z.number(),
    valid: z.boolean(),
    reason: z.string().nullable(),
    metrics: z.record(z.string(), z.object({ score: z.number(), reason: z.string().optional() })),
    error: z.object({ code: z.string(), message: z.string() }).nullable(),
    groupOutcome: z.enum(["all-pass", "all-fail", "all-equal"]).optional().openapi({
      description: "With filter=zero-variance: whether the sample's group all passed, all failed, or all tied between",
    }),
  })
  .openapi("StepSample");

const StepSamples = z
  .object({
    runId: z.string(),
    step: z.number().int(),
    filter: z.enum(["all", "best", "worst", "invalid", "zero-variance"]),
    kept: z.number().int().openapi({ description: "Samples kept for this step (at most 1024)" }),
    valid: z.number().int(),
    invalidByCode: z.record(z.string(), z.number().int()),
    zeroVarianceGroups: z.object({ allPass: z.number().int(), allFail: z.number().int(), allEqual: z.number().int() }),
    data: z.array(StepSampleView),
    nextCursor: z.string().nullable(),
  })
  .openapi("StepSamples");

const route = createRoute({
  method: "get",
  path: "/v1/runs/{id}/steps/{step}/samples",
  tags: ["metrics"],
  summary: "The samples a training step kept, with their scores, reasons and per-metric breakdown",
  description:
    `The rewards route keeps each step's samples in batch order, up to ASSAY_SAMPLES_PER_STEP (default and most ${MAX_SAMPLES_PER_STEP}) or a batch's keepSamples. ` +
    "`filter`: all (batch order), best / worst (valid samples by score), invalid (by error code), zero-variance " +
    "(samples of GRPO groups whose rewards are all equal: all-pass groups first, then all-fail, then the rest).",
  security: bearer,
  middleware: [requireAuth("key")] as const,
  request: {
    params: z.object({
      id: z.string().min(1).max(64),
      step: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
    }),
    query: z.object({
      filter: z.enum(["all", "best", "worst", "invalid", "zero-variance"]).default("all"),
      cursor: Cursor,
      limit: z.coerce.number().int().min(1).max(200).default(50),
    }),
  },
  responses: { 200: json(StepSamples, "A page of the step's samples"), ...errors(400, 401, 404) },
});

const certificateRoute = createRoute({
  method: "get",
  path: "/v1/runs/{id}/certificate",
  tags: ["runs"],
  summary: "The latest pre-flight certificate of the grader config the run is pinned to",
  security: bearer,
  middleware: [requireAuth("key")] as const,
  request: { params: z.object({ id: z.string().min(1).max(64) }) },
  responses: { 200: json(Certificate, "The certificate"), ...errors(401, 404) },
});

export function stepSampleRoutes(app: OpenAPIHono<AppEnv>) {
  app.openapi(certificateRoute, async (c) => {
    const { id } = c.req.valid("param");
    const run = await runOf(c, id);
    const grader = run.spec?.grader;
    const cert = grader ? await latestCertificate(c.var.db, run.projectId, await graderHash(grader)) : null;
    if (!cert) throw notFound("certificate for the grader of run", id);
    return c.json(cert.report as z.infer<typeof Certificate>, 200);
  });

  app.openapi(route, async (c) => {
    const { id, step } = c.req.valid("param");
    const { filter, cursor, limit } = c.req.valid("query");
    await runOf(c, id);
    const offset = cursor ? decodeOffset(cursor) : 0;
    const all = await readStepSamples(c.env.BLOBS, id, step);
    const groups = zeroVarianceGroups(all);
    const outcomes = new Map(groups.map((g) => [`${typeof g.group}:${g.group}`, g.outcome]));
    const chosen = filterSamples(all, filter);
    const shown = chosen.slice(offset, offset + limit).map((s) => {
      const outcome = filter === "zero-variance" ? outcomes.get(`${typeof s.group}:${s.group}`) : undefined;
      return outcome ? { ...s, groupOutcome: outcome } : s;
    });
    const invalidByCode: Record<string, number> = {};
    for (const s of all) {
      if (s.valid) continue;
      const code = s.error?.code ?? "UNKNOWN";
      invalidByCode[code] = (invalidByCode[code] ?? 0) + 1;
    }
    const count = (o: string) => groups.filter((g) => g.outcome === o).length;
    return c.json(
      {
        runId: id,
        step,
        filter,
        kept: all.length,
        valid: all.filter((s) => s.valid).length,
        invalidByCode,
        zeroVarianceGroups: { allPass: count("all-pass"), allFail: count("all-fail"), allEqual: count("all-equal") },
        data: shown,
        nextCursor: offset + limit < chosen.length ? encodeOffset(offset + limit) : null,
      },
      200,
    );
  });
}
