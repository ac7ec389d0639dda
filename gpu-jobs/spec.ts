import * as z from "zod";

export const LrScheduler = z.enum(["constant", "linear", "cosine"]);
export type LrScheduler = z.infer<typeof LrScheduler>;

export const RunRef = z.string().regex(/^run_[0-9a-z]{1,60}$/, 'a run id ("run_…")');

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
    /** Learning-rate schedule after warmup (Hugging Face's `lr_scheduler_type`). */
    lrScheduler: LrScheduler.default("constant"),
    /** Share of the planned steps over which the rate rises linearly from 0 (`warmup_ratio`). */
    warmupRatio: z.number().min(0).max(1).default(0),
    precision: z.enum(["bf16", "fp16", "fp32"]).default("bf16"),
    /** Modules the LoRA adapter attaches to (PEFT's `target_modules`); unset: the trainer's default. */
    loraTargets: z
      .array(z.string().regex(/^[\w.*-]{1,100}$/))
      .min(1)
      .max(64)
      .optional(),
    loraDropout: z.number().min(0).max(1).default(0.05),
    /** Also accepted here; the run's top-level `warmStart` wins. */
    warmStart: RunRef.optional(),
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
    /** Start from this run's adapter (a succeeded run with an `adapter` or `lora-adapter` artifact). */
    warmStart: RunRef.optional(),
    /** Dispatch even without a passing pre-flight certificate for the grader. */
    force: z.boolean().default(false),
  })
  .strict();
export type RftSpec = z.infer<typeof RftSpec>;

/** DPO's settings besides the common ones (TRL's `DPOConfig.beta` and `loss_type`). */
export const DpoHyperparams = Hyperparams.extend({
  /** Temperature of the implicit reward: how far the policy may move from the reference. */
  beta: z.number().min(0.001).max(10).default(0.1),
  lossType: z.enum(["sigmoid", "hinge", "ipo"]).default("sigmoid"),
}).strict();
export type DpoHyperparams = z.infer<typeof DpoHyperparams>;

/** KTO's settings (TRL's `KTOConfig.beta`, `desirable_weight`, `undesirable_weight`). */
export const KtoHyperparams = Hyperparams.extend({
  beta: z.number().min(0.001).max(10).default(0.1),
  desirableWeight: z.number().min(0).max(100).default(1),
  undesirableWeight: z.number().min(0).max(100).default(1),
}).strict();
export type KtoHyperparams = z.infer<typeof KtoHyperparams>;

const trainingFields = {
  name: z.string().trim().min(1).max(200).optional(),
  baseModel: z.string().trim().min(1).max(300),
  dataset: z.string().min(1).max(64),
  /** Optional for offline kinds: when given, it is pinned and the trainer may use it for holdout KPIs. */
  grader: z.record(z.string(), z.unknown()).optional(),
  /** Required: without a backend, a run of this kind is a ledger-only record (CreateRecordRun). */
  backend: Backend,
  earlyStopping: z.array(EarlyStoppingRule).max(16).default([]),
  limits: Limits.default({}),
  resources: Resources.default(Resources.parse({})),
  parentRunId: z.string().min(1).max(64).optional(),
  warmStart: RunRef.optional(),
};

/**
 * Supervised fine-tuning: maximum likelihood of each row's target completion. Rows follow TRL's SFT format,
 * `{ prompt, completion }` or `{ messages }` (the last assistant message is the target).
 *
 * @example
 * { "kind": "sft", "baseModel": "Qwen/Qwen2.5-0.5B-Instruct", "dataset": "ds_01…", "backend": "local",
 *   "hyperparams": { "learningRate": 2e-5, "lrScheduler": "cosine", "warmupRatio": 0.1 }, "warmStart": "run_01…" }
 */
export const SftSpec = z
  .object({ kind: z.literal("sft"), hyperparams: Hyperparams.default(Hyperparams.parse({})), ...trainingFields })
  .strict();
export type SftSpec = z.infer<typeof SftSpec>;

/** Direct preference optimisation against the frozen reference policy. Rows: `{ prompt, chosen, rejected }`. */
export const DpoSpec = z
  .object({ kind: z.literal("dpo"), hyperparams: DpoHyperparams.default(DpoHyperparams.parse({})), ...trainingFields })
  .strict();
export type DpoSpec = z.infer<typeof DpoSpec>;

/** Kahneman-Tversky optimisation from unpaired thumbs. Rows: `{ prompt, completion, label: boolean }`. */
export const KtoSpec = z
  .object({ kind: z.literal("kto"), hyperparams: KtoHyperparams.default(KtoHyperparams.parse({})), ...trainingFields })
  .strict();
export type KtoSpec = z.infer<typeof KtoSpec>;

export const EvalHyperparams = z
  .object({
    /** 0: greedy decoding. */
    temperature: z.number().min(0).max(2).default(0),
    maxCompletionLength: z.number().int().min(1).max(32_768).default(256),
    /** Items per rewards call. */
    batchSize: z.number().int().min(1).max(1000).default(50),
    seed: z
      .number()
      .int()
      .min(0)
      .max(2 ** 31 - 1)
      .default(0),
    precision: z.enum(["bf16", "fp16", "fp32"]).default("bf16"),
  })
  .strict();
export type EvalHyperparams = z.infer<typeof EvalHyperparams>;

/**
 * An evaluation run: the model (a base model, or a run's adapter on it) answers every item of one split of a
 * dataset, `samplesPerItem` times, and the container scores the answers through `POST /v1/runs/{id}/rewards`
 * with each sample's `itemId`, so per-item scores land in the ledger (`GET /v1/runs/{id}/items`).
 *
 * @example
 * { "kind": "eval", "model": { "baseModel": "cpu/bag-of-words", "adapterOf": "run_01…" }, "dataset": "ds_01…",
 *   "split": "holdout", "grader": { "type": "reward", "name": "format-answer" }, "backend": "local" }
 */
export const EvalSpec = z
  .object({
    kind: z.literal("eval"),
    name: z.string().trim().min(1).max(200).optional(),
    model: z.object({ baseModel: z.string().trim().min(1).max(300), adapterOf: RunRef.optional() }).strict(),
    dataset: z.string().min(1).max(64),
    split: z.enum(["holdout", "train"]).default("holdout"),
    grader: z.record(z.string(), z.unknown()),
    samplesPerItem: z.number().int().min(1).max(64).default(1),
    hyperparams: EvalHyperparams.default(EvalHyperparams.parse({})),
    backend: Backend,
    limits: Limits.default({}),
    resources: Resources.default(Resources.parse({})),
    parentRunId: z.string().min(1).max(64).optional(),
  })
  .strict();
export type EvalSpec = z.infer<typeof EvalSpec>;

export type TrainingSpec = SftSpec | DpoSpec | KtoSpec;
/** Every spec a dispatched run carries. */
export type DispatchSpec = RftSpec | TrainingSpec | EvalSpec;
export const SPEC_OF_KIND = { rft: RftSpec, sft: SftSpec, dpo: DpoSpec, kto: KtoSpec, eval: EvalSpec } as const;
export type RunKind = keyof typeof SPEC_OF_KIND;

/** Where a run's starting adapter is (a training run's `warmStart`, an eval run's `model.adapterOf`). */
export const AdapterRef = z.object({
  run: z.string(),
  kind: z.string(),
  uri: z.string(),
  /** The adapter's bytes, for the run's token (`GET` this path on the API). */
  download: z.string().describe("The adapter's bytes, for the run's token (GET this path on the API)"),
});
export type AdapterRef = z.infer<typeof AdapterRef>;

/**
 * What `GET /v1/runs/{id}/spec` gives the container. A zod schema so that /openapi.json documents it
 * field by field; the container's client (gpu-jobs/container/assay_client.py) reads these fields.
 */
export const ContainerSpec = z.object({
  runId: z.string(),
  experimentId: z.string(),
  kind: z.enum(["rft", "sft", "dpo", "kto", "eval"]),
  baseModel: z.string(),
  grader: z
    .object({ ref: z.string(), config: z.record(z.string(), z.unknown()) })
    .nullable()
    .describe("Absent for offline kinds created without a grader"),
  hyperparams: z.record(z.string(), z.unknown()),
  warmStart: AdapterRef.nullable().describe(
    "The adapter the trainer starts from (training kinds) or evaluates (eval), with its artifact URI",
  ),
  eval: z
    .object({ split: z.enum(["train", "holdout"]), samplesPerItem: z.number().int() })
    .optional()
    .describe("Eval runs: the split to answer and how many samples per item"),
  earlyStopping: z.array(EarlyStoppingRule),
  limits: Limits,
  dataset: z.object({
    id: z.string(),
    sha256: z.string(),
    rows: z.number().int(),
    trainRows: z
      .string()
      .describe("Where to read the training rows: a path on this API, paged (GET …/rows?split=train&cursor=)"),
    holdoutRows: z.string(),
  }),
});
export type ContainerSpec = z.infer<typeof ContainerSpec>;
