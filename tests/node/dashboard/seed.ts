// Seeds a ledger through the public API, the way a user and a trainer would: an API key, a dataset, a
// certified grader, an experiment with an rft run whose container posts rewards (run token) at several
// steps plus trainer KPIs, and a two-run sweep with rewards of its own.

import { rng } from "../../../gpu-jobs/sweep";

export const GRADER = { type: "reward", name: "format-answer" };
export const STEPS = 8;
export const GROUP = 4;
export const GROUPS = 4;
export const LIVE_STEPS = 3;

const good = (a: number) => `<think>working it out</think><answer>${a}</answer>`;

export interface Seeded {
  apiKey: string;
  experimentId: string;
  runId: string;
  /** A run left running after LIVE_STEPS steps, with its token, so a test can post more. */
  liveRunId: string;
  liveToken: string;
  sweepId: string;
  sweepRunIds: string[];
  datasetId: string;
}

/** The sweep module's seeded PRNG (mulberry32), so the seeded curves are the same on every run. */
export { rng };

export function client(base: string) {
  return async function api(method: string, path: string, key: string, body?: unknown, type = "application/json") {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { "content-type": type } : {}) },
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status}: ${text.slice(0, 500)}`);
    return text ? JSON.parse(text) : {};
  };
}

/**
 * One step's samples: GROUPS groups of GROUP completions; the share answering right grows with the step
 * (`skill`), so reward/mean climbs; group 0 is always right (an all-pass group), group 1 at even steps is
 * always wrong (all-fail), and one sample per step lacks its reference answer (invalid).
 */
function stepSamples(step: number, skill: number, rand: () => number) {
  const samples: { completion: string; item: Record<string, unknown>; group: number }[] = [];
  for (let g = 0; g < GROUPS; g++) {
    for (let i = 0; i < GROUP; i++) {
      const answer = g * 10 + step;
      const right = g === 0 || (g === 1 && step % 2 === 0 ? false : rand() < skill);
      const item: Record<string, unknown> = g === 3 && i === 0 ? {} : { question: `${answer - 1}+1`, answer };
      samples.push({ completion: right ? good(answer) : good(answer + 1), item, group: g });
    }
  }
  return samples;
}

/** Posts what a trainer posts for one step: the step's samples for rewards, then its own KPIs. */
export async function trainStep(
  api: ReturnType<typeof client>,
  runId: string,
  token: string,
  step: number,
  rand: () => number,
  lr = 1e-5,
) {
  const skill = Math.min(0.95, 0.2 + step * lr * 1e4 + rand() * 0.1);
  await api("POST", `/v1/runs/${runId}/rewards`, token, { step, samples: stepSamples(step, skill, rand) });
  await api("POST", `/v1/runs/${runId}/metrics`, token, {
    points: [
      { name: "train/loss", step, value: 1.5 / (1 + step * 0.4) + rand() * 0.05 },
      { name: "train/kl", step, value: 0.002 * step + rand() * 0.001 },
    ],
  });
}

async function train(
  api: ReturnType<typeof client>,
  runId: string,
  token: string,
  seed: number,
  lr: number,
  steps = STEPS,
  complete = true,
) {
  const rand = rng(seed);
  await api("POST", `/v1/runs/${runId}/heartbeat`, token, { step: 0 });
  for (let step = 0; step < steps; step++) await trainStep(api, runId, token, step, rand, lr);
  if (!complete) return;
  await api("POST", `/v1/runs/${runId}/complete`, token, {
    status: "succeeded",
    summary: { steps: STEPS },
    artifacts: [{ kind: "lora-adapter", uri: `r2://assay-blobs/artifacts/${runId}/adapter.safetensors` }],
  });
}

async function claim(api: ReturnType<typeof client>, apiKey: string, runId: string): Promise<string> {
  for (let i = 0; i < 20; i++) {
    const c = await api("POST", "/v1/runner/claim", apiKey, { runner: "dashboard-seed" });
    if (!c.run) break;
    if (c.run.id === runId) return c.token as string;
  }
  throw new Error(`run ${runId} could not be claimed`);
}

export async function seed(base: string, adminKey: string): Promise<Seeded> {
  const api = client(base);
  const { key: apiKey } = await api("POST", "/v1/api-keys", adminKey, { name: "dashboard" });
  const rows = Array.from({ length: 40 }, (_, i) => JSON.stringify({ question: `${i}+1`, answer: i + 1 })).join("\n");
  const ds = await api("POST", "/v1/datasets?name=arithmetic", apiKey, rows, "application/x-ndjson");
  const pilot = Array.from({ length: 12 }, (_, i) => ({
    completion: good(i % 2 ? 1 : 2),
    item: { answer: 1 },
    group: i % 3,
  }));
  await api("POST", "/v1/graders/preflight", apiKey, { grader: GRADER, samples: pilot });
  const exp = await api("POST", "/v1/experiments", apiKey, { name: "arithmetic-grpo", tags: ["demo"] });
  const base_ = { baseModel: "tiny-policy", dataset: ds.id, grader: GRADER, backend: "local" };
  const run = await api("POST", `/v1/experiments/${exp.id}/runs`, apiKey, {
    kind: "rft",
    name: "baseline",
    ...base_,
    hyperparams: { learningRate: 1e-5, groupSize: GROUP },
  });
  await train(api, run.id, await claim(api, apiKey, run.id), 1, 1e-5);
  const live = await api("POST", `/v1/experiments/${exp.id}/runs`, apiKey, {
    kind: "rft",
    name: "live",
    ...base_,
  });
  const liveToken = await claim(api, apiKey, live.id);
  await train(api, live.id, liveToken, 2, 1e-5, LIVE_STEPS, false);
  const sweep = await api("POST", `/v1/experiments/${exp.id}/sweeps`, apiKey, {
    name: "learning-rate",
    base: base_,
    search: { method: "grid", parameters: { "hyperparams.learningRate": [5e-6, 2e-5] } },
    metric: "reward/mean",
  });
  const sweepRunIds: string[] = sweep.runs.map((r: { runId: string }) => r.runId);
  let s = 10;
  for (const id of sweepRunIds) {
    const lr = (sweep.runs.find((r: { runId: string }) => r.runId === id).point["hyperparams.learningRate"] ??
      1e-5) as number;
    await train(api, id, await claim(api, apiKey, id), s++, lr);
  }
  return {
    apiKey,
    experimentId: exp.id,
    runId: run.id,
    liveRunId: live.id,
    liveToken,
    sweepId: sweep.id,
    sweepRunIds,
    datasetId: ds.id,
  };
}
