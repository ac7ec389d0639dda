import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, createApiKey, expectError, expectStatus } from "./helpers";

const good = (answer: string) => `<think>working</think><answer>${answer}</answer>`;

describe("GET /v1/rewards", () => {
  it("lists authored rewards with versions and input schemas", async () => {
    const res = await call("GET", "/v1/rewards");
    expectStatus(res, 200);
    const fa = res.json.data.find((r: { name: string }) => r.name === "format-answer");
    expect(fa).toEqual({
      name: "format-answer",
      version: expect.stringMatching(/^[0-9a-f]{12}$/),
      description: expect.stringContaining("<answer>"),
      inputSchema: expect.objectContaining({ type: "object" }),
    });
  });
});

describe("POST /v1/rewards/{name}/score", () => {
  it("answers one result per sample, in order, valid and invalid alike", async () => {
    const res = await call("POST", "/v1/rewards/format-answer/score", {
      body: {
        samples: [
          { completion: good("4"), item: { answer: "4" } },
          { completion: good("5"), item: { answer: "4" } },
          { completion: "4", item: { answer: "4" } },
          { completion: good("4"), item: {} },
        ],
      },
    });
    expectStatus(res, 200);
    expect(res.json.reward).toEqual({ name: "format-answer", version: expect.stringMatching(/^[0-9a-f]{12}$/) });
    expect(res.json.results.map((r: { score: number; valid: boolean }) => [r.score, r.valid])).toEqual([
      [1, true],
      [0, true],
      [0, true],
      [0, false],
    ]);
    expect(res.json.results[3].error.code).toBe("INVALID_INPUT");
    expect(res.json.summary).toEqual({
      count: 4,
      validCount: 3,
      mean: 1 / 3,
      latencyMs: expect.any(Number),
      latency: { p50: expect.any(Number), p99: expect.any(Number), max: expect.any(Number) },
    });
  });

  it("answers 404 for an unknown reward and 400 for bad bodies", async () => {
    expectError(
      await call("POST", "/v1/rewards/nope/score", { body: { samples: [{ completion: "x" }] } }),
      404,
      "NOT_FOUND",
    );
    expectError(await call("POST", "/v1/rewards/format-answer/score", { body: { samples: [] } }), 400, "BAD_REQUEST");
    expectError(
      await call("POST", "/v1/rewards/format-answer/score", { body: { samples: [{ item: {} }] } }),
      400,
      "BAD_REQUEST",
    );
    const tooSlow = await call("POST", "/v1/rewards/format-answer/score", {
      body: { samples: [{ completion: "x" }], deadlineMs: 10_000_000 },
    });
    expectError(tooSlow, 400, "BAD_REQUEST");
  });

  it("requires a key", async () => {
    expectError(await call("GET", "/v1/rewards", { key: null }), 401, "UNAUTHORIZED");
    const res = await call("POST", "/v1/rewards/format-answer/score", {
      key: "ak_x",
      body: { samples: [{ completion: "" }] },
    });
    expectError(res, 401, "UNAUTHORIZED");
  });
});

describe("graders", () => {
  it("runs a grader config and names its ref", async () => {
    const { key } = await createApiKey("graders");
    const res = await call("POST", "/v1/graders/run", {
      key,
      body: {
        grader: { type: "reward", name: "format-answer" },
        samples: [{ completion: good("7"), item: { answer: 7 } }],
      },
    });
    expectStatus(res, 200);
    expect(res.json.grader).toEqual({ type: "reward", ref: expect.stringMatching(/^format-answer@[0-9a-f]{12}$/) });
    expect(res.json.results).toEqual([expect.objectContaining({ score: 1, valid: true })]);
  });

  it("validates configs without running them", async () => {
    const ok = await call("POST", "/v1/graders/validate", {
      body: { grader: { type: "reward", name: "format-answer" } },
    });
    expectStatus(ok, 200);
    expect(ok.json).toEqual({ valid: true, errors: [] });
    const unknownType = await call("POST", "/v1/graders/validate", { body: { grader: { type: "telepathy" } } });
    expect(unknownType.json).toEqual({
      valid: false,
      errors: [{ path: ["type"], message: expect.stringContaining("unknown grader type") }],
    });
    const unknownReward = await call("POST", "/v1/graders/validate", {
      body: { grader: { type: "reward", name: "nope" } },
    });
    expect(unknownReward.json.valid).toBe(false);
    expect(unknownReward.json.errors[0].path).toEqual(["name"]);
  });

  it("refuses to run an invalid config with 400 naming the path", async () => {
    const res = await call("POST", "/v1/graders/run", {
      body: { grader: { type: "reward", name: "nope" }, samples: [{ completion: "x" }] },
    });
    expectError(res, 400, "BAD_REQUEST");
    expect(res.json.error.issues).toEqual([
      { path: ["grader", "name"], message: expect.stringContaining("unknown reward") },
    ]);
  });

  it("issues and stores a pre-flight certificate", async () => {
    const samples = Array.from({ length: 12 }, (_, i) => ({
      completion: good(i % 2 ? "4" : "5"),
      item: { answer: "4" },
      group: Math.floor(i / 4),
    }));
    const res = await call("POST", "/v1/graders/preflight", {
      body: { grader: { type: "reward", name: "format-answer" }, samples },
    });
    expectStatus(res, 200);
    expect(res.json).toMatchObject({
      id: expect.stringMatching(/^cert_/),
      grader: { ref: expect.stringMatching(/^format-answer@/), hash: expect.stringMatching(/^[0-9a-f]{64}$/) },
      verdict: "pass",
      samples: 12,
      oneResultPerSample: true,
      invalidRate: 0,
      determinism: { mismatches: 0, rate: 0, examples: [] },
      groups: { count: 3, zeroVariance: 0, share: 0 },
      meanScore: 0.5,
    });
    const stored = await env.DB.prepare("select verdict, grader_ref from certificates where id = ?")
      .bind(res.json.id)
      .first();
    expect(stored).toEqual({ verdict: "pass", grader_ref: res.json.grader.ref });
  });

  it("fails a certificate when every group has the same reward", async () => {
    const samples = Array.from({ length: 8 }, (_, i) => ({
      completion: good("4"),
      item: { answer: "4" },
      group: i % 2,
    }));
    const res = await call("POST", "/v1/graders/preflight", {
      body: { grader: { type: "reward", name: "format-answer" }, samples },
    });
    expectStatus(res, 200);
    expect(res.json.verdict).toBe("fail");
    expect(res.json.reasons).toEqual([expect.stringMatching(/^zero_variance_groups: 2 of 2 groups/)]);
  });
});
