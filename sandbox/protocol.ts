// The wire format between the main Worker and the sandbox Worker (sandbox/index.ts), over a service binding.
// The main Worker never runs model code itself: it sends the code runs of a batch here in small chunks.

import type { CodeRunInput } from "../rewards/core/services";
import type { RewardResult } from "../rewards/core/types";

export const SANDBOX_RUN_PATH = "/run";

/** At most this many runs in one call, so a 1,024-sample batch is many short calls, not one long one. */
export const MAX_RUNS_PER_CALL = 32;

/**
 * One code run as sent: the deadline travels as the milliseconds left when the call was made, because
 * the two isolates' clocks are only loosely related (workerd's clock stands still while code runs).
 */
export interface WireRun extends Omit<CodeRunInput, "deadline"> {
  budgetMs?: number;
}

export interface SandboxRunRequest {
  runs: WireRun[];
}

export interface SandboxRunResponse {
  results: RewardResult[];
}
