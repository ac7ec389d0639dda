// The retraining loop end to end against the real Worker (`wrangler dev`, fresh local state, its Queue consumer
// driving the cycle), the local runner, and the CPU reference SFT trainer and evaluator (python3): a champion,
// corrected feedback, a cycle that curates, trains a warm-started challenger, evaluates both on the frozen
// holdout and decides. `npm run demo -- --loop` is what runs it, so the demo is tested too.
//
// Where this branch lacks the feedback webhook and the curation worker, the demo's clearly labelled stand-in
// uploads the corrected rows as the curated dataset and marks the curation succeeded in the local D1; once those
// land, the same test goes through them (the output then has no "stand-in" lines).
import { spawn } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, type DevServer, ROOT, startDev } from "../bench/lib/wrangler-dev";

const TSX = join(ROOT, "node_modules", ".bin", "tsx");
let server: DevServer;

function demo(...args: string[]): Promise<{ code: number | null; out: string }> {
  const child = spawn(
    TSX,
    [join(ROOT, "scripts/demo.ts"), "--loop", "--api", server.url, "--persist-to", server.persistTo, ...args],
    {
      cwd: ROOT,
      env: { ...process.env, ASSAY_API_KEY: server.adminKey },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  return new Promise((ok) => child.on("exit", (code) => ok({ code, out })));
}

const line = (out: string, tag: string) => out.split("\n").find((l) => l.startsWith(`${tag} `)) ?? "";

beforeAll(async () => {
  server = await startDev();
}, 120_000);

afterAll(async () => {
  await server?.stop();
});

async function checkCycle(out: string) {
  const experiment = /in (exp_\w+)|experiment (exp_\w+)/.exec(out);
  const policyId = /\(policy (pol_\w+)\)/.exec(out)?.[1];
  expect(policyId, out).toBeDefined();
  const [cycle] = (await api(server, "GET", `/v1/retraining-policies/${policyId}/cycles`)).data;
  // Lineage: curation → dataset → challenger run (warm-started from the champion) → two evals on one holdout.
  const run = await api(server, "GET", `/v1/runs/${cycle.run}`);
  expect(run).toMatchObject({
    kind: "sft",
    status: "succeeded",
    dataset: { id: cycle.dataset },
    parentRunId: cycle.champion,
  });
  expect(run.spec.warmStart).toBe(cycle.champion);
  expect(run.summary).toMatchObject({ trainer: "cpu-reference-sft", warmStart: cycle.champion, stoppedBy: "plan" });
  for (const [who, adapter] of [
    ["champion", cycle.champion],
    ["challenger", cycle.run],
  ]) {
    const ev = await api(server, "GET", `/v1/runs/${cycle.evals[who]}`);
    expect(ev).toMatchObject({ kind: "eval", status: "succeeded", dataset: { id: cycle.holdout } });
    expect(ev.spec.model.adapterOf).toBe(adapter);
    const items = await api(server, "GET", `/v1/runs/${cycle.evals[who]}/items?limit=1000`);
    expect(items.data.length).toBe(cycle.decision.n);
  }
  const cmp = await api(server, "POST", "/v1/compare", { a: cycle.evals.champion, b: cycle.evals.challenger });
  const { items: _, ...numbers } = cmp;
  // The decision's statistics are the paired comparison of the two evals.
  for (const [k, v] of Object.entries(numbers)) expect({ k, v: cycle.decision[k] }).toEqual({ k, v });
  return { cycle, experiment };
}

describe("npm run demo -- --loop (the retraining loop on CPU)", () => {
  it("promotes a challenger trained on feedback that teaches the task, and the champion history shows it", async () => {
    const { code, out } = await demo();
    expect(code, out).toBe(0);
    expect(out).toMatch(/^holdout {3}ds_\w+: \d+ frozen holdout items \(of 200\)$/m);
    expect(out).toMatch(/^champion {2}run_\w+: SFT on \d+ cooking\/music rows, \d+ steps$/m);
    expect(line(out, "decision")).toMatch(
      /^decision {2}PROMOTED: promoted: the 0\.95 lower bound of challenger − champion is 0\.\d+ > margin 0/,
    );
    const { cycle } = await checkCycle(out);
    expect(cycle).toMatchObject({ status: "succeeded", decision: { promoted: true, better: "b" } });
    expect(cycle.decision.n).toBeGreaterThanOrEqual(50);
    // The champion knew two topics of four; the corrections teach the other two.
    expect(cycle.decision.meanA).toBeLessThan(0.7);
    expect(cycle.decision.meanB).toBeGreaterThan(0.9);
    const exp = (await api(server, "GET", `/v1/runs/${cycle.run}`)).experimentId;
    const champ = await api(server, "GET", `/v1/experiments/${exp}/champion`);
    expect(champ.run).toBe(cycle.run);
    expect(champ.history.map((h: { run: string; cycle: string | null }) => [h.run, h.cycle])).toEqual([
      [cycle.run, cycle.id],
      [cycle.champion, null],
    ]);
    console.log(out);
  });

  it("rejects a challenger trained on noise, with its statistics, and keeps the champion", async () => {
    const { code, out } = await demo("--noise");
    expect(code, out).toBe(0);
    expect(line(out, "decision")).toMatch(
      /^decision {2}REJECTED: rejected: the 0\.95 lower bound of challenger − champion is -?\d\.\d+, not above margin 0/,
    );
    const { cycle } = await checkCycle(out);
    expect(cycle).toMatchObject({ status: "succeeded", decision: { promoted: false } });
    expect(cycle.decision.ciLow).toBeLessThanOrEqual(0);
    const exp = (await api(server, "GET", `/v1/runs/${cycle.run}`)).experimentId;
    const champ = await api(server, "GET", `/v1/experiments/${exp}/champion`);
    expect(champ.run).toBe(cycle.champion);
    expect(champ.history).toHaveLength(1);
    console.log(out);
  });
});
