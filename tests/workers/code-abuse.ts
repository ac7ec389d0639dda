import { describe, expect, it } from "vitest";
import { call, expectHealthy, expectStatus } from "./helpers";

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
 * poisoning case is followed by the case that probes for the poison), each followed by GET /healthz to show
 * the Worker still serves.
 */
export function describeAbuseCorpus(language: string, casesText: string) {
  const cases: AbuseCase[] = casesText
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l));

  describe(`code_tests abuse corpus (${language}) inside workerd`, () => {
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
      await expectHealthy();
    });
  });
}
