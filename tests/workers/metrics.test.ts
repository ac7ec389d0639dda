import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, createApiKey, expectError, expectStatus } from "./helpers";

async function newRun() {
  const exp = await call("POST", "/v1/experiments", { body: { name: "metrics" } });
  expectStatus(exp, 201);
  const run = await call("POST", `/v1/experiments/${exp.json.id}/runs`, { body: { kind: "eval" } });
  expectStatus(run, 201);
  return { expId: exp.json.id as string, runId: run.json.id as string };
}

const post = (runId: string, points: unknown[], key?: string) =>
  call("POST", `/v1/runs/${runId}/metrics`, { body: { points }, key });

async function storedCount(runId: string) {
  const row = await env.DB.prepare("select count(*) as n from metrics where run_id = ?")
    .bind(runId)
    .first<{ n: number }>();
  return row?.n ?? 0;
}

describe("POST /v1/runs/{id}/metrics", () => {
  it("stores points and returns them as series in step order", async () => {
    const { runId } = await newRun();
    const res = await post(runId, [
      { name: "reward/mean", step: 2, value: 0.5, ts: 1_700_000_000_000 },
      { name: "reward/mean", step: 1, value: 0.25, ts: "2026-01-01T00:00:00Z" },
      { name: "loss", step: 1, value: 1.5 },
    ]);
    expectStatus(res, 200);
    expect(res.json).toEqual({ accepted: 3, duplicates: 0, stop: false });
    const got = await call("GET", `/v1/runs/${runId}/metrics?name=reward/mean`);
    expectStatus(got, 200);
    expect(got.json).toEqual({
      series: [
        {
          name: "reward/mean",
          points: [
            { step: 1, value: 0.25, ts: "2026-01-01T00:00:00.000Z" },
            { step: 2, value: 0.5, ts: new Date(1_700_000_000_000).toISOString() },
          ],
        },
      ],
      nextCursor: null,
    });
    const from = await call("GET", `/v1/runs/${runId}/metrics?fromStep=2`);
    expect(from.json.series).toEqual([
      { name: "reward/mean", points: [{ step: 2, value: 0.5, ts: expect.any(String) }] },
    ]);
  });

  it("counts an identical repeat as a duplicate and stores nothing twice", async () => {
    const { runId } = await newRun();
    const points = [
      { name: "kl", step: 1, value: 0.01, ts: 1 },
      { name: "kl", step: 2, value: 0.02, ts: 2 },
    ];
    expect((await post(runId, points)).json).toEqual({ accepted: 2, duplicates: 0, stop: false });
    expect((await post(runId, [...points, { name: "kl", step: 3, value: 0.03, ts: 3 }])).json).toEqual({
      accepted: 1,
      duplicates: 2,
      stop: false,
    });
    expect(await storedCount(runId)).toBe(3);
  });

  it("refuses a conflicting value with 409 and applies nothing of that batch", async () => {
    const { runId } = await newRun();
    await post(runId, [{ name: "loss", step: 1, value: 1 }]);
    const res = await post(runId, [
      { name: "loss", step: 2, value: 0.9 },
      { name: "loss", step: 1, value: 2 },
    ]);
    expectError(res, 409, "CONFLICT");
    expect(res.json.error.conflicts).toEqual([{ name: "loss", step: 1, stored: 1, sent: 2 }]);
    expect(await storedCount(runId)).toBe(1);
  });

  it("refuses a batch that contradicts itself", async () => {
    const { runId } = await newRun();
    const res = await post(runId, [
      { name: "loss", step: 5, value: 1 },
      { name: "loss", step: 5, value: 2 },
    ]);
    expectError(res, 409, "CONFLICT");
    expect(await storedCount(runId)).toBe(0);
  });

  it("accepts a batch of 10,000 points and refuses 10,001", async () => {
    const { runId } = await newRun();
    const points = Array.from({ length: 10_000 }, (_, i) => ({
      name: `m${i % 4}`,
      step: Math.floor(i / 4),
      value: i / 7,
    }));
    expect((await post(runId, points)).json).toEqual({ accepted: 10_000, duplicates: 0, stop: false });
    expect(await storedCount(runId)).toBe(10_000);
    expectError(await post(runId, [...points, { name: "x", step: 0, value: 0 }]), 400, "BAD_REQUEST");
  });

  it("validates points", async () => {
    const { runId } = await newRun();
    for (const bad of [
      { name: "", step: 1, value: 1 },
      { name: "has space", step: 1, value: 1 },
      { name: "m", step: -1, value: 1 },
      { name: "m", step: 1.5, value: 1 },
      { name: "m", step: 1, value: "1" },
      { name: "m", step: 1, value: 1, ts: "yesterday" },
      { name: "m", step: 1, value: 1, extra: true },
    ]) {
      expectError(await post(runId, [bad]), 400, "BAD_REQUEST");
    }
    expectError(await post(runId, []), 400, "BAD_REQUEST");
    expectError(await call("GET", `/v1/runs/${runId}/metrics?cursor=@@@`), 400, "BAD_REQUEST");
  });

  it("answers 404 for an unknown run and 401 without a key", async () => {
    expectError(await post("run_missing", [{ name: "m", step: 1, value: 1 }]), 404, "NOT_FOUND");
    expectError(await call("GET", "/v1/runs/run_missing/metrics"), 404, "NOT_FOUND");
    const { runId } = await newRun();
    expectError(
      await call("POST", `/v1/runs/${runId}/metrics`, { key: null, body: { points: [] } }),
      401,
      "UNAUTHORIZED",
    );
    expectError(await call("GET", `/v1/runs/${runId}/metrics`, { key: "ak_bad" }), 401, "UNAUTHORIZED");
  });

  it("pages through long series with a cursor", async () => {
    const { runId } = await newRun();
    const points = Array.from({ length: 25 }, (_, i) => ({ name: i < 10 ? "a" : "b", step: i, value: i }));
    await post(runId, points);
    const steps: string[] = [];
    let cursor: string | null = null;
    do {
      const res = await call("GET", `/v1/runs/${runId}/metrics?limit=7${cursor ? `&cursor=${cursor}` : ""}`);
      expectStatus(res, 200);
      for (const s of res.json.series) for (const p of s.points) steps.push(`${s.name}:${p.step}`);
      cursor = res.json.nextCursor;
    } while (cursor);
    expect(steps).toEqual(points.map((p) => `${p.name}:${p.step}`));
  });

  it("loses nothing and duplicates nothing under 1,000 concurrent posts with repeats and conflicts", async () => {
    const BATCHES = 250;
    const IN_FLIGHT = 1000;
    const { runId } = await newRun();
    const { key } = await createApiKey("concurrent");
    // 250 distinct batches of 4 points; each sent twice (a retry) plus 250 posts whose values conflict.
    const batch = (b: number, shift = 0) =>
      Array.from({ length: 4 }, (_, j) => ({ name: `loss/${j}`, step: b, value: b * 10 + j + shift }));
    const jobs: { kind: "orig" | "conflict"; b: number; points: unknown[] }[] = [];
    for (let b = 0; b < BATCHES; b++) {
      jobs.push({ kind: "orig", b, points: batch(b) }, { kind: "orig", b, points: batch(b) });
      jobs.push({ kind: "orig", b, points: batch(b) }, { kind: "conflict", b, points: batch(b, 0.5) });
    }
    // Interleaved so that the versions of one batch race each other; all 1,000 posts are open at once.
    jobs.sort((x, y) => (x.b % 7) - (y.b % 7) || x.b - y.b);
    const results: ((typeof jobs)[number] & { res: Awaited<ReturnType<typeof post>> })[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        while (next < jobs.length) {
          const job = jobs[next++]!;
          results.push({ ...job, res: await post(runId, job.points, key) });
        }
      }),
    );
    expect(results).toHaveLength(BATCHES * 4);
    let accepted = 0;
    for (const b of Array.from({ length: BATCHES }, (_, i) => i)) {
      const group = results.filter((r) => r.b === b);
      const ok = group.filter((r) => r.res.status === 200);
      const conflicts = group.filter((r) => r.res.status === 409);
      expect(ok.length + conflicts.length).toBe(4);
      // Whichever version of the batch landed first wins; every other version is a 409.
      const winners = new Set(ok.map((r) => r.kind));
      expect(winners.size).toBe(1);
      const winner = [...winners][0];
      expect(conflicts.every((r) => r.kind !== winner)).toBe(true);
      const okAccepted = ok.reduce((s, r) => s + r.res.json.accepted, 0);
      const okDuplicates = ok.reduce((s, r) => s + r.res.json.duplicates, 0);
      expect(okAccepted).toBe(4);
      expect(okDuplicates).toBe(4 * (ok.length - 1));
      accepted += okAccepted;
    }
    expect(accepted).toBe(BATCHES * 4);
    expect(await storedCount(runId)).toBe(BATCHES * 4);
  });
});
