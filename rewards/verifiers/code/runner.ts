import type { CodeRunInput, CodeRunner } from "../../core/services";
import { invalid, type RewardResult } from "../../core/types";
import { prepareJs } from "./source";
import { parseTests, withCheckCall } from "./tests";
import {
  MAX_CODE_CHARS,
  MAX_MEMORY_MB,
  MAX_TIME_MS,
  MIN_MEMORY_MB,
  OUTPUT_LIMIT_BYTES,
  type RunLimits,
  type RunOutcome,
  type Sandbox,
} from "./types";
import { type CaseRun, stdioVerdict, testsVerdict } from "./verdict";

/** Time kept back from a deadline for building the result. */
const DEADLINE_MARGIN_MS = 20;

export interface CodeRunnerBackends {
  /** Runs JavaScript (TypeScript is stripped to JavaScript first). */
  javascript?: Sandbox;
  /** Runs Python; absent in builds without a Python sandbox. */
  python?: Sandbox;
}

/**
 * The code-execution verifier: prepares the code (TypeScript types stripped, ES module syntax made a
 * script), reads the test format, runs it in the language's sandbox within its limits and the deadline,
 * and turns the outcome into a verdict (verdict.ts). A language plugs in as one more Sandbox.
 */
export function createCodeRunner(backends: CodeRunnerBackends): CodeRunner {
  return {
    async run(input: CodeRunInput): Promise<RewardResult> {
      const { language } = input;
      const sandbox = language === "python" ? backends.python : backends.javascript;
      if (!sandbox) {
        return invalid("SANDBOX_FAILED", `${language} sandbox not available in this build`);
      }
      if (!Number.isFinite(input.timeoutMs) || input.timeoutMs < 1 || input.timeoutMs > MAX_TIME_MS)
        return invalid("INVALID_INPUT", `timeoutMs must be between 1 and ${MAX_TIME_MS}`);
      if (!Number.isFinite(input.memoryMb) || input.memoryMb < MIN_MEMORY_MB || input.memoryMb > MAX_MEMORY_MB)
        return invalid("INVALID_INPUT", `memoryMb must be between ${MIN_MEMORY_MB} and ${MAX_MEMORY_MB}`);

      const parsed = parseTests(input.tests);
      if (!parsed.ok) return invalid("INVALID_INPUT", parsed.reason);
      const spec = parsed.spec;

      if (input.code.length > MAX_CODE_CHARS)
        return { score: 0, valid: true, reason: `the code is longer than ${MAX_CODE_CHARS} characters` };
      let code = input.code;
      if (language !== "python") {
        const prepared = prepareJs(code, language);
        if (!prepared.ok) return { score: 0, valid: true, reason: prepared.reason };
        code = prepared.code;
      }

      let timeMs = input.timeoutMs;
      let cut = false;
      const remaining = () =>
        input.deadline === undefined ? Number.POSITIVE_INFINITY : input.deadline - Date.now() - DEADLINE_MARGIN_MS;
      if (remaining() < timeMs) {
        if (remaining() <= 0) return invalid("DEADLINE_EXCEEDED", "the deadline passed before the code could run");
        timeMs = Math.floor(remaining());
        cut = true;
      }
      const limits: RunLimits = {
        timeMs,
        memoryBytes: input.memoryMb * 2 ** 20,
        outputBytes: OUTPUT_LIMIT_BYTES,
      };
      const configured: RunLimits = { ...limits, timeMs: input.timeoutMs };
      const cutShort = (o: RunOutcome) => cut && o.limit === "time";
      const deadlineHit = () =>
        invalid("DEADLINE_EXCEEDED", `the deadline left ${timeMs} ms of the ${input.timeoutMs} ms time limit`);

      try {
        if (spec.kind === "code") {
          const lang = language === "python" ? "python" : "javascript";
          let tests = withCheckCall(spec.source, input.entryPoint, lang);
          if (language !== "python") {
            // Tests get the same treatment as the code (MultiPL-E's TypeScript tests open with
            // `declare var require: any`); tests that do not parse are the dataset's problem.
            const prepared = prepareJs(tests, language);
            if (!prepared.ok) return invalid("INVALID_INPUT", `the tests: ${prepared.reason}`);
            tests = prepared.code;
          }
          const outcome = await sandbox.run({ kind: "tests", code, tests }, limits);
          if (cutShort(outcome)) return deadlineHit();
          return testsVerdict(outcome, configured);
        }
        const runs: CaseRun[] = [];
        for (const c of spec.cases) {
          if (runs.length > 0) {
            const left = remaining();
            if (left <= 0) return invalid("DEADLINE_EXCEEDED", `the deadline passed after ${runs.length} cases`);
            if (left < limits.timeMs) {
              limits.timeMs = Math.floor(left);
              cut = true;
            }
          }
          const outcome = await sandbox.run({ kind: "stdio", code, stdin: c.input }, limits);
          if (cutShort(outcome)) return deadlineHit();
          runs.push({ case: c, outcome });
          // A limit or a broken sandbox ends the sample: the rest would hit it again.
          if (outcome.limit || outcome.sandboxError) break;
        }
        return stdioVerdict(runs, spec.cases.length, configured);
      } catch (err) {
        return invalid("SANDBOX_FAILED", `the ${language} sandbox failed: ${err instanceof Error ? err.message : err}`);
      }
    },
  };
}
