// The wire format between the main Worker and the sandbox Workers (sandbox/handler.ts), over service bindings.
// The main Worker never runs model code itself: it sends a batch's code runs and python-grader runs here
// in small chunks.

import type { CodeRunInput } from "../rewards/core/services";
import type { RewardResult } from "../rewards/core/types";
import type { PythonGradeInput } from "../rewards/verifiers/code/python/grade";
import type { SourceProblem } from "../rewards/verifiers/code/python/sandbox";

export const SANDBOX_RUN_PATH = "/run";
/** Compiles a python grader's source: `{ source }` → `{ problem: SourceProblem | null }`. */
export const SANDBOX_CHECK_PATH = "/check";

/** At most this many runs in one call, so a 1,024-sample batch is many short calls, not one long one. */
export const MAX_RUNS_PER_CALL = 32;

/**
 * One run as sent: code tests (`op: "code"`) or a python grader's grade() (`op: "grade"`). The deadline
 * travels as the milliseconds left when the call was made, because the two isolates' clocks are only
 * loosely related (workerd's clock stands still while code runs).
 */
export type WireRun =
  | ({ op: "code"; budgetMs?: number } & Omit<CodeRunInput, "deadline">)
  | ({ op: "grade"; budgetMs?: number } & Omit<PythonGradeInput, "deadline">);

export interface SandboxRunRequest {
  runs: WireRun[];
}

export interface SandboxRunResponse {
  results: RewardResult[];
}

export interface SandboxCheckResponse {
  problem: SourceProblem | null;
}
