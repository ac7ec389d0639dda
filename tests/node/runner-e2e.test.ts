// End to end against the real Worker: `wrangler dev` on a random loopback port with fresh local state, the
// local runner claiming runs over the API, and the CPU reference trainer (python3) training them over the
// container protocol.
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, type DevServer, ROOT, startDev } from "../bench/lib/wrangler-dev";

const TSX = join(ROOT, "node_modules", ".bin", "tsx");
/** Lets Node import data files (wordnet.bin) as workerd does. */
const DATA_IMPORTS = join(ROOT, "scripts", "node-data-imports.mjs");
const DEMO = join(ROOT, "gpu-jobs", "demo");
const RUN_SPEC = JSON.parse(readFileSync(join(DEMO, "run.json"), "utf8"));
const GRADER = JSON.parse(readFileSync(join(DEMO, "grader.json"), "utf8"));
const JSONL = readFileSync(join(DEMO, "topics.jsonl"), "utf8");

let server: DevServer;
let datasetId: string;
let experimentId: string;

interface Point {
  step: number;
  value: number;
}

interface Spawned {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

function start(script: string, args: string[]): Spawned {
  const child = spawn(TSX, ["--import", DATA_IMPORTS, script, ...args], {
    cwd: ROOT,
    env: { ...process.env, ASSAY_API_KEY: server.adminKey, ASSAY_API_URL: server.url },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout!.on("data", (d) => (output += d));
  child.stderr!.on("data", (d) => (output += d));
  const exited = new Promise<number | null>((ok) => child.on("exit", (code) => ok(code)));
  return { child, output: () => output, exited };
}

const runner = (...args: string[]) =>
  start(join(ROOT, "gpu-jobs/runner/runner.ts"), ["--api", server.url, "--poll", "0.2", "--grace", "20", ...args]);

async function createRun(overrides: Record<string, unknown> = {}) {
  return api(server, "POST", `/v1/experiments/${experimentId}/runs`, {
    ...RUN_SPEC,
    dataset: datasetId,
    grader: GRADER,
    ...overrides,
  });
}

async function series(runId: string, names: string[]): Promise<Record<string, Point[]>> {
  const page = await api(server, "GET", `/v1/runs/${runId}/metrics?name=${names.join(",")}`);
  const out: Record<string, Point[]> = {};
  for (const s of page.series) out[s.name] = s.points.map((p: Point) => ({ step: p.step, value: p.value }));
  return out;
}

async function waitForSteps(runId: string, steps: number, child: ChildProcess) {
  for (;;) {
    const points = (await series(runId, ["reward/mean"]))["reward/mean"] ?? [];
    if (points.length >= steps) return;
    if (child.exitCode !== null) throw new Error(`runner exited (${child.exitCode}) before step ${steps}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const statuses = (run: { statusHistory: { status: string }[] }) => run.statusHistory.map((h) => h.status);
const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;

/** The first step at which "patience reports without a gain above minDelta over the best" holds. */
function firstStopStep(points: Point[], patience: number, minDelta: number): number | null {
  let best = points[0]!.value;
  let since = 0;
  for (const p of points.slice(1)) {
    if (p.value - best > minDelta) {
      best = p.value;
      since = 0;
    } else if (++since >= patience) return p.step;
  }
  return null;
}

beforeAll(async () => {
  server = await startDev();
  const res = await fetch(`${server.url}/v1/datasets?name=demo-topics`, {
    method: "POST",
    headers: { authorization: `Bearer ${server.adminKey}`, "content-type": "application/x-ndjson" },
    body: JSONL,
  });
  const ds = (await res.json()) as { id: string };
  expect(res.status, JSON.stringify(ds)).toBe(201);
  datasetId = ds.id;
  const rows = JSONL.split("\n")
    .filter(Boolean)
    .slice(0, 8)
    .map((l) => JSON.parse(l));
  const samples = rows.flatMap((item, g) => item.choices.map((c: string) => ({ completion: c, item, group: g })));
  const cert = await api(server, "POST", "/v1/graders/preflight", { grader: GRADER, samples });
  expect(cert.verdict, JSON.stringify(cert.reasons)).toBe("pass");
  experimentId = (await api(server, "POST", "/v1/experiments", { name: "runner e2e" })).id;
}, 120_000);

afterAll(async () => {
  await server?.stop();
});

describe("local runner + CPU trainer against the Worker", () => {
  it("trains a claimed run until early stopping fires, with rewards, KPIs and the adapter in the ledger", async () => {
    const rule = { metric: "reward/mean", mode: "max", patience: 10, minDelta: 0.01 };
    const run = await createRun({ earlyStopping: [rule] });
    expect(run.status).toBe("queued");

    const r = runner("--once");
    const code = await r.exited;
    expect(code, r.output()).toBe(0);
    expect(r.output()).toContain(`[runner] claimed ${run.id}`);
    expect(r.output()).toMatch(new RegExp(`\\[${run.id}\\] step +1 +reward`));

    const done = await api(server, "GET", `/v1/runs/${run.id}`);
    expect(statuses(done)).toEqual(["queued", "dispatching", "running", "stopped"]);
    expect(done.stopReason).toMatch(/^early stopping: reward\/mean has not improved by more than 0\.01 for 10 reports/);
    expect(done.artifacts.map((a: { kind: string; uri: string }) => ({ kind: a.kind, uri: a.uri }))).toEqual([
      { kind: "adapter", uri: `r2://assay-blobs/artifacts/${run.id}/adapter.json` },
    ]);

    const m = await series(run.id, [
      "reward/mean",
      "reward/samples",
      "train/reward_mean",
      "loss",
      "kl",
      "learning_rate",
    ]);
    const rewards = m["reward/mean"]!;
    const steps = rewards.map((p) => p.step);
    // Every step was scored by the platform, and the trainer stopped at the step where the rule fired.
    expect(steps).toEqual(Array.from({ length: steps.length }, (_, i) => i + 1));
    expect(firstStopStep(rewards, rule.patience, rule.minDelta)).toBe(steps.at(-1));
    expect(done.summary).toMatchObject({ trainer: "cpu-reference", steps: steps.length, stoppedBy: "platform" });
    expect(m["reward/samples"]!.map((p) => p.value)).toEqual(steps.map(() => 16 * 8));
    expect(m.loss!.map((p) => p.step)).toEqual(steps);
    expect(m.kl!.map((p) => p.step)).toEqual(steps);
    expect(m.learning_rate!.map((p) => p.value)).toEqual(steps.map(() => 0.01));
    // The trainer's own reward mean is computed from the same results as the platform's telemetry.
    const round = (ps: Point[]) => ps.map((p) => ({ step: p.step, value: Number(p.value.toFixed(9)) }));
    expect(round(m["train/reward_mean"]!)).toEqual(round(rewards));
    // And it learned: six candidates with one right answer start near 1/6.
    expect(mean(rewards.slice(0, 5).map((p) => p.value))).toBeLessThan(0.35);
    expect(mean(rewards.slice(-5).map((p) => p.value))).toBeGreaterThan(
      mean(rewards.slice(0, 5).map((p) => p.value)) + 0.2,
    );
  });

  it("npm run demo uploads, certifies, trains through the runner and prints the curve and the stop reason", async () => {
    const demo = start(join(ROOT, "scripts/demo.ts"), ["--api", server.url]);
    const code = await demo.exited;
    const out = demo.output();
    expect(code, out).toBe(0);
    expect(out).toMatch(/^dataset {3}ds_\w+: 200 rows \(train \d+, holdout \d+\)$/m);
    expect(out).toMatch(/^grader {4}format-answer@\w+: pre-flight pass on 48 samples \(cert_\w+\)$/m);
    expect(out).toMatch(/^run {7}run_\w+ \(queued\) in exp_\w+$/m);
    expect(out).toMatch(/^status {4}stopped after \d+ steps$/m);
    expect(out).toMatch(/^stopped {3}early stopping: reward\/mean has not improved by more than 0\.01 for 25 reports/m);
    expect(out).toMatch(/^artifact {2}adapter: r2:\/\/assay-blobs\/artifacts\/run_\w+\/adapter\.json$/m);
    expect(out).toMatch(/^reward {4}[▁▂▃▄▅▆▇█]+$/m);
  });

  it("Ctrl-C on the runner lets the trainer finish its step, store its adapter and fail the run as interrupted", async () => {
    const run = await createRun({ earlyStopping: [] });
    const r = runner("--once");
    await waitForSteps(run.id, 3, r.child);
    r.child.kill("SIGINT");
    const code = await r.exited;
    expect(code, r.output()).toBe(1);
    expect(r.output()).toContain("[runner] SIGINT: no more claims; asking 1 trainer(s) to finish their step");
    expect(r.output()).toContain(`[${run.id}] received SIGTERM: finishing the current step`);

    const done = await api(server, "GET", `/v1/runs/${run.id}`);
    expect({ status: done.status, error: done.error, stoppedBy: done.summary.stoppedBy }).toEqual({
      status: "failed",
      error: "interrupted by SIGTERM",
      stoppedBy: "signal",
    });
    expect(done.artifacts.map((a: { uri: string }) => a.uri)).toEqual([
      `r2://assay-blobs/artifacts/${run.id}/adapter.json`,
    ]);
    const steps = (await series(run.id, ["loss"])).loss!.map((p) => p.step);
    expect(steps.at(-1)).toBe(done.summary.steps);
  });

  it("cancelling a run ends its trainer, and the run stays cancelled", async () => {
    const run = await createRun({ earlyStopping: [] });
    const r = runner("--once");
    await waitForSteps(run.id, 3, r.child);
    await api(server, "POST", `/v1/runs/${run.id}/cancel`, { reason: "e2e: enough" });
    const code = await r.exited;
    expect(code, r.output()).toBe(0);
    const done = await api(server, "GET", `/v1/runs/${run.id}`);
    expect({ status: done.status, stopReason: done.stopReason }).toEqual({
      status: "cancelled",
      stopReason: "e2e: enough",
    });
    expect(r.output()).toContain(`[${run.id}] run ${run.id} cancelled after`);
  });

  it("runs several claimed runs at once with --concurrency, each with its own prefixed output", async () => {
    const short = { earlyStopping: [], hyperparams: { ...RUN_SPEC.hyperparams, maxSteps: 15 } };
    const a = await createRun(short);
    const b = await createRun(short);
    const r = runner("--concurrency", "2", "--max-idle", "1");
    const code = await r.exited;
    expect(code, r.output()).toBe(0);
    for (const run of [a, b]) {
      const done = await api(server, "GET", `/v1/runs/${run.id}`);
      expect({ status: done.status, steps: done.summary.steps }).toEqual({ status: "succeeded", steps: 15 });
      expect(r.output()).toContain(`[${run.id}] run ${run.id} succeeded after 15 steps (plan)`);
    }
    // Both were claimed before either finished.
    const out = r.output();
    expect(out.indexOf(`[runner] claimed ${b.id}`)).toBeLessThan(out.indexOf(`[runner] ${a.id} exited`));
    expect(out).toContain("[runner] nothing queued for 1 s: exiting");
  });
});
