import * as z from "zod";

/**
 * The RFT run spec: what a user sends to create a training run, and what the container reads back from
 * `GET /v1/runs/{id}/spec`. Shared by the platform (validation, dispatch) and the container (training).
 *
 * @example
 * {
 *   "kind": "rft",
 *   "baseModel": "Qwen/Qwen2.5-0.5B-Instruct",
 *   "dataset": "ds_01…",
 *   "grader": { "type": "string_check", "name": "exact", "input": "{{sample.output_text}}", "reference": "{{item.answer}}", "operation": "eq" },
 *   "hyperparams": { "learningRate": 1e-5, "batchSize": 16, "groupSize": 8, "maxSteps": 200 },
 *   "backend": "local",
 *   "earlyStopping": [{ "metric": "reward/mean", "mode": "max", "patience": 20, "minDelta": 0.001 }]
 * }
 */
export const Hyperparams = z
  .object({
    learningRate: z.number().min(1e-8).max(1e-2).default(1e-5),
    batchSize: z.number().int().min(1).max(4096).default(16),
    /** Completions sampled per prompt (the GRPO group). */
    groupSize: z.number().int().min(2).max(64).default(8),
    epochs: z.number().int().min(1).max(100).default(1),
    loraRank: z.number().int().min(1).max(512).default(16),
    loraAlpha: z.number().int().min(1).max(1024).optional(),
    /** KL penalty coefficient against the reference policy (TRL's `beta`). */
    klBeta: z.number().min(0).max(10).default(0.04),
    maxSteps: z.number().int().min(1).max(1_000_000).default(500),
    temperature: z.number().min(0).max(2).default(1),
    maxCompletionLength: z.number().int().min(1).max(32_768).default(256),
    /** Prompt tokens kept (TRL cuts longer prompts from the left); unset, prompts are never cut. */
    maxPromptLength: z.number().int().min(1).max(32_768).optional(),
    seed: z
      .number()
      .int()
      .min(0)
      .max(2 ** 31 - 1)
      .default(0),
  })
  .strict();
export type Hyperparams = z.infer<typeof Hyperparams>;

export const EarlyStoppingRule = z
  .object({
    metric: z.string().min(1).max(200),
    mode: z.enum(["max", "min"]),
    /** Reports without an improvement of at least `minDelta` before the run stops. */
    patience: z.number().int().min(1).max(100_000),
    minDelta: z.number().min(0).default(0),
  })
  .strict();
export type EarlyStoppingRule = z.infer<typeof EarlyStoppingRule>;

/**
 * Reward-hacking alarm: stop when the training reward rises while a holdout score falls over the last
 * `window` reports of each (least-squares slopes of opposite sign, each beyond `minSlope`).
 */
export const HackingAlarm = z
  .object({
    trainMetric: z.string().min(1).max(200).default("reward/mean"),
    holdoutMetric: z.string().min(1).max(200),
    window: z.number().int().min(3).max(10_000).default(5),
    minSlope: z.number().min(0).default(0),
  })
  .strict();
export type HackingAlarm = z.infer<typeof HackingAlarm>;

export const Limits = z
  .object({
    /** Wall-clock budget from the first heartbeat. */
    maxWallClockMinutes: z
      .number()
      .min(1)
      .max(60 * 24 * 14)
      .optional(),
    /** Highest training step accepted before the run is told to stop. */
    maxSteps: z.number().int().min(1).optional(),
    /** Reward samples the run may have scored. */
    maxRewardSamples: z.number().int().min(1).optional(),
    /** A run whose last heartbeat is older than this is marked failed by reconciliation. */
    heartbeatTimeoutSeconds: z.number().int().min(30).max(86_400).optional(),
  })
  .strict();
export type Limits = z.infer<typeof Limits>;

export const Resources = z
  .object({
    gpus: z.number().int().min(1).max(8).default(1),
    vcpus: z.number().int().min(1).max(192).default(8),
    memoryMib: z.number().int().min(1024).max(2_000_000).default(61_440),
    /** Seconds before AWS Batch kills the attempt (Batch's timeout.attemptDurationSeconds). */
    timeoutSeconds: z
      .number()
      .int()
      .min(60)
      .max(14 * 86_400)
      .default(86_400),
    /** Batch retry attempts (retryStrategy.attempts). */
    attempts: z.number().int().min(1).max(10).default(2),
  })
  .strict();
export type Resources = z.infer<typeof Resources>;

export const Backend = z.enum(["local", "aws-batch"]);
export type Backend = z.infer<typeof Backend>;

export const RftSpec = z
  .object({
    kind: z.literal("rft"),
    name: z.string().trim().min(1).max(200).optional(),
    baseModel: z.string().trim().min(1).max(300),
    dataset: z.string().min(1).max(64),
    grader: z.record(z.string(), z.unknown()),
    hyperparams: Hyperparams.default(Hyperparams.parse({})),
    backend: Backend.default("local"),
    earlyStopping: z.array(EarlyStoppingRule).max(16).default([]),
    hackingAlarm: HackingAlarm.optional(),
    limits: Limits.default({}),
    resources: Resources.default(Resources.parse({})),
    parentRunId: z.string().min(1).max(64).optional(),
    /** Dispatch even without a passing pre-flight certificate for the grader. */
    force: z.boolean().default(false),
  })
  .strict();
export type RftSpec = z.infer<typeof RftSpec>;

/** What `GET /v1/runs/{id}/spec` gives the container. */
export interface ContainerSpec {
  runId: string;
  experimentId: string;
  baseModel: string;
  grader: { ref: string; config: Record<string, unknown> };
  hyperparams: Hyperparams;
  earlyStopping: EarlyStoppingRule[];
  limits: Limits;
  dataset: {
    id: string;
    sha256: string;
    rows: number;
    /** Where to read the training rows: a path on this API, paged (`GET …/rows?split=train&cursor=`). */
    trainRows: string;
    holdoutRows: string;
  };
}
