import type { Services } from "./services";

/**
 * The scoring contract shared by graders, authored rewards, the HTTP API and the trainer.
 * It follows docs/design.md: a sample in, exactly one result out.
 */

/** One model output to score, with the dataset row it answers and (for GRPO) its prompt group. */
export interface Sample {
  completion: string;
  item: Record<string, unknown>;
  group?: string | number;
}

export interface SubMetric {
  score: number;
  reason?: string;
}

/**
 * The verdict on one sample. `valid: false` means the evaluator itself failed (timeout, crash, missing
 * fixture) and the trainer should skip the sample; a wrong answer is `valid: true, score: 0`.
 */
export interface RewardResult {
  score: number;
  valid: boolean;
  reason?: string;
  metrics?: Record<string, SubMetric>;
  error?: { code: string; message: string };
}

/** Error codes an evaluator failure carries in `result.error.code`. */
export type EvaluatorErrorCode =
  | "EVALUATOR_ERROR"
  | "DEADLINE_EXCEEDED"
  | "INVALID_SCORE"
  | "INVALID_INPUT"
  | "FIXTURE_NOT_FOUND"
  | "SANDBOX_FAILED";

/** Read access to stored fixtures (SQL databases, files) by name. */
export interface FixtureStore {
  /** The fixture's bytes and kind, or null when there is no such fixture. */
  get(name: string): Promise<Fixture | null>;
}

export interface Fixture {
  name: string;
  kind: "sqlite" | "sql";
  /** Content hash: caches key on it, so a replaced fixture is never served stale. */
  sha256: string;
  bytes: Uint8Array;
}

export interface Logger {
  debug(msg: string, data?: Record<string, unknown>): void;
  info(msg: string, data?: Record<string, unknown>): void;
  warn(msg: string, data?: Record<string, unknown>): void;
}

/**
 * Everything a reward may reach outside itself. Rewards import nothing from the platform: the same
 * module scores in workerd, in Node (the `score` CLI) and in tests.
 */
export interface ScoreContext {
  /** Aborted when the sample's deadline passes. */
  signal: AbortSignal;
  /** Epoch milliseconds by which the sample must be scored. */
  deadline: number;
  fixtures: FixtureStore;
  log: Logger;
  /** Runtime-bound verifiers (SQL engine, code sandboxes); one an environment lacks is undefined. */
  services: Services;
}

export const clamp01 = (x: number) => (x < 0 ? 0 : Math.min(x, 1));

export function invalid(code: EvaluatorErrorCode, message: string): RewardResult {
  return { score: 0, valid: false, reason: message, error: { code, message } };
}
