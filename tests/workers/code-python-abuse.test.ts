import { describe, expect, it } from "vitest";
import casesText from "../fixtures/code-abuse/python.jsonl?raw";
import { call, expectStatus } from "./helpers";

interface AbuseCase {
  id: string;
  category: string;
  language: "python";
  code: string;
  tests: string;
  timeout_ms?: number;
  memory_mb?: number;
  expect: { valid: boolean; score?: number; reason?: string; error?: string };
}

const cases: AbuseCase[] = casesText
  .split("\n")
  .filter((l) => l.trim())
  .map((l) => JSON.parse(l));

/**
 * The Python abuse corpus (tests/fixtures/code-abuse/python.jsonl), each case scored through
 * POST /v1/graders/run in the real Worker, in file order (a poisoning case is followed by the case that
 * probes for the poison; the sandbox abort by a case that must still pass), each followed by GET /healthz.
 */
describe("code_tests abuse corpus (Python) inside workerd", () => {
  it("has at least 25 Python cases with unique ids", () => {
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
    const res = await call("POST", "/v1/graders/run", {
      body: { grader, samples: [{ completion: c.code, item: { test: c.tests } }] },
    });
    expectStatus(res, 200);
    const [result] = res.json.results;
    const want: Record<string, unknown> = { valid: c.expect.valid };
    if (c.expect.score !== undefined) want.score = c.expect.score;
    if (c.expect.reason !== undefined) want.reason = expect.stringContaining(c.expect.reason);
    if (c.expect.error !== undefined) want.error = expect.objectContaining({ code: c.expect.error });
    expect(result, JSON.stringify(result)).toMatchObject(want);
    const health = await call("GET", "/healthz", { key: null });
    expectStatus(health, 200);
    expect(health.json).toEqual({ ok: true });
  });
});
