import { invalid, type RewardResult } from "../../../core/types";
import { MAX_TIME_MS, OUTPUT_LIMIT_BYTES, type RunLimits } from "../types";
import { limitReason } from "../verdict";
import type { GradeOutcome, PyodideSandbox, SourceProblem } from "./sandbox";

/** Time kept back from a deadline for building the result (as for code tests). */
const DEADLINE_MARGIN_MS = 20;
/** Compiling a grader's source at validation: generous, but a hostile source still stops. */
const CHECK_LIMITS: RunLimits = { timeMs: 2_000, memoryBytes: 256 * 2 ** 20, outputBytes: 64 * 1024 };

export interface PythonGradeInput {
  /** The grader's source, defining `grade(sample, item)`. */
  source: string;
  /** OpenAI's sample namespace: `output_text`, `output_json`, `output_tools`, `choices`, `output_audio`. */
  sample: Record<string, unknown>;
  /** The dataset row. */
  item: Record<string, unknown>;
  timeoutMs: number;
  memoryMb: number;
  /** Epoch ms by which to give up; a run cut short by it is `valid: false`. */
  deadline?: number;
}

/**
 * Runs python graders' `grade(sample, item)` in the Python sandbox (metered, clean state per sample, the
 * same hardening as code tests). What grade() does is the user's code acting on the model's output, so
 * whatever goes wrong inside it (an exception, a limit, a crash) scores that sample 0 with the reason;
 * only a broken sandbox or a source that does not compile is `valid: false`.
 *
 * @example
 * const r = await ctx.services.python!.grade({
 *   source: "def grade(sample, item):\n    return float(sample['output_text'] == item['answer'])",
 *   sample: { output_text: "4" }, item: { answer: "4" }, timeoutMs: 5000, memoryMb: 256,
 * });
 */
export interface PythonGraderService {
  grade(input: PythonGradeInput): Promise<RewardResult>;
  /** Compiles the source and checks it defines grade(sample, item): null when usable, else why not. */
  check(source: string): Promise<SourceProblem | null>;
}

const round = (x: number) => Math.round(x * 1e6) / 1e6;

/** The verdict on one grade() run. */
export function gradeVerdict(o: GradeOutcome, limits: RunLimits): RewardResult {
  const zero = (reason: string): RewardResult => ({ score: 0, valid: true, reason });
  if (o.sandboxError) return invalid("SANDBOX_FAILED", o.sandboxError);
  if (o.compileError) return invalid("INVALID_INPUT", `the grader's source does not compile: ${o.compileError}`);
  if (o.limit) return zero(`the grader stopped: ${limitReason(o.limit, limits)}`);
  if (o.crash) return zero(`the grader broke the sandbox: ${o.crash}`);
  if (o.loadError) return zero(`the grader's source raised ${o.loadError}`);
  if (o.runError) return zero(`grade raised ${o.runError}`);
  const v = o.value;
  if (!o.completed || !v) return zero("grade did not return");
  if ("type" in v) return zero(`grade returned a ${v.type}, not a number: scored 0`);
  if ("nan" in v) return zero("grade returned nan: scored 0");
  if ("inf" in v) {
    const score = v.inf > 0 ? 1 : 0;
    return {
      score,
      valid: true,
      reason: `grade returned ${v.inf > 0 ? "inf" : "-inf"}, outside [0, 1]: clamped to ${score}`,
    };
  }
  const x = v.number;
  if (x < 0 || x > 1) {
    const score = x < 0 ? 0 : 1;
    return { score, valid: true, reason: `grade returned ${round(x)}, outside [0, 1]: clamped to ${score}` };
  }
  return { score: x, valid: true, reason: `grade returned ${round(x)}` };
}

export function createPythonGraderService(sandbox: PyodideSandbox): PythonGraderService {
  return {
    async grade(input) {
      if (!Number.isFinite(input.timeoutMs) || input.timeoutMs < 1 || input.timeoutMs > MAX_TIME_MS)
        return invalid("INVALID_INPUT", `timeoutMs must be between 1 and ${MAX_TIME_MS}`);
      let timeMs = input.timeoutMs;
      let cut = false;
      if (input.deadline !== undefined) {
        const left = input.deadline - Date.now() - DEADLINE_MARGIN_MS;
        if (left <= 0) return invalid("DEADLINE_EXCEEDED", "the deadline passed before the grader could run");
        if (left < timeMs) {
          timeMs = Math.floor(left);
          cut = true;
        }
      }
      const limits: RunLimits = { timeMs, memoryBytes: input.memoryMb * 2 ** 20, outputBytes: OUTPUT_LIMIT_BYTES };
      let outcome: GradeOutcome;
      try {
        outcome = await sandbox.grade({ source: input.source, sample: input.sample, item: input.item }, limits);
      } catch (err) {
        return invalid("SANDBOX_FAILED", `the Python sandbox failed: ${err instanceof Error ? err.message : err}`);
      }
      if (cut && outcome.limit === "time")
        return invalid("DEADLINE_EXCEEDED", `the deadline left ${timeMs} ms of the ${input.timeoutMs} ms time limit`);
      return gradeVerdict(outcome, { ...limits, timeMs: input.timeoutMs });
    },
    check(source) {
      return sandbox.checkSource(source, CHECK_LIMITS);
    },
  };
}
