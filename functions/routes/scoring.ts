import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { certificates } from "../../db/schema";
import { DEFAULT_DEADLINE_MS, MAX_DEADLINE_MS, scoreBatch } from "../../rewards/core/engine";
import { certify, DEFAULT_THRESHOLDS } from "../../rewards/core/preflight";
import { batchConcurrency, GRADER_TYPES, validateGraderIn } from "../../rewards/graders";
import { usesJudge } from "../../rewards/graders/judge";
import { getReward, listRewards } from "../../rewards/registry";
import type { AppEnv } from "../env";
import { notFound } from "../lib/errors";
import { newId } from "../lib/ids";
import { bearer, errors, json, jsonBody } from "../lib/openapi";
import { projectOf } from "../lib/project";
import { cachedGrader, checkedGrader, graderHash, scoringContext } from "../lib/scoring";
import { requireAuth } from "../middleware/auth";

export const MAX_SAMPLES = 10_000;
/** Default pre-flight limit on a judge's disagreement between its two passes. */
export const JUDGE_MAX_DISAGREEMENT = 0.1;

export const SampleIn = z
  .object({
    completion: z.string().max(1_000_000),
    item: z.record(z.string(), z.unknown()).default({}),
    group: z.union([z.string().max(200), z.number()]).optional(),
  })
  .openapi("Sample");

export const Deadline = z
  .number()
  .int()
  .min(1)
  .max(MAX_DEADLINE_MS)
  .optional()
  .openapi({ description: `Per-sample deadline in ms (default ${DEFAULT_DEADLINE_MS})` });

/**
 * Each grader type's config as JSON Schema, for the docs only: requests are still checked by
 * validateGrader(), whose issues name the path inside the config, so the route accepts what it did.
 */
function graderConfigDocs(): Record<string, unknown>[] {
  return GRADER_TYPES.map((t) => {
    let schema: Record<string, unknown>;
    try {
      const { $schema: _, ...rest } = z.toJSONSchema(t.config, { io: "input", unrepresentable: "any" });
      schema = rest;
    } catch {
      // A config whose schema JSON Schema cannot express (a recursive lazy) is documented by its type alone.
      schema = { type: "object", properties: { type: { const: t.type } }, required: ["type"] };
    }
    return { title: t.type, description: t.description, ...schema };
  });
}

export const GraderConfig = z.record(z.string(), z.unknown()).openapi("GraderConfig", {
  description: `A grader config; \`type\` is one of: ${GRADER_TYPES.map((t) => t.type).join(", ")}. The OpenAI RFT grader format is accepted as is.`,
  oneOf: graderConfigDocs(),
});

export const Result = z
  .object({
    score: z.number().min(0).max(1),
    valid: z.boolean(),
    reason: z.string().optional(),
    metrics: z.record(z.string(), z.object({ score: z.number(), reason: z.string().optional() })).optional(),
    error: z.object({ code: z.string(), message: z.string() }).optional(),
  })
  .openapi("Result");

export const Summary = z
  .object({
    count: z.number(),
    validCount: z.number(),
    mean: z.number().nullable(),
    latencyMs: z.number().openapi({ description: "Wall time of the batch" }),
    latency: z.object({ p50: z.number(), p99: z.number(), max: z.number() }),
  })
  .openapi("ScoreSummary");

const Samples = z.array(SampleIn).min(1).max(MAX_SAMPLES);

const RewardInfo = z
  .object({ name: z.string(), version: z.string(), description: z.string(), inputSchema: z.unknown() })
  .openapi("Reward");

const Thresholds = z
  .object({
    maxNondeterministic: z.number().min(0).max(1),
    maxInvalidRate: z.number().min(0).max(1),
    maxP99Ms: z.number().positive(),
    maxZeroVarianceGroups: z.number().min(0).max(1),
    maxLengthCorrelation: z.number().min(0).max(1),
    minSamples: z.number().int().min(1),
  })
  .partial()
  .openapi("PreflightThresholds");

const Check = z.object({
  name: z.string(),
  passed: z.boolean(),
  value: z.number().nullable(),
  limit: z.number().nullable(),
  detail: z.string(),
});

export const Certificate = z
  .object({
    id: z.string(),
    grader: z.object({ ref: z.string(), hash: z.string() }),
    verdict: z.enum(["pass", "fail"]),
    reasons: z.array(z.string()),
    checks: z.array(Check),
    samples: z.number(),
    determinism: z.object({ mismatches: z.number(), rate: z.number(), examples: z.array(z.number()) }),
    oneResultPerSample: z.boolean(),
    invalidRate: z.number(),
    latencyMs: z.object({ p50: z.number(), p99: z.number() }),
    groups: z.object({ count: z.number(), zeroVariance: z.number(), share: z.number().nullable() }),
    lengthCorrelation: z.number().nullable(),
    meanScore: z.number().nullable(),
    judge: z.object({ disagreementRate: z.number(), pairs: z.number() }).optional().openapi({
      description: "For graders that call an LLM judge: the share of samples its two passes scored differently",
    }),
    thresholds: Thresholds,
    createdAt: z.string(),
  })
  .openapi("PreflightCertificate");

const key = requireAuth("key");

const listRoute = createRoute({
  method: "get",
  path: "/v1/rewards",
  tags: ["scoring"],
  summary: "The authored rewards, with their code-derived versions",
  security: bearer,
  middleware: [key] as const,
  responses: { 200: json(z.object({ data: z.array(RewardInfo) }), "Rewards by name"), ...errors(401) },
});

const scoreRoute = createRoute({
  method: "post",
  path: "/v1/rewards/{name}/score",
  tags: ["scoring"],
  summary: "Score samples with an authored reward",
  description: "Exactly one result per sample, in order; HTTP 200 even when some samples are invalid.",
  security: bearer,
  middleware: [key] as const,
  request: {
    params: z.object({ name: z.string().min(1).max(64) }),
    body: jsonBody(z.object({ samples: Samples, deadlineMs: Deadline }).openapi("ScoreRequest")),
  },
  responses: {
    200: json(
      z.object({
        reward: z.object({ name: z.string(), version: z.string() }),
        results: z.array(Result),
        summary: Summary,
      }),
      "Results",
    ),
    ...errors(400, 401, 404, 413),
  },
});

const runRoute = createRoute({
  method: "post",
  path: "/v1/graders/run",
  tags: ["scoring"],
  summary: "Score samples with a grader config",
  security: bearer,
  middleware: [key] as const,
  request: {
    body: jsonBody(
      z.object({ grader: GraderConfig, samples: Samples, deadlineMs: Deadline }).openapi("GraderRunRequest"),
    ),
  },
  responses: {
    200: json(
      z.object({ grader: z.object({ type: z.string(), ref: z.string() }), results: z.array(Result), summary: Summary }),
      "Results",
    ),
    ...errors(400, 401, 413),
  },
});

const validateRoute = createRoute({
  method: "post",
  path: "/v1/graders/validate",
  tags: ["scoring"],
  summary: "Check a grader config without running it",
  security: bearer,
  middleware: [key] as const,
  request: { body: jsonBody(z.object({ grader: z.unknown() }).openapi("GraderValidateRequest")) },
  responses: {
    200: json(
      z.object({
        valid: z.boolean(),
        errors: z.array(z.object({ path: z.array(z.union([z.string(), z.number()])), message: z.string() })),
      }),
      "The verdict; errors name the offending path",
    ),
    ...errors(400, 401),
  },
});

const preflightRoute = createRoute({
  method: "post",
  path: "/v1/graders/preflight",
  tags: ["scoring"],
  summary: "Certify a grader for RL before spending GPU time",
  description:
    "Scores the pilot samples twice and checks determinism, one result per sample, the invalid rate, p50/p99 latency, the share of GRPO groups with zero reward variance and the reward/length correlation. The certificate is stored; RFT dispatch requires a passing one.",
  security: bearer,
  middleware: [key] as const,
  request: {
    body: jsonBody(
      z
        .object({ grader: GraderConfig, samples: Samples, deadlineMs: Deadline, thresholds: Thresholds.optional() })
        .openapi("PreflightRequest"),
    ),
  },
  responses: { 200: json(Certificate, "The certificate (verdict pass or fail)"), ...errors(400, 401, 413) },
});

export function scoringRoutes(app: OpenAPIHono<AppEnv>) {
  app.openapi(listRoute, (c) => c.json({ data: listRewards() }, 200));

  app.openapi(scoreRoute, async (c) => {
    const { name } = c.req.valid("param");
    const { samples, deadlineMs } = c.req.valid("json");
    const registered = getReward(name);
    if (!registered) throw notFound("reward", name);
    const grader = cachedGrader({ type: "reward", name }, projectOf(c));
    const out = await scoreBatch(grader.score, samples, { deadlineMs, context: scoringContext(c.env, projectOf(c)) });
    return c.json({ reward: { name, version: registered.version }, results: out.results, summary: out.summary }, 200);
  });

  app.openapi(runRoute, async (c) => {
    const { grader: config, samples, deadlineMs } = c.req.valid("json");
    const context = scoringContext(c.env, projectOf(c));
    const grader = await checkedGrader(config, projectOf(c), context.services);
    const out = await scoreBatch(grader.score, samples, { deadlineMs, context, concurrency: batchConcurrency(config) });
    return c.json(
      { grader: { type: String(config.type), ref: grader.ref }, results: out.results, summary: out.summary },
      200,
    );
  });

  app.openapi(validateRoute, async (c) => {
    const { services } = scoringContext(c.env, projectOf(c));
    return c.json(await validateGraderIn(c.req.valid("json").grader, services), 200);
  });

  app.openapi(preflightRoute, async (c) => {
    const { grader: config, samples, deadlineMs, thresholds } = c.req.valid("json");
    const context = scoringContext(c.env, projectOf(c));
    const grader = await checkedGrader(config, projectOf(c), context.services);
    const concurrency = batchConcurrency(config);
    const first = await scoreBatch(grader.score, samples, { deadlineMs, context, concurrency });
    const second = await scoreBatch(grader.score, samples, { deadlineMs, context, concurrency });
    // A judge may answer differently on the second pass even at temperature 0: its disagreement rate is
    // what pre-flight measures then, held to a looser default than a deterministic verifier's zero.
    const judged = usesJudge(config);
    const defaults = judged
      ? { ...DEFAULT_THRESHOLDS, maxNondeterministic: JUDGE_MAX_DISAGREEMENT }
      : DEFAULT_THRESHOLDS;
    const limits = { ...defaults, ...(thresholds ?? {}) };
    const report = certify(samples, first.results, second.results, first.latencies, limits);
    const hash = await graderHash(config);
    const id = newId("cert");
    const createdAt = Date.now();
    const certificate = {
      id,
      grader: { ref: grader.ref, hash },
      ...report,
      ...(judged ? { judge: { disagreementRate: report.determinism.rate, pairs: samples.length } } : {}),
      thresholds: limits,
      createdAt: new Date(createdAt).toISOString(),
    };
    await c.var.db.insert(certificates).values({
      id,
      projectId: projectOf(c),
      graderHash: hash,
      graderRef: grader.ref,
      verdict: report.verdict,
      report: certificate,
      createdAt,
    });
    return c.json(certificate, 200);
  });
}
