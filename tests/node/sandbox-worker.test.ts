// The platform as `npm run dev` runs it: the main Worker and the sandbox Workers (the JavaScript one twice,
// the Python one) in workerd processes of their own, the main Worker calling them over loopback. Model code that spends long inside native builtins must not stop the main
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

describe("the JavaScript sandbox Worker in two processes, as `npm run dev` starts it", () => {
  it("spreads a batch's calls over both copies, reached over loopback, and keeps every result in its place", async () => {
    const served = async () =>
      Promise.all(
        (["js", "js2"] as const).map(
          async (name) =>
            ((await (await fetch(`${server.sandboxes[name].url}/stats`)).json()) as { served: { runs: number } }).served
              .runs,
        ),
      );
    const before = await served();
    const n = 96;
    const out = await api(server, "POST", "/v1/graders/run", {
      grader: { type: "code_tests", name: "spread", language: "javascript", tests: "{{item.test}}" },
      samples: Array.from({ length: n }, (_, i) => ({
        completion: `function f(x) { return x + ${i} }`,
        // Every fifth sample is wrong: the results must come back in the samples' order.
        item: { test: `console.assert(f(1) === ${i % 5 === 0 ? 0 : i + 1})` },
      })),
    });
    expect(out.results.map((r: { score: number }) => r.score)).toEqual(
      Array.from({ length: n }, (_, i) => (i % 5 === 0 ? 0 : 1)),
    );
    const after = await served();
    const took = after.map((a, i) => a - before[i]!);
    console.log(`runs served by the two JavaScript sandbox processes: ${took.join(" and ")}`);
    expect(took[0]! + took[1]!).toBe(n);
    expect(took[0]).toBeGreaterThan(0);
    expect(took[1]).toBeGreaterThan(0);
  }, 60_000);
});
