import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { createDb } from "../../db/client";
import { advanceSearchingSweeps, advanceSweep } from "../../functions/lib/sweep-search";
import { call, createApiKey, expectError, expectStatus } from "./helpers";

const GRADER = { type: "reward", name: "format-answer" };
let apiKey: string;
let datasetId: string;

/** The synthetic trainer's reward at a step: best at lr = 3e-4, rising with training progress. */
function reward(lr: number, step: number, steps: number): number {
  const quality = Math.max(0, 1 - (Math.log10(lr) - Math.log10(3e-4)) ** 2 / 4);
  return Math.round(quality * ((step + 1) / steps) * 1e6) / 1e6;
}

beforeAll(async () => {
  apiKey = (await createApiKey("sweep-search")).key;
  const rows = Array.from({ length: 10 }, (_, i) => JSON.stringify({ q: i, answer: i })).join("\n");
  const ds = await call("POST", "/v1/datasets", { raw: rows, headers: { "content-type": "application/x-ndjson" } });
  expectStatus(ds, 201);
  datasetId = ds.json.id;
});

async function createSweep(search: Record<string, unknown>) {
  const exp = await call("POST", "/v1/experiments", { body: { name: "bayes" }, key: apiKey });
  const res = await call("POST", `/v1/experiments/${exp.json.id}/sweeps`, {
    key: apiKey,
    body: {
      name: "bayes-lr",
      base: { baseModel: "m", dataset: datasetId, grader: GRADER, backend: "local", force: true },
      search,
    },
  });
  expectStatus(res, 201);
  return res.json;
}

/** Plays the local runner for one claimed run: metrics each step (stopping when told), then complete. */
async function train(runId: string, token: string, lr: number, steps: number) {
  let stopReason: string | undefined;
  for (let step = 0; step < steps; step++) {
    const res = await call("POST", `/v1/runs/${runId}/metrics`, {
      key: token,
      body: { points: [{ name: "reward/mean", step, value: reward(lr, step, steps) }] },
    });
    expectStatus(res, 200);
    if (res.json.stop) {
      stopReason = res.json.stopReason;
      break;
    }
  }
  const done = await call("POST", `/v1/runs/${runId}/complete`, { key: token, body: { status: "succeeded" } });
  expectStatus(done, 200);
  return { stopReason, status: done.json.status as string };
}

describe("Bayesian sweeps with successive halving", () => {
  it("proposes runs from finished runs' metric, parallelism at a time, and cuts the weak ones at rungs", async () => {
    const search = {
      method: "bayes",
      parameters: { "hyperparams.learningRate": { min: 1e-6, max: 1e-2, scale: "log" } },
      maxRuns: 7,
      parallelism: 2,
      seed: 11,
      startup: 3,
      earlyTermination: { type: "asha", minSteps: 2, eta: 2, maxRungs: 2 },
    };
    const sweep = await createSweep(search);
    expect(sweep).toMatchObject({ method: "bayes", searching: true });
    expect(sweep.runs).toHaveLength(2);
    const db = createDb(env.DB);
    const outcomes: { runId: string; stopReason?: string; status: string }[] = [];
    for (let round = 0; round < 20; round++) {
      const claim = await call("POST", "/v1/runner/claim", { key: apiKey, body: { runner: "test" } });
      expectStatus(claim, 200);
      if (!claim.json.run) {
        // Nothing queued: whatever the queue consumer has not yet proposed, the proposer does now.
        if ((await advanceSweep(db, env, sweep.id)).length === 0) break;
        continue;
      }
      const view = await call("GET", `/v1/sweeps/${sweep.id}`, { key: apiKey });
      const inFlight = view.json.runs.filter(
        (r: any) => !["succeeded", "stopped", "failed", "cancelled"].includes(r.status),
      );
      expect(inFlight.length).toBeLessThanOrEqual(2);
      const run = await call("GET", `/v1/runs/${claim.json.run.id}`, { key: apiKey });
      const lr = run.json.params.learningRate as number;
      outcomes.push({ runId: claim.json.run.id, ...(await train(claim.json.run.id, claim.json.token, lr, 5)) });
      await advanceSweep(db, env, sweep.id);
    }
    await advanceSearchingSweeps(db, env);

    const final = await call("GET", `/v1/sweeps/${sweep.id}`, { key: apiKey });
    expectStatus(final, 200);
    expect(final.json.runs).toHaveLength(7);
    expect(final.json.searching).toBe(false);
    expect(new Set(final.json.runs.map((r: any) => r.index))).toEqual(new Set([0, 1, 2, 3, 4, 5, 6]));
    for (const r of final.json.runs) {
      const lr = r.point["hyperparams.learningRate"];
      expect(lr).toBeGreaterThanOrEqual(1e-6);
      expect(lr).toBeLessThanOrEqual(1e-2);
    }
    // Successive halving: every run that was cut was told why and ended stopped, at the rung it names.
    const cut = final.json.runs.filter((r: any) => r.cut);
    expect(cut.length).toBeGreaterThan(0);
    for (const r of cut) {
      const o = outcomes.find((x) => x.runId === r.runId)!;
      expect(o.status).toBe("stopped");
      expect(o.stopReason).toMatch(/^successive halving: at rung [01] \(step [24]\)/);
      expect(r.cut.rank).toBeGreaterThan(r.cut.keep);
      expect(r.lastStep).toBe(r.cut.step);
    }
    // Runs that were never cut trained to the end.
    for (const r of final.json.runs.filter((x: any) => !x.cut)) expect(r.lastStep).toBe(4);
    // The best run ranks first.
    expect(final.json.runs[0].rank).toBe(1);
  });

  it("refuses a bayes sweep whose range reaches values the run spec does not accept", async () => {
    const exp = await call("POST", "/v1/experiments", { body: { name: "bayes-bad" }, key: apiKey });
    const res = await call("POST", `/v1/experiments/${exp.json.id}/sweeps`, {
      key: apiKey,
      body: {
        base: { baseModel: "m", dataset: datasetId, grader: GRADER, backend: "local", force: true },
        search: { method: "bayes", parameters: { "hyperparams.learningRate": { min: 1e-5, max: 5 } }, maxRuns: 4 },
      },
    });
    expectError(res, 400, "BAD_REQUEST");
    expect(res.json.error.message).toMatch(/is not a valid rft spec/);
  });

  it("proposes nothing twice when two proposers run at once", async () => {
    const sweep = await createSweep({
      method: "bayes",
      parameters: { "hyperparams.learningRate": { min: 1e-6, max: 1e-2, scale: "log" } },
      maxRuns: 4,
      parallelism: 3,
    });
    expect(sweep.runs).toHaveLength(3);
    // End one run so that exactly one slot opens, then race two proposers for it.
    const claim = await call("POST", "/v1/runner/claim", { key: apiKey, body: {} });
    await call("POST", `/v1/runs/${claim.json.run.id}/complete`, {
      key: claim.json.token,
      body: { status: "succeeded" },
    });
    const db = createDb(env.DB);
    const created = (await Promise.all([advanceSweep(db, env, sweep.id), advanceSweep(db, env, sweep.id)])).flat();
    const view = await call("GET", `/v1/sweeps/${sweep.id}`, { key: apiKey });
    expect(view.json.runs).toHaveLength(4);
    expect(created.length).toBeLessThanOrEqual(1);
  });
});
