import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect } from "vitest";
import worker from "../../functions/index";

export const ADMIN_KEY = "test-admin-key";
export const BASE = "http://assay.test";

export interface CallOptions {
  key?: string | null;
  body?: unknown;
  raw?: BodyInit;
  headers?: Record<string, string>;
}

/**
 * Sends a request to the Worker's own fetch handler inside workerd, with the real local D1, R2 and
 * Queues bindings, and waits for its waitUntil work. (SELF.fetch reaches the same handler, but in
 * vitest-pool-workers 0.15 each call gets slower the more calls a test makes: 200 calls took 0.9 s,
 * the next 200 took 4.7 s; this path stays flat.)
 */
export async function fetchWorker(req: Request): Promise<Response> {
  const ctx = createExecutionContext();
  const res = await worker.fetch(req, env, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

/** Calls the Worker. JSON bodies by default; `raw` sends a body as is. */
export async function call(method: string, path: string, opts: CallOptions = {}) {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  const key = opts.key === undefined ? ADMIN_KEY : opts.key;
  if (key !== null) headers.authorization = `Bearer ${key}`;
  let body: BodyInit | undefined = opts.raw;
  if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    headers["content-type"] ??= "application/json";
  }
  const res = await fetchWorker(new Request(`${BASE}${path}`, { method, headers, body }));
  const text = await res.text();
  let json: any;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, json, text };
}

/** Asserts a status, printing the response when it is not the expected one. */
export function expectStatus(res: { status: number; text: string }, status: number) {
  if (res.status !== status) expect.fail(`expected HTTP ${status}, got ${res.status}: ${res.text.slice(0, 2000)}`);
}

export function expectError(res: { status: number; text: string; json: any }, status: number, code: string) {
  expectStatus(res, status);
  expect(res.json).toEqual({
    error: expect.objectContaining({ code, message: expect.any(String), requestId: expect.stringMatching(/^req_/) }),
  });
}

export async function createApiKey(name = "test") {
  const res = await call("POST", "/v1/api-keys", { body: { name } });
  expectStatus(res, 201);
  return res.json as { id: string; key: string; prefix: string; createdAt: string };
}

/** Scores samples with a grader config through POST /v1/graders/run, expecting 200. */
export async function runGrader(grader: unknown, samples: { completion: string; item: Record<string, unknown> }[]) {
  const res = await call("POST", "/v1/graders/run", { body: { grader, samples } });
  expectStatus(res, 200);
  return res.json as { grader: unknown; results: any[]; summary: any };
}

/** Asserts that the Worker still answers GET /healthz. */
export async function expectHealthy() {
  const res = await call("GET", "/healthz", { key: null });
  expectStatus(res, 200);
  expect(res.json).toEqual({ ok: true });
}

/**
 * The sandbox Workers' counters (GET /stats behind the SANDBOX_JS and SANDBOX_PYTHON bindings): the runs
 * through the routes happen there.
 */
export async function sandboxStats(): Promise<{
  quickjs: { builds: number; broken: number };
  python: { builds: number; broken: number };
}> {
  const [js, py] = await Promise.all([
    env.SANDBOX_JS.fetch("https://sandbox/stats").then((r) =>
      r.json<{ quickjs: { builds: number; broken: number } }>(),
    ),
    env.SANDBOX_PYTHON.fetch("https://sandbox/stats").then((r) =>
      r.json<{ python: { builds: number; broken: number } }>(),
    ),
  ]);
  return { quickjs: js.quickjs, python: py.python };
}

/**
 * Boots the sandbox Worker's Python interpreter (seconds on a busy machine) with a generous deadline, so
 * that the first test's batch does not spend its own per-sample deadline on the boot.
 */
export async function warmPython() {
  const grader = { type: "code_tests", name: "warm", language: "python", tests: "assert x == 1" };
  const res = await call("POST", "/v1/graders/run", {
    body: { grader, samples: [{ completion: "x = 1" }], deadlineMs: 120_000 },
  });
  expectStatus(res, 200);
  expect(res.json.results[0]).toMatchObject({ valid: true, score: 1 });
}
