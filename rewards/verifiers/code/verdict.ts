import { invalid, type RewardResult, type SubMetric } from "../../core/types";
import { firstDifference, normalizeOutput } from "./tests";
import type { LimitName, RunLimits, RunOutcome, StdioCase } from "./types";

/** A reason naming the limit that stopped a run. */
export function limitReason(limit: LimitName, limits: RunLimits & { stackBytes?: number }): string {
  switch (limit) {
    case "time":
      return `time limit exceeded (${limits.timeMs} ms)`;
    case "memory":
      return `memory limit exceeded (${Math.round(limits.memoryBytes / 2 ** 20)} MB)`;
    case "output":
      return `output limit exceeded (${Math.round(limits.outputBytes / 1024)} KiB)`;
    case "stack":
      return `stack limit exceeded (${Math.round((limits.stackBytes ?? 256 * 1024) / 1024)} KiB): the recursion is too deep`;
  }
}

const failed = (reason: string, metrics?: Record<string, SubMetric>): RewardResult => ({
  score: 0,
  valid: true,
  reason,
  ...(metrics ? { metrics } : {}),
});

/**
 * Why a run that did not pass failed, or null when it passed. Order matters: a broken sandbox says
 * nothing about the code; a limit explains whatever error it caused; then the first error in the order
 * the code ran.
 */
function failure(o: RunOutcome, limits: RunLimits): { invalid?: RewardResult; reason?: string } | null {
  if (o.sandboxError) return { invalid: invalid("SANDBOX_FAILED", o.sandboxError) };
  if (o.missingModule)
    return {
      invalid: invalid(
        "INVALID_INPUT",
        `the tests require ${JSON.stringify(o.missingModule)}, which the sandbox does not provide`,
      ),
    };
  if (o.limit) return { reason: limitReason(o.limit, limits) };
  if (o.crash) return { reason: `the code broke the sandbox: ${o.crash}` };
  if (o.loadError) return { reason: `the code failed to load: ${o.loadError}` };
  if (o.assertionFailures > 0) {
    const n = o.assertionFailures;
    const first = o.assertionMessages[0] ?? "an assertion failed";
    return { reason: `${n} assertion${n === 1 ? "" : "s"} failed; first: ${first}` };
  }
  if (o.runError) return { reason: `the tests raised ${o.runError}` };
  if (o.asyncErrors.length) return { reason: o.asyncErrors[0]! };
  if (!o.completed) return { reason: "the tests did not run to completion (the harness never saw them finish)" };
  return null;
}

/** Test-code formats: 1 only on positive evidence that every test ran and none failed. */
export function testsVerdict(o: RunOutcome, limits: RunLimits): RewardResult {
  const f = failure(o, limits);
  if (f?.invalid) return f.invalid;
  if (f) return failed(f.reason!, { tests: { score: 0, reason: f.reason! } });
  return { score: 1, valid: true, reason: "all tests passed", metrics: { tests: { score: 1 } } };
}

export interface CaseRun {
  case: StdioCase;
  outcome: RunOutcome;
}

/**
 * stdin/stdout: the share of cases whose output matches (after normalizeOutput), each case in the
 * metrics. A limit in any case scores the sample 0 (a runaway program earns no partial credit) and the
 * remaining cases are not run; a broken sandbox makes the whole sample invalid.
 */
export function stdioVerdict(runs: CaseRun[], total: number, limits: RunLimits): RewardResult {
  const metrics: Record<string, SubMetric> = {};
  let passed = 0;
  let firstFailure: string | undefined;
  for (const [i, run] of runs.entries()) {
    const key = `case_${i + 1}`;
    const o = run.outcome;
    // A program's console.assert is only output, as in Node: the judge is what it prints.
    const f = failure({ ...o, assertionFailures: 0 }, limits);
    if (f?.invalid) return f.invalid;
    if (o.limit) {
      const reason = limitReason(o.limit, limits);
      metrics[key] = { score: 0, reason };
      return failed(`case ${i + 1}: ${reason}`, metrics);
    }
    if (f) {
      const reason = o.loadError ? `the program raised ${o.loadError}` : f.reason!;
      metrics[key] = { score: 0, reason };
      firstFailure ??= `case ${i + 1}: ${reason}`;
      continue;
    }
    if (normalizeOutput(o.stdout) === normalizeOutput(run.case.output)) {
      metrics[key] = { score: 1 };
      passed++;
    } else {
      const reason = `wrong output, ${firstDifference(o.stdout, run.case.output)}`;
      metrics[key] = { score: 0, reason };
      firstFailure ??= `case ${i + 1}: ${reason}`;
    }
  }
  const score = passed / total;
  const summary = `${passed} of ${total} case${total === 1 ? "" : "s"} passed`;
  return {
    score,
    valid: true,
    reason: firstFailure ? `${summary}; ${firstFailure}` : summary,
    metrics,
  };
}
