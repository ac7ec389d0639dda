import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { MAX_COMPLETION_CHARS, stepBudget } from "../../functions/lib/step-samples";
import { call, createApiKey, expectError, expectStatus } from "./helpers";

const GRADER = { type: "reward", name: "format-answer" };
const good = (a: string | number) => `<think>t</think><answer>${a}</answer>`;

let apiKey: string;
let datasetId: string;

async function claimedRun() {
  const exp = await call("POST", "/v1/experiments", { body: { name: "samples" }, key: apiKey });
  expectStatus(exp, 201);
  const run = await call("POST", `/v1/experiments/${exp.json.id}/runs`, {
    key: apiKey,
    body: { kind: "rft", baseModel: "tiny", dataset: datasetId, grader: GRADER, backend: "local", force: true },
  });
  expectStatus(run, 201);
  for (;;) {
    const claim = await call("POST", "/v1/runner/claim", { body: {}, key: apiKey });
    expectStatus(claim, 200);
    expect(claim.json.run).not.toBeNull();
    if (claim.json.run.id === run.json.id) return { id: run.json.id as string, token: claim.json.token as string };
  }
}

async function rewards(id: string, token: string, body: Record<string, unknown>) {
  const res = await call("POST", `/v1/runs/${id}/rewards`, { key: token, body });
  expectStatus(res, 200);
  return res.json;
}

const samplesOf = async (id: string, step: number, query = "") => {
  const res = await call("GET", `/v1/runs/${id}/steps/${step}/samples${query}`, { key: apiKey });
  expectStatus(res, 200);
  return res.json;
};

/** Group 0 all right, group 1 all wrong, group 2 mixed, and one sample without its reference (invalid). */
const STEP = [
  { completion: good(1), item: { answer: 1, q: "a" }, group: 0 },
  { completion: good(1), item: { answer: 1, q: "b" }, group: 0 },
  { completion: good(2), item: { answer: 1, q: "c" }, group: 1 },
  { completion: good(3), item: { answer: 1, q: "d" }, group: 1 },
  { completion: good(1), item: { answer: 1, q: "e" }, group: 2 },
  { completion: good(5), item: { answer: 1, q: "f" }, group: 2 },
  { completion: good(1), item: {}, group: 3 },
];

beforeAll(async () => {
  apiKey = (await createApiKey("samples")).key;
  const rows = Array.from({ length: 10 }, (_, i) => JSON.stringify({ question: `${i}`, answer: i })).join("\n");
  const ds = await call("POST", "/v1/datasets?name=s", {
    raw: rows,
    headers: { "content-type": "application/x-ndjson" },
  });
  expectStatus(ds, 201);
  datasetId = ds.json.id;
});

describe("per-step samples", () => {
  it("keeps every sample of a step with its item, score, reason and per-metric breakdown", async () => {
    const { id, token } = await claimedRun();
    await rewards(id, token, { step: 2, samples: STEP, batchKey: "b1" });
    const all = await samplesOf(id, 2);
    expect(all).toMatchObject({
      runId: id,
      step: 2,
      filter: "all",
      kept: 7,
      valid: 6,
      invalidByCode: { INVALID_INPUT: 1 },
      zeroVarianceGroups: { allPass: 1, allFail: 1, allEqual: 0 },
      nextCursor: null,
    });
    expect(all.data).toHaveLength(7);
    expect(all.data[0]).toEqual({
      batch: "b1",
      index: 0,
      completion: good(1),
      completionChars: good(1).length,
      truncated: false,
      item: { answer: 1, q: "a" },
      group: 0,
      score: expect.any(Number),
      valid: true,
      reason: expect.any(String),
      metrics: {
        format: { score: 1 },
        correct: { score: 1 },
        length: { score: expect.any(Number), reason: expect.any(String) },
      },
      error: null,
    });
    expect(all.data[2]).toMatchObject({
      index: 2,
      score: 0,
      valid: true,
      reason: "wrong answer: expected 1, got 2",
      metrics: { correct: { score: 0, reason: "expected 1, got 2" } },
    });
    expect(all.data[6]).toMatchObject({ index: 6, valid: false, error: { code: "INVALID_INPUT" } });
  });

  it("filters best, worst, invalid and zero-variance groups split into all-pass and all-fail", async () => {
    const { id, token } = await claimedRun();
    await rewards(id, token, { step: 0, samples: STEP, batchKey: "b1" });
    const best = await samplesOf(id, 0, "?filter=best");
    expect(best.data.map((s: { index: number }) => s.index)).toEqual([0, 1, 4, 2, 3, 5]);
    const worst = await samplesOf(id, 0, "?filter=worst");
    expect(worst.data.map((s: { index: number }) => s.index)).toEqual([2, 3, 5, 0, 1, 4]);
    const invalid = await samplesOf(id, 0, "?filter=invalid");
    expect(invalid.data.map((s: { index: number; error: { code: string } }) => [s.index, s.error.code])).toEqual([
      [6, "INVALID_INPUT"],
    ]);
    const zero = await samplesOf(id, 0, "?filter=zero-variance");
    expect(
      zero.data.map((s: { index: number; group: number; groupOutcome: string }) => [s.index, s.group, s.groupOutcome]),
    ).toEqual([
      [0, 0, "all-pass"],
      [1, 0, "all-pass"],
      [2, 1, "all-fail"],
      [3, 1, "all-fail"],
    ]);
  });

  it("pages through a step with a cursor, each sample once", async () => {
    const { id, token } = await claimedRun();
    await rewards(id, token, { step: 1, samples: STEP });
    const seen: number[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page = await samplesOf(id, 1, `?filter=all&limit=3${cursor ? `&cursor=${cursor}` : ""}`);
      seen.push(...page.data.map((s: { index: number }) => s.index));
      cursor = page.nextCursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });

  it("keeps at most keepSamples of a step across its batches, a retried batch once, and cuts long completions", async () => {
    const { id, token } = await claimedRun();
    const long = `<think>${"x".repeat(MAX_COMPLETION_CHARS + 500)}</think><answer>1</answer>`;
    await rewards(id, token, {
      step: 5,
      batchKey: "first",
      keepSamples: 4,
      samples: [{ completion: long, item: { answer: 1 } }, ...STEP.slice(0, 2)],
    });
    // The retry is recorded once: nothing more is kept.
    await rewards(id, token, {
      step: 5,
      batchKey: "first",
      keepSamples: 4,
      samples: [{ completion: long, item: { answer: 1 } }, ...STEP.slice(0, 2)],
    });
    await rewards(id, token, { step: 5, batchKey: "second", keepSamples: 4, samples: STEP });
    const page = await samplesOf(id, 5);
    expect(page.kept).toBe(4);
    expect(page.data.map((s: { batch: string; index: number }) => `${s.batch}#${s.index}`)).toEqual([
      "first#0",
      "first#1",
      "first#2",
      "second#0",
    ]);
    expect(page.data[0]).toMatchObject({ truncated: true, completionChars: long.length });
    expect(page.data[0].completion).toHaveLength(MAX_COMPLETION_CHARS + 1);
    // keepSamples: 0 keeps nothing; the telemetry is still recorded.
    await rewards(id, token, { step: 6, keepSamples: 0, samples: STEP });
    expect(await samplesOf(id, 6)).toMatchObject({ kept: 0, data: [], nextCursor: null });
    const m = await call("GET", `/v1/runs/${id}/metrics?name=reward/samples&fromStep=6`, { key: apiKey });
    expect(m.json.series[0].points[0].value).toBe(7);
  });

  it("caps the per-step budget at 1024, whatever ASSAY_SAMPLES_PER_STEP or keepSamples ask", () => {
    expect(stepBudget(env)).toBe(1024);
    expect(stepBudget({ ...env, ASSAY_SAMPLES_PER_STEP: "5000" })).toBe(1024);
    expect(stepBudget({ ...env, ASSAY_SAMPLES_PER_STEP: "16" })).toBe(16);
    expect(stepBudget({ ...env, ASSAY_SAMPLES_PER_STEP: "16" }, 4)).toBe(4);
    expect(stepBudget({ ...env, ASSAY_SAMPLES_PER_STEP: "nonsense" })).toBe(1024);
  });

  it("answers a step without samples with an empty page", async () => {
    const { id } = await claimedRun();
    expect(await samplesOf(id, 99)).toEqual({
      runId: id,
      step: 99,
      filter: "all",
      kept: 0,
      valid: 0,
      invalidByCode: {},
      zeroVarianceGroups: { allPass: 0, allFail: 0, allEqual: 0 },
      data: [],
      nextCursor: null,
    });
  });

  it("refuses a missing key, a run token, an unknown run and bad input", async () => {
    const { id, token } = await claimedRun();
    expectError(await call("GET", `/v1/runs/${id}/steps/0/samples`, { key: null }), 401, "UNAUTHORIZED");
    expectError(await call("GET", `/v1/runs/${id}/steps/0/samples`, { key: token }), 403, "FORBIDDEN");
    expectError(await call("GET", "/v1/runs/run_nope/steps/0/samples", { key: apiKey }), 404, "NOT_FOUND");
    for (const q of [
      "/steps/-1/samples",
      "/steps/x/samples",
      "/steps/0/samples?filter=bogus",
      "/steps/0/samples?limit=0",
      "/steps/0/samples?limit=201",
      "/steps/0/samples?cursor=%25%25",
      "/steps/0/samples?cursor=bm9wZQ",
    ]) {
      expectError(await call("GET", `/v1/runs/${id}${q}`, { key: apiKey }), 400, "BAD_REQUEST");
    }
    const bad = await call("POST", `/v1/runs/${id}/rewards`, {
      key: token,
      body: { step: 0, samples: STEP, keepSamples: 2000 },
    });
    expectError(bad, 400, "BAD_REQUEST");
    expect(bad.json.error.issues[0].path).toEqual(["keepSamples"]);
  });
});

describe("a run's certificate", () => {
  it("is the latest pre-flight certificate of the run's grader config, and 404 without one", async () => {
    const { id } = await claimedRun();
    const grader = { type: "reward", name: "format-answer" };
    const samples = Array.from({ length: 12 }, (_, i) => ({
      completion: good(i % 2 ? 1 : 2),
      item: { answer: 1 },
      group: i % 3,
    }));
    const pre = await call("POST", "/v1/graders/preflight", { body: { grader, samples } });
    expectStatus(pre, 200);
    const res = await call("GET", `/v1/runs/${id}/certificate`, { key: apiKey });
    expectStatus(res, 200);
    expect(res.json).toEqual(pre.json);
    expectError(await call("GET", "/v1/runs/run_nope/certificate", { key: apiKey }), 404, "NOT_FOUND");
    expectError(await call("GET", `/v1/runs/${id}/certificate`, { key: null }), 401, "UNAUTHORIZED");
    const exp = await call("POST", "/v1/experiments", { body: { name: "records" }, key: apiKey });
    const record = await call("POST", `/v1/experiments/${exp.json.id}/runs`, { key: apiKey, body: { kind: "eval" } });
    expectStatus(record, 201);
    expectError(await call("GET", `/v1/runs/${record.json.id}/certificate`, { key: apiKey }), 404, "NOT_FOUND");
  });
});

describe("downsampled metric series", () => {
  it("gives one point per bucket: the last value with the bucket's min, max and count", async () => {
    const { id, token } = await claimedRun();
    const points = Array.from({ length: 1000 }, (_, step) => ({
      name: "train/loss",
      step,
      value: (step % 10) + step / 1000,
    }));
    points.push(...Array.from({ length: 100 }, (_, i) => ({ name: "train/kl", step: i * 10, value: i })));
    expectStatus(await call("POST", `/v1/runs/${id}/metrics`, { key: token, body: { points } }), 200);
    const res = await call("GET", `/v1/runs/${id}/metrics?buckets=10`, { key: apiKey });
    expectStatus(res, 200);
    expect(res.json.nextCursor).toBeNull();
    const [kl, loss] = res.json.series;
    expect(loss.name).toBe("train/loss");
    expect(loss.points).toHaveLength(10);
    expect(loss.points[0]).toEqual({ step: 99, value: 9.099, ts: expect.any(String), min: 0, max: 9.099, count: 100 });
    expect(loss.points.map((p: { count: number }) => p.count).reduce((a: number, b: number) => a + b)).toBe(1000);
    expect(loss.points.at(-1)).toMatchObject({ step: 999, value: 9.999, min: 0.9, count: 100 });
    // Both series share the buckets of the one step range.
    expect(kl.name).toBe("train/kl");
    expect(kl.points.map((p: { step: number }) => p.step)).toEqual([90, 190, 290, 390, 490, 590, 690, 790, 890, 990]);
    expect(kl.points.every((p: { count: number }) => p.count === 10)).toBe(true);
    const one = await call("GET", `/v1/runs/${id}/metrics?buckets=4&name=train/kl&fromStep=500`, { key: apiKey });
    expect(one.json.series).toHaveLength(1);
    expect(one.json.series[0].points.map((p: { step: number; count: number }) => [p.step, p.count])).toEqual([
      [620, 13],
      [740, 12],
      [860, 12],
      [990, 13],
    ]);
    expectError(await call("GET", `/v1/runs/${id}/metrics?buckets=0`, { key: apiKey }), 400, "BAD_REQUEST");
    expectError(await call("GET", `/v1/runs/${id}/metrics?buckets=10001`, { key: apiKey }), 400, "BAD_REQUEST");
  });
});
