// The sandbox Worker: runs model-written JavaScript, TypeScript and Python (code tests, and python graders'
// grade() on the model's output) for the main Worker, which calls
// it through the SANDBOX service binding (functions/lib/sandbox-client.ts). It has no route of its own in
// production (workers_dev = false), so nothing but the main Worker reaches it.
//
// Why a Worker of its own: a sandbox run is synchronous WASM. In the main Worker's isolate it would hold the
// isolate for as long as it runs (nothing else, not even /healthz, is answered meanwhile), the Pyodide heap
// would count against the main Worker's memory, and an isolate killed at its CPU or memory limit would take
// the whole request with it. Here, a killed isolate costs only the runs of the call it was serving.

import { invalid, type RewardResult } from "../rewards/core/types";
import {
  MAX_RUNS_PER_CALL,
  SANDBOX_CHECK_PATH,
  SANDBOX_RUN_PATH,
  type SandboxCheckResponse,
  type SandboxRunResponse,
  type WireRun,
} from "./protocol";
import { pythonGrader, pythonSandbox } from "./pyodide";
import { quickJsHeapBytes, quickJsSandbox, sandboxCodeRunner } from "./quickjs";

const LANGUAGES = new Set(["javascript", "typescript", "python"]);

function bad(message: string, status = 400): Response {
  return Response.json({ error: { code: "BAD_REQUEST", message } }, { status });
}

/** The one shape the main Worker sends; anything else is a bug on its side, answered with a 400. */
function parseRuns(body: unknown): WireRun[] | string {
  if (typeof body !== "object" || body === null || !Array.isArray((body as { runs?: unknown }).runs))
    return "the body must be { runs: [...] }";
  const runs = (body as { runs: unknown[] }).runs;
  if (runs.length < 1 || runs.length > MAX_RUNS_PER_CALL) return `runs must hold 1 to ${MAX_RUNS_PER_CALL} runs`;
  for (const [i, r] of runs.entries()) {
    const run = r as Record<string, unknown> | null;
    if (typeof run !== "object" || run === null) return `runs[${i}] must be an object`;
    if (run.op === "code") {
      if (!LANGUAGES.has(run.language as string)) return `runs[${i}].language must be javascript, typescript or python`;
      if (typeof run.code !== "string") return `runs[${i}].code must be a string`;
    } else if (run.op === "grade") {
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

async function runOne(run: WireRun, received: number): Promise<RewardResult> {
  const deadline = run.budgetMs === undefined ? {} : { deadline: received + run.budgetMs };
  if (run.op === "grade") {
    const { op: _, budgetMs: __, ...input } = run;
    return pythonGrader().grade({ ...input, ...deadline });
  }
  const { op: _, budgetMs: __, ...input } = run;
  return sandboxCodeRunner().run({ ...input, ...deadline });
}

/**
 * The WASM memory the sandboxes hold (QuickJS's heap; Pyodide's heap and its snapshot copy), now and at its
 * highest after any run in this isolate: most of what production's 128 MB isolate limit counts. Read by the
 * GRPO-step bench through GET /stats (the JS heap and compiled code come on top; the bench prints the
 * process's RSS beside it).
 */
const memory = { peakBytes: 0 };

function heldBytes(): number {
  return quickJsHeapBytes() + pythonSandbox.heldBytes;
}

async function runAll(runs: WireRun[]): Promise<RewardResult[]> {
  const received = Date.now();
  const results: RewardResult[] = [];
  // One at a time: the sandboxes are synchronous, so running them "concurrently" in one isolate would only
  // interleave their set-up. Concurrency comes from the main Worker's parallel calls.
  for (const run of runs) {
    try {
      results.push(await runOne(run, received));
      memory.peakBytes = Math.max(memory.peakBytes, heldBytes());
    } catch (err) {
      results.push(invalid("SANDBOX_FAILED", `the sandbox failed: ${err instanceof Error ? err.message : err}`));
    }
  }
  return results;
}

async function readJson(request: Request): Promise<unknown> {
  try {
    return await request.json();
  } catch {
    return undefined;
  }
}

export default {
  async fetch(request: Request): Promise<Response> {
    const { pathname } = new URL(request.url);
    if (pathname === "/healthz") return Response.json({ ok: true });
    if (pathname === "/stats")
      return Response.json({
        wasmBytes: { now: heldBytes(), peak: memory.peakBytes },
        quickjs: { ...quickJsSandbox.stats, heapBytes: quickJsHeapBytes() },
        python: { ...pythonSandbox.stats, heldBytes: pythonSandbox.heldBytes },
      });
    if (pathname !== SANDBOX_RUN_PATH && pathname !== SANDBOX_CHECK_PATH) return bad(`no route ${pathname}`, 404);
    if (request.method !== "POST") return bad("use POST", 405);
    const body = await readJson(request);
    if (body === undefined) return bad("the body is not JSON");
    if (pathname === SANDBOX_CHECK_PATH) {
      const source = (body as { source?: unknown } | null)?.source;
      if (typeof source !== "string") return bad("the body must be { source: string }");
      const response: SandboxCheckResponse = { problem: await pythonGrader().check(source) };
      return Response.json(response);
    }
    const runs = parseRuns(body);
    if (typeof runs === "string") return bad(runs);
    const response: SandboxRunResponse = { results: await runAll(runs) };
    return Response.json(response);
  },
} satisfies ExportedHandler;
