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

export interface Services {
  sql?: SqlVerifier;
  code?: CodeRunner;
}
