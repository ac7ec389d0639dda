import type { RewardResult } from "./types";

/**
 * Verifier services that depend on the runtime (WASM engines load differently in workerd and Node).
 * The platform puts them on `ctx.services`; rewards and grader types call them through these interfaces.
 */
export interface SqlVerifier {
  /**
   * Runs `predicted` and `reference` on fresh copies of the fixture `database` and compares result sets
   * with Spider's execution-match semantics. A hostile or runaway prediction scores 0 with a reason.
   */
  execMatch(input: SqlExecMatchInput): Promise<RewardResult>;
}

export interface SqlExecMatchInput {
  database: string;
  predicted: string;
  reference: string;
  /** Epoch ms by which to give up. */
  deadline: number;
  /** Compare as sets (BIRD) instead of multisets (Spider test-suite). Default false. */
  setSemantics?: boolean;
  /** Override order sensitivity; default: only when the reference has a top-level ORDER BY. */
  orderMatters?: boolean;
  floatTolerance?: number;
}

/**
 * Runs model-written code against tests in a sandbox and returns the verdict (rewards/verifiers/code).
 * A wrong or runaway program is `valid: true, score: 0` with a reason (naming the limit it hit); a broken
 * sandbox, a language this build lacks or unusable tests are `valid: false`.
 *
 * @example
 * const r = await ctx.services.code!.run({
 *   language: "javascript", code: "const add = (a, b) => a + b",
 *   tests: "console.assert(add(1, 2) === 3)", timeoutMs: 5000, memoryMb: 256, deadline: ctx.deadline,
 * });
 */
export interface CodeRunner {
  run(input: CodeRunInput): Promise<RewardResult>;
}

export interface CodeRunInput {
  language: "python" | "javascript" | "typescript";
  code: string;
  /**
   * HumanEval `check(candidate)` code, assert-based test code, or stdin/stdout cases (an array of
   * `{ input, output }`, the same as JSON text, or `{ inputs, outputs }`).
   */
  tests: string | { input: string; output: string }[] | { inputs: string[]; outputs: string[] };
  entryPoint?: string;
  timeoutMs: number;
  memoryMb: number;
  /** Epoch ms by which to give up; a run is cut to fit, and one cut short is `valid: false`. */
  deadline?: number;
}

/** One chat message sent to a judge model (templates already rendered). */
export interface JudgeMessage {
  role: "system" | "developer" | "user" | "assistant";
  content: string;
}

export interface JudgeRequest {
  model: string;
  messages: JudgeMessage[];
  /** An OpenAI `response_format` (a `json_schema` for structured output). */
  responseFormat: Record<string, unknown>;
  /** Chat-completions sampling fields (temperature, top_p, seed, max_tokens, reasoning_effort). */
  sampling: Record<string, unknown>;
  /** Epoch ms by which to give up, retries included. */
  deadline: number;
  signal?: AbortSignal;
}

export interface JudgeResponse {
  /** The assistant message's content as the endpoint returned it. */
  content: string;
  /** Wall time of the successful call, and how many calls it took (1 = no retry). */
  latencyMs: number;
  attempts: number;
}

/** Why a judge call failed: the endpoint is unreachable, kept failing, timed out, or is not configured. */
export class JudgeError extends Error {
  constructor(
    readonly code: "UPSTREAM_FAILED" | "DEADLINE_EXCEEDED" | "NOT_CONFIGURED",
    message: string,
    readonly attempts = 0,
  ) {
    super(message);
  }
}

/**
 * An OpenAI-compatible chat-completions endpoint that LLM-judge graders (`score_model`, `label_model`)
 * call. Implementations bound concurrency, time out each call inside the batch deadline and retry 429
 * and 5xx answers with backoff; a call that cannot succeed rejects with a JudgeError.
 *
 * @example
 * const { content } = await ctx.services.judge!.complete({
 *   model: "gpt-4o-mini", messages: [{ role: "user", content: "Score 0-1: ..." }],
 *   responseFormat: { type: "json_object" }, sampling: { temperature: 0, seed: 0 }, deadline: ctx.deadline,
 * });
 */
export interface JudgeClient {
  complete(req: JudgeRequest): Promise<JudgeResponse>;
}

export interface Services {
  sql?: SqlVerifier;
  code?: CodeRunner;
  judge?: JudgeClient;
}
