// The platform as `npm run dev` runs it: the main Worker and the two sandbox Workers in three workerd
// processes, joined by service bindings. Model code that spends long inside native builtins must not stop the main
// Worker from answering: /healthz is polled from a concurrent client while the batch runs.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, type DevServer, startDev } from "../bench/lib/wrangler-dev";

let server: DevServer;

beforeAll(async () => {
  server = await startDev();
}, 180_000);

afterAll(async () => {
  await server?.stop();
});

const LONG_NATIVE = {
  javascript: [
    "const a = new Array(1e6); for (;;) a.fill(1)",
    "const s = JSON.stringify(Array.from({ length: 1e5 }, (_, i) => ({ i }))); for (;;) JSON.parse(s)",
    "const a = Array.from({ length: 3e5 }, (_, i) => (i * 7919) % 3e5); for (;;) a.slice().sort((x, y) => x - y)",
    "const s = 'ab'.repeat(5e5); for (;;) s.indexOf('abc')",
  ],
  python: [
    "sum(range(10**12))",
    "x = list(range(10**6))\nwhile True:\n    sorted(x, reverse=True)",
    "import json\ns = json.dumps(list(range(10**5)))\nwhile True:\n    json.loads(s)",
    "s = 'ab' * 500000\nwhile True:\n    s.find('abc')",
  ],
};

async function grade(language: "javascript" | "python", codes: string[], timeoutMs: number) {
  return api(server, "POST", "/v1/graders/run", {
    grader: { type: "code_tests", name: "native", language, tests: "{{item.test}}", timeout_ms: timeoutMs },
    samples: codes.map((completion) => ({
      completion,
      item: { test: language === "python" ? "pass" : "console.assert(true)" },
    })),
    deadlineMs: 60_000,
  });
}

describe("the main Worker while the sandbox Worker runs long native work", () => {
  it.each(["javascript", "python"] as const)(
    "keeps answering /healthz during a %s batch that spends its time inside builtins, and the batch ends in time limits",
    async (language) => {
      // The first sample of a language boots its interpreter (Pyodide: seconds); not what is measured here.
      await grade(language, [language === "python" ? "x = 1" : "const x = 1"], 5_000);

      let pending = true;
      const answered: unknown[] = [];
      const batch = grade(language, LONG_NATIVE[language], 1_000).finally(() => {
        pending = false;
      });
      const poller = (async () => {
        while (pending) {
          const res = await fetch(`${server.url}/healthz`);
          const body = await res.json();
          if (pending) answered.push([res.status, body]);
          await new Promise((r) => setTimeout(r, 100));
        }
      })();
      const out = await batch;
      await poller;

      expect(out.results).toHaveLength(LONG_NATIVE[language].length);
      for (const r of out.results)
        expect(r, JSON.stringify(r)).toMatchObject({ valid: true, score: 0, reason: "time limit exceeded (1000 ms)" });
      // Four 1 s limits run one after another in the sandbox; a main Worker held by them would answer at
      // most the first poll before the batch returned.
      console.log(
        `${language}: /healthz answered ${answered.length} times while the batch ran (${out.summary.latencyMs} ms)`,
      );
      expect(answered.length).toBeGreaterThanOrEqual(3);
      expect(new Set(answered.map((a) => JSON.stringify(a)))).toEqual(new Set([JSON.stringify([200, { ok: true }])]));
    },
    120_000,
  );
});
