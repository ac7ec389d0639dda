// The sandbox Workers' one handler: each of the two sandbox Workers (sandbox/js/, QuickJS for JavaScript and
// TypeScript; sandbox/python/, Pyodide for Python code tests and python graders) runs model-written code for
// the main Worker, which calls them through its SANDBOX_JS and SANDBOX_PYTHON service bindings
// (functions/lib/sandbox-client.ts). Neither has a route of its own in production (workers_dev = false), so
// nothing but the main Worker reaches them.
//
// Why Workers of their own: a sandbox run is synchronous WASM. In the main Worker's isolate it would hold the
// isolate for as long as it runs (nothing else, not even /healthz, is answered meanwhile), the interpreters'
// heaps would count against the main Worker's memory, and an isolate killed at its CPU or memory limit would
// take the whole request with it. Here, a killed isolate costs only the runs of the call it was serving.
// Why two: an isolate has 128 MB, and Pyodide's heap with its snapshot copy (~72 MiB) next to QuickJS's
// heap and a run's memory limit did not fit in one.

import type { CodeRunner } from "../rewards/core/services";
import { invalid, type RewardResult } from "../rewards/core/types";
import type { PythonGraderService } from "../rewards/verifiers/code/python/grade";
import {
  MAX_RUNS_PER_CALL,
  SANDBOX_CHECK_PATH,
  SANDBOX_RUN_PATH,
  type SandboxCheckResponse,
  type SandboxRunResponse,
  type WireRun,
} from "./protocol";

/** What one sandbox Worker hosts. */
export interface SandboxEngines {
  /** The languages its code runner runs; runs in any other language are refused. */
  languages: readonly string[];
  code: () => CodeRunner;
  /** The python graders' service (grade and check), in the Worker that hosts Python. */
  python?: () => PythonGraderService;
  /** The WASM memory its engines hold now. */
  heldBytes: () => number;
  /** Its engines' counters, by engine, for GET /stats. */
  stats: () => Record<string, unknown>;
}

function bad(message: string, status = 400): Response {
  return Response.json({ error: { code: "BAD_REQUEST", message } }, { status });
}

/** The one shape the main Worker sends; anything else is a bug on its side, answered with a 400. */
function parseRuns(body: unknown, engines: SandboxEngines): WireRun[] | string {
  const languages = new Set(engines.languages);
  if (typeof body !== "object" || body === null || !Array.isArray((body as { runs?: unknown }).runs))
    return "the body must be { runs: [...] }";
  const runs = (body as { runs: unknown[] }).runs;
  if (runs.length < 1 || runs.length > MAX_RUNS_PER_CALL) return `runs must hold 1 to ${MAX_RUNS_PER_CALL} runs`;
  for (const [i, r] of runs.entries()) {
    const run = r as Record<string, unknown> | null;
    if (typeof run !== "object" || run === null) return `runs[${i}] must be an object`;
    if (run.op === "code") {
      if (!languages.has(run.language as string))
        return `runs[${i}].language must be ${[...languages].join(" or ")} in this sandbox Worker`;
      if (typeof run.code !== "string") return `runs[${i}].code must be a string`;
    } else if (run.op === "grade") {
      if (!engines.python) return `runs[${i}]: python graders run in the Python sandbox Worker, not this one`;
      if (typeof run.source !== "string") return `runs[${i}].source must be a string`;
      if (typeof run.sample !== "object" || typeof run.item !== "object")
        return `runs[${i}].sample and item must be objects`;
    } else return `runs[${i}].op must be "code" or "grade"`;
    if (typeof run.timeoutMs !== "number" || typeof run.memoryMb !== "number")
      return `runs[${i}].timeoutMs and memoryMb must be numbers`;
    if (run.budgetMs !== undefined && typeof run.budgetMs !== "number") return `runs[${i}].budgetMs must be a number`;
  }
  return runs as WireRun[];
}

async function runOne(engines: SandboxEngines, run: WireRun, received: number): Promise<RewardResult> {
  const deadline = run.budgetMs === undefined ? {} : { deadline: received + run.budgetMs };
  if (run.op === "grade") {
    const { op: _, budgetMs: __, ...input } = run;
    return engines.python!().grade({ ...input, ...deadline });
  }
  const { op: _, budgetMs: __, ...input } = run;
  return engines.code().run({ ...input, ...deadline });
}

/**
 * A sandbox Worker's handler: GET /healthz, GET /stats (the calls and runs served, the WASM memory its engines hold, now and at its
 * highest after any run in this isolate: most of what production's 128 MB isolate limit counts; the
 * GRPO-step bench reads it, and prints the process's RSS beside it), POST /run and, where Python is
 * hosted, POST /check.
 */
export function sandboxWorker(engines: SandboxEngines): ExportedHandler {
  const memory = { peakBytes: 0 };
  /** The calls and runs this isolate has taken (GET /stats): how a batch spread over copies of this Worker. */
  const served = { calls: 0, runs: 0 };

  async function runAll(runs: WireRun[]): Promise<RewardResult[]> {
    const received = Date.now();
    const results: RewardResult[] = [];
    // One at a time: the sandboxes are synchronous, so running them "concurrently" in one isolate would only
    // interleave their set-up. Concurrency comes from the main Worker's parallel calls.
    for (const run of runs) {
      try {
        results.push(await runOne(engines, run, received));
        memory.peakBytes = Math.max(memory.peakBytes, engines.heldBytes());
      } catch (err) {
        results.push(invalid("SANDBOX_FAILED", `the sandbox failed: ${err instanceof Error ? err.message : err}`));
      }
    }
    return results;
  }

  return {
    async fetch(request: Request): Promise<Response> {
      const { pathname } = new URL(request.url);
      if (pathname === "/healthz") return Response.json({ ok: true });
      if (pathname === "/stats")
        return Response.json({
          wasmBytes: { now: engines.heldBytes(), peak: memory.peakBytes },
          served,
          ...engines.stats(),
        });
      if (pathname !== SANDBOX_RUN_PATH && pathname !== SANDBOX_CHECK_PATH) return bad(`no route ${pathname}`, 404);
      if (request.method !== "POST") return bad("use POST", 405);
      const body = await readJson(request);
      if (body === undefined) return bad("the body is not JSON");
      if (pathname === SANDBOX_CHECK_PATH) {
        if (!engines.python) return bad("python graders are checked by the Python sandbox Worker, not this one");
        const source = (body as { source?: unknown } | null)?.source;
        if (typeof source !== "string") return bad("the body must be { source: string }");
        const response: SandboxCheckResponse = { problem: await engines.python().check(source) };
        return Response.json(response);
      }
      const runs = parseRuns(body, engines);
      if (typeof runs === "string") return bad(runs);
      served.calls++;
      served.runs += runs.length;
      const response: SandboxRunResponse = { results: await runAll(runs) };
      return Response.json(response);
    },
  };
}

async function readJson(request: Request): Promise<unknown> {
  try {
    return await request.json();
  } catch {
    return undefined;
  }
}
