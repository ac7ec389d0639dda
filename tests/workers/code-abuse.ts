import { beforeAll, describe, expect, it } from "vitest";
import { call, expectHealthy, expectStatus, warmPython } from "./helpers";

export interface AbuseCase {
  id: string;
  category: string;
  language: "javascript" | "typescript" | "python";
  code: string;
  tests: string;
  timeout_ms?: number;
  memory_mb?: number;
  expect: { valid: boolean; score?: number; reason?: string; error?: string };
  note?: string;
}

/**
 * Declares the tests for one abuse corpus (a JSONL file under tests/fixtures/code-abuse): at least 25 cases
 * with unique ids, and each case scored through POST /v1/graders/run in the real Worker, in file order (a
 * poisoning case is followed by the case that probes for the poison), with a GET /healthz started while the
 * case runs (both awaited: the Worker must answer it) and another one after it.
 *
 * The samples run in the sandbox Workers (sandbox/handler.ts) behind the SANDBOX_JS and SANDBOX_PYTHON
 * bindings. In this pool all Workers share one workerd process, so a concurrent /healthz is answered at the latest when the run gives
 * the thread back (when its fuel is spent): the per-case log line says which answered first.
 * tests/node/sandbox-worker.test.ts checks /healthz *during* long runs against two processes.
 */
export function describeAbuseCorpus(language: string, casesText: string) {
  const cases: AbuseCase[] = casesText
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l));

  describe(`code_tests abuse corpus (${language}) inside workerd`, () => {
    if (cases.some((c) => c.language === "python")) beforeAll(warmPython, 180_000);

    it(`has at least 25 ${language} cases with unique ids`, () => {
      expect(cases.length).toBeGreaterThanOrEqual(25);
      expect(new Set(cases.map((c) => c.id)).size).toBe(cases.length);
    });

    it.each(cases.map((c) => [c.id, c] as const))("%s", async (_id, c) => {
      const grader = {
        type: "code_tests",
        name: c.id,
        language: c.language,
        tests: "{{item.test}}",
        timeout_ms: c.timeout_ms ?? 1_000,
        memory_mb: c.memory_mb ?? 64,
      };
      const order: string[] = [];
      const [res, health] = await Promise.all([
        call("POST", "/v1/graders/run", {
          body: { grader, samples: [{ completion: c.code, item: { test: c.tests } }] },
        }).then((r) => {
          order.push("grader");
          return r;
        }),
        call("GET", "/healthz", { key: null }).then((r) => {
          order.push("healthz");
          return r;
        }),
      ]);
      console.log(`${c.id}: answered first: ${order[0]}`);
      expectStatus(health, 200);
      expect(health.json).toEqual({ ok: true });
      expectStatus(res, 200);
      const [result] = res.json.results;
      const want: Record<string, unknown> = { valid: c.expect.valid };
      if (c.expect.score !== undefined) want.score = c.expect.score;
      if (c.expect.reason !== undefined) want.reason = expect.stringContaining(c.expect.reason);
      if (c.expect.error !== undefined) want.error = expect.objectContaining({ code: c.expect.error });
      expect(result, JSON.stringify(result)).toMatchObject(want);
      await expectHealthy();
    });
  });
}
