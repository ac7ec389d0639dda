// The sandbox Worker: runs model-written JavaScript, TypeScript and Python for the main Worker, which calls
// it through the SANDBOX service binding (functions/lib/sandbox-client.ts). It has no route of its own in
// production (workers_dev = false), so nothing but the main Worker reaches it.
//
// Why a Worker of its own: a sandbox run is synchronous WASM. In the main Worker's isolate it would hold the
// isolate for as long as it runs (nothing else, not even /healthz, is answered meanwhile), the Pyodide heap
// would count against the main Worker's memory, and an isolate killed at its CPU or memory limit would take
// the whole request with it. Here, a killed isolate costs only the runs of the call it was serving.

import type { CodeRunInput } from "../rewards/core/services";
import { invalid, type RewardResult } from "../rewards/core/types";
import { MAX_RUNS_PER_CALL, SANDBOX_RUN_PATH, type SandboxRunResponse, type WireRun } from "./protocol";
import { sandboxCodeRunner } from "./quickjs";

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
    const run = r as Partial<WireRun> | null;
    if (typeof run !== "object" || run === null) return `runs[${i}] must be an object`;
    if (!LANGUAGES.has(run.language as string)) return `runs[${i}].language must be javascript, typescript or python`;
    if (typeof run.code !== "string") return `runs[${i}].code must be a string`;
    if (typeof run.timeoutMs !== "number" || typeof run.memoryMb !== "number")
      return `runs[${i}].timeoutMs and memoryMb must be numbers`;
    if (run.budgetMs !== undefined && typeof run.budgetMs !== "number") return `runs[${i}].budgetMs must be a number`;
  }
  return runs as WireRun[];
}

async function runAll(runs: WireRun[]): Promise<RewardResult[]> {
  const runner = sandboxCodeRunner();
  const received = Date.now();
  const results: RewardResult[] = [];
  // One at a time: the sandboxes are synchronous, so running them "concurrently" in one isolate would only
  // interleave their set-up. Concurrency comes from the main Worker's parallel calls.
  for (const { budgetMs, ...run } of runs) {
    const input: CodeRunInput = { ...run, ...(budgetMs === undefined ? {} : { deadline: received + budgetMs }) };
    try {
      results.push(await runner.run(input));
    } catch (err) {
      results.push(invalid("SANDBOX_FAILED", `the sandbox failed: ${err instanceof Error ? err.message : err}`));
    }
  }
  return results;
}

export default {
  async fetch(request: Request): Promise<Response> {
    const { pathname } = new URL(request.url);
    if (pathname === "/healthz") return Response.json({ ok: true });
    if (pathname !== SANDBOX_RUN_PATH) return bad(`no route ${pathname}`, 404);
    if (request.method !== "POST") return bad("use POST", 405);
    let body: unknown;
    try {
      body = await request.json();
    } catch {
      return bad("the body is not JSON");
    }
    const runs = parseRuns(body);
    if (typeof runs === "string") return bad(runs);
    const response: SandboxRunResponse = { results: await runAll(runs) };
    return Response.json(response);
  },
} satisfies ExportedHandler;
