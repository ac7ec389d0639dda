import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, createApiKey, expectStatus } from "./helpers";

const GRADER = { type: "reward", name: "format-answer" };

/** Runs `jobs` with `clients` concurrent senders; each job is sent, then sent again (a client retry). */
async function withRetries<T>(jobs: T[], clients: number, send: (job: T) => Promise<{ status: number }>) {
  let next = 0;
  const statuses: number[] = [];
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < jobs.length) {
        const job = jobs[next++]!;
        const [a, b] = await Promise.all([send(job), send(job)]);
        statuses.push(a.status, b.status);
      }
    }),
  );
  return statuses;
}

describe("a training run under concurrent load with retries", () => {
  it("loses and duplicates nothing across 10,000 reward samples and 100,000 metric points", async () => {
    const { key } = await createApiKey("load");
    const rows = Array.from({ length: 20 }, (_, i) => JSON.stringify({ answer: i })).join("\n");
    const ds = await call("POST", "/v1/datasets", { raw: rows, headers: { "content-type": "application/x-ndjson" } });
    const exp = await call("POST", "/v1/experiments", { body: { name: "load" }, key });
    const run = await call("POST", `/v1/experiments/${exp.json.id}/runs`, {
      key,
      body: { kind: "rft", baseModel: "m", dataset: ds.json.id, grader: GRADER, backend: "local", force: true },
    });
    expectStatus(run, 201);
    let token = "";
    for (;;) {
      const claim = await call("POST", "/v1/runner/claim", { key, body: {} });
      if (claim.json.run?.id === run.json.id) {
        token = claim.json.token;
        break;
      }
      expect(claim.json.run).not.toBeNull();
    }
    const runId = run.json.id as string;

    // 50 steps × 2 shards × 100 samples = 10,000 samples; half the answers right.
    const rewardJobs = Array.from({ length: 100 }, (_, j) => ({
      step: Math.floor(j / 2),
      batchKey: `shard-${j % 2}`,
      samples: Array.from({ length: 100 }, (_, i) => ({
        completion: `<think>x</think><answer>${i % 2 ? 1 : 2}</answer>`,
        item: { answer: 1 },
        group: Math.floor(i / 8),
      })),
    }));
    let t0 = Date.now();
    const rewardStatuses = await withRetries(rewardJobs, 6, (job) =>
      call("POST", `/v1/runs/${runId}/rewards`, { key: token, body: job }),
    );
    const rewardMs = Date.now() - t0;
    t0 = Date.now();
    expect(rewardStatuses.every((s) => s === 200)).toBe(true);

    // 100 batches × 1,000 points = 100,000 points.
    const metricJobs = Array.from({ length: 100 }, (_, b) =>
      Array.from({ length: 1000 }, (_, i) => ({
        name: `train/m${i % 10}`,
        step: b * 100 + Math.floor(i / 10),
        value: (b * 1000 + i) / 7,
      })),
    );
    const metricStatuses = await withRetries(metricJobs, 6, (points) =>
      call("POST", `/v1/runs/${runId}/metrics`, { key: token, body: { points } }),
    );
    console.log(
      `10,000 samples (each sent twice) in ${rewardMs} ms; 100,000 points (each sent twice) in ${Date.now() - t0} ms`,
    );
    expect(metricStatuses.every((s) => s === 200)).toBe(true);

    const count = async (sql: string) => (await env.DB.prepare(sql).bind(runId).first<{ n: number }>())?.n;
    expect(await count("select count(*) as n from reward_batches where run_id = ?")).toBe(100);
    expect(await count("select sum(samples) as n from reward_batches where run_id = ?")).toBe(10_000);
    expect(await count("select count(*) as n from metrics where run_id = ? and name like 'train/%'")).toBe(100_000);
    expect(
      await count("select count(*) as n from metrics where run_id = ? and name = 'reward/samples' and value = 200"),
    ).toBe(50);
    expect(
      await count("select count(*) as n from metrics where run_id = ? and name = 'reward/mean' and value = 0.5"),
    ).toBe(50);
  });
});
