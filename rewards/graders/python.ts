import * as z from "zod";
import { defineGraderType } from "../core/grader";
import { invalid, type Sample } from "../core/types";
import { DEFAULT_MEMORY_MB, DEFAULT_TIME_MS, MAX_MEMORY_MB, MAX_TIME_MS, MIN_MEMORY_MB } from "../verifiers/code";
import type { PythonGraderService } from "../verifiers/code/python/grade";

declare module "../core/services" {
  interface Services {
    /** Runs python graders' grade(sample, item) in the Python sandbox; absent in builds without one. */
    python?: PythonGraderService;
  }
}

/** OpenAI's limit on a python grader's source ("less than 256kB"), in UTF-8 bytes. */
export const MAX_SOURCE_BYTES = 256 * 1024;

const encoder = new TextEncoder();

export const PythonGraderConfig = z
  .object({
    type: z.literal("python"),
    /** OpenAI's examples name python graders in multi but not always alone: optional, as for multi. */
    name: z.string().min(1).optional(),
    source: z.string().min(1),
    /** OpenAI's image (its installed packages); accepted and ignored: the sandbox has the stdlib only. */
    image_tag: z.string().optional(),
    /** OpenAI's evals field: accepted, not used for scoring. */
    pass_threshold: z.number().optional(),
    /** Assay's additions: the limits per sample, as for code_tests. */
    timeout_ms: z.number().int().min(1).max(MAX_TIME_MS).default(DEFAULT_TIME_MS),
    memory_mb: z.number().int().min(MIN_MEMORY_MB).max(MAX_MEMORY_MB).default(DEFAULT_MEMORY_MB),
  })
  .superRefine((cfg, ctx) => {
    const bytes = encoder.encode(cfg.source).length;
    if (bytes >= MAX_SOURCE_BYTES)
      ctx.addIssue({
        code: "custom",
        path: ["source"],
        message: `source must be less than ${MAX_SOURCE_BYTES / 1024} kB (it is ${Math.ceil(bytes / 1024)} kB)`,
      });
  });
export type PythonGraderConfig = z.infer<typeof PythonGraderConfig>;

/**
 * The `sample` argument as OpenAI's graders pass it. `output_json` is the completion parsed when it is a
 * JSON text, else None; Assay's samples are text, so `output_tools` is empty and `choices` holds the one
 * assistant message.
 */
export function sampleNamespace(sample: Sample): Record<string, unknown> {
  let outputJson: unknown = null;
  try {
    outputJson = JSON.parse(sample.completion);
  } catch {
    outputJson = null;
  }
  return {
    output_text: sample.completion,
    output_json: outputJson,
    output_tools: [],
    choices: [{ index: 0, finish_reason: "stop", message: { role: "assistant", content: sample.completion } }],
    output_audio: null,
  };
}

/**
 * `{ type: "python", name?, source, image_tag?, timeout_ms?, memory_mb? }` (OpenAI's format): runs the
 * source's `grade(sample, item)` in the Python sandbox for every sample, with a clean interpreter each
 * time. A number in [0, 1] is the score; one outside is clamped and the reason says so; anything else it
 * returns, an exception it raises or a limit it hits scores 0 with the reason. A source that does not
 * compile is a config error (validate, run and preflight answer 400 with the path `source`).
 *
 * @example
 * { "type": "python", "source": "def grade(sample, item):\n    return 1.0", "image_tag": "2025-05-08" }
 */
export const pythonGrader = defineGraderType({
  type: "python",
  description:
    "Runs the source's grade(sample, item) -> float in the Python sandbox (CPython's stdlib, no network or files, time and memory limits, a clean interpreter per sample); out-of-range scores are clamped.",
  config: PythonGraderConfig,
  async check(cfg, services) {
    if (!services.python) return [];
    const problem = await services.python.check(cfg.source);
    return problem ? [{ path: ["source"], message: problem.message }] : [];
  },
  build(cfg) {
    return {
      ref: "python",
      async score(sample, ctx) {
        const python = ctx.services.python;
        if (!python)
          return invalid("SANDBOX_FAILED", "no Python sandbox in this runtime (ctx.services.python is missing)");
        return python.grade({
          source: cfg.source,
          sample: sampleNamespace(sample),
          item: sample.item,
          timeoutMs: cfg.timeout_ms,
          memoryMb: cfg.memory_mb,
          deadline: ctx.deadline,
        });
      },
    };
  },
});
