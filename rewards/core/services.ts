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

export interface CodeRunner {
  run(input: CodeRunInput): Promise<RewardResult>;
}

export interface CodeRunInput {
  language: "python" | "javascript" | "typescript";
  code: string;
  /** HumanEval `check(candidate)` code, assert-based test code, or stdin/stdout cases. */
  tests: string | { input: string; output: string }[];
  entryPoint?: string;
  timeoutMs: number;
  memoryMb: number;
}

export interface Services {
  sql?: SqlVerifier;
  code?: CodeRunner;
}
