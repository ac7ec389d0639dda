/**
 * Language-neutral pieces of the code-execution verifier: limits, the shape of one sandboxed run, and
 * the test formats. A sandbox (QuickJS for JavaScript/TypeScript; Pyodide for Python, later) turns a job
 * into a RunOutcome; verdict.ts turns outcomes into a RewardResult the same way for every language.
 */

export const DEFAULT_TIME_MS = 5_000;
export const MAX_TIME_MS = 60_000;
export const DEFAULT_MEMORY_MB = 256;
export const MIN_MEMORY_MB = 16;
export const MAX_MEMORY_MB = 1_024;
/** Everything a run prints (stdout and stderr together), in UTF-8 bytes. */
export const OUTPUT_LIMIT_BYTES = 1024 * 1024;
export const STACK_LIMIT_BYTES = 256 * 1024;
/** The model's code, after fence extraction, longer than this scores 0 without running. */
export const MAX_CODE_CHARS = 1024 * 1024;

/** The name under which scripts/meter-wasm.mjs exports a metered binary's fuel counter (an i64 global). */
export const FUEL_EXPORT = "assay_fuel";
/** A metered binary's fuel counter between runs: boot and set-up are never stopped. */
export const FUEL_UNLIMITED = 0x7fff_ffff_ffff_ffffn;

export type LimitName = "time" | "memory" | "output" | "stack";

export interface RunLimits {
  timeMs: number;
  memoryBytes: number;
  outputBytes: number;
}

/** One stdin/stdout case: the program gets `input` on stdin and must print `output`. */
export interface StdioCase {
  input: string;
  output: string;
}

/** What to run: the model's code followed by test code, or the model's program fed one stdin. */
export type RunJob = { kind: "tests"; code: string; tests: string } | { kind: "stdio"; code: string; stdin: string };

/**
 * What happened in one run. `completed` is the positive evidence a pass needs: for tests, the trusted
 * harness reported (with the run's nonce) that the test code ran to its end and any promise it ended
 * with settled fulfilled; for a stdio program, that it ran to its end and its jobs and timers drained.
 */
export interface RunOutcome {
  completed: boolean;
  /** The limit that stopped the run, if one did. */
  limit?: LimitName;
  /** The model's code threw while loading (a syntax error, an uncaught exception at top level). */
  loadError?: string;
  /** The test code (or the stdio program) threw. */
  runError?: string;
  /** Uncaught exceptions in timers and microtasks, a rejected test promise, an error of the job queue. */
  asyncErrors: string[];
  /** Failed assertions (console.assert, assert.*), counted by the host even when the error was caught. */
  assertionFailures: number;
  /** The first few failed assertions' messages. */
  assertionMessages: string[];
  /** The tests asked for a module the sandbox does not provide: the evaluator cannot run them. */
  missingModule?: string;
  /** The sandbox itself broke (a WASM abort) before the model's code ran: the result says nothing about the code. */
  sandboxError?: string;
  /**
   * The model's code broke the sandbox (a WASM trap or abort it provoked once it was running): scored 0,
   * so a sample cannot earn a skip (`valid: false`) by crashing the evaluator.
   */
  crash?: string;
  stdout: string;
  /** The beginning of stderr, for reasons. */
  stderr: string;
  /** Fuel spent (metered wasm loop iterations plus charged host work; see FUEL_PER_MS), and wall time. */
  ticks: number;
  ms: number;
}

/** The outcome of a run before anything happened in it: each sandbox fills it in as the run goes. */
export const newRunOutcome = (): RunOutcome => ({
  completed: false,
  asyncErrors: [],
  assertionFailures: 0,
  assertionMessages: [],
  stdout: "",
  stderr: "",
  ticks: 0,
  ms: 0,
});

/** A language's sandbox, as the code runner sees it. */
export interface Sandbox {
  run(job: RunJob, limits: RunLimits): Promise<RunOutcome>;
}
