import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { runCron } from "../../functions/cron";
import { dueTrigger, fireOnDrift } from "../../functions/lib/cycle-triggers";
import { advanceCycle } from "../../functions/lib/cycles";
import { call, expectError, expectStatus } from "./helpers";

const GRADER = {
  type: "string_check",
  name: "exact",
  input: "{{sample.output_text}}",
  reference: "{{item.answer}}",
  operation: "eq",
};
const TOPICS = ["cooking", "music", "sports", "weather"];

type Row = Record<string, unknown> & { id: string };

async function upload(rows: Record<string, unknown>[], name: string, holdout = 0.1) {
  const res = await call("POST", `/v1/datasets?name=${name}&holdout=${holdout}`, {
    raw: rows.map((r) => JSON.stringify(r)).join("\n"),
    headers: { "content-type": "application/x-ndjson" },
  });
  expectStatus(res, 201);
  return res.json as { id: string; rows: number; splits: { train: number; holdout: number } };
}

const sftRows = (n: number, prefix = "q") =>
  Array.from({ length: n }, (_, i) => ({
    id: `${prefix}-${i}`,
    prompt: `message ${i} about ${TOPICS[i % 4]}`,
    completion: TOPICS[i % 4],
    answer: TOPICS[i % 4],
  }));
const dpoRows = (n: number) =>
  Array.from({ length: n }, (_, i) => ({ prompt: `p${i}`, chosen: "good", rejected: "bad" }));

async function experiment(name = "retraining") {
  const res = await call("POST", "/v1/experiments", { body: { name } });
  expectStatus(res, 201);
  return res.json.id as string;
}

async function createRun(exp: string, body: Record<string, unknown>) {
  return call("POST", `/v1/experiments/${exp}/runs`, { body });
}

/** Run tokens of every run this file claimed: the runner hands out the oldest queued run first. */
const tokens = new Map<string, string>();
async function tokenOf(runId: string): Promise<string> {
  while (!tokens.has(runId)) {
    const claim = await call("POST", "/v1/runner/claim", { body: { runner: "retraining-test" } });
    expectStatus(claim, 200);
    if (!claim.json.run) throw new Error(`run ${runId} was never claimable`);
    tokens.set(claim.json.run.id, claim.json.token);
  }
  return tokens.get(runId)!;
}

/** Plays a trainer: uploads an adapter file and completes the run as succeeded (or as told). */
async function finishTraining(runId: string, status: "succeeded" | "failed" = "succeeded") {
  const token = await tokenOf(runId);
  const bytes = new TextEncoder().encode(JSON.stringify({ format: "assay-cpu-policy/v1", runId }));
  const put = await call("PUT", `/v1/runs/${runId}/artifacts/adapter.json`, {
    key: token,
    raw: bytes,
    headers: { "content-type": "application/octet-stream", "content-length": String(bytes.length) },
  });
  expectStatus(put, 201);
  const done = await call("POST", `/v1/runs/${runId}/complete`, {
    key: token,
    body: {
      status,
      artifacts: [{ kind: "adapter", uri: put.json.uri }],
      ...(status === "failed" ? { error: "trainer crashed (test)" } : {}),
    },
  });
  expectStatus(done, 200);
  return done.json;
}

async function holdoutRows(datasetId: string): Promise<Row[]> {
  const res = await call("GET", `/v1/datasets/${datasetId}/rows?split=holdout&limit=1000`);
  expectStatus(res, 200);
  return res.json.data;
}

/**
 * Plays an evaluator: answers each holdout item (right when `right(row, i)`), posts the answers with their
 * item ids, and completes. `skip` leaves items out, `invalid` sends one answer the grader cannot score.
 */
async function playEval(
  runId: string,
  datasetId: string,
  right: (row: Row, i: number) => boolean,
  opts: { skip?: number; status?: "succeeded" | "failed"; invalid?: boolean } = {},
) {
  const token = await tokenOf(runId);
  const rows = (await holdoutRows(datasetId)).slice(opts.skip ?? 0);
  const samples = rows.map((row, i) => ({
    completion: right(row, i) ? String(row.answer) : "wrong",
    item: opts.invalid && i === 0 ? { ...row, answer: undefined } : row,
    itemId: row.id,
  }));
  if (samples.length) {
    const res = await call("POST", `/v1/runs/${runId}/rewards`, { key: token, body: { step: 1, samples } });
    expectStatus(res, 200);
  }
  const done = await call("POST", `/v1/runs/${runId}/complete`, {
    key: token,
    body: { status: opts.status ?? "succeeded", ...(opts.status === "failed" ? { error: "evaluator crashed" } : {}) },
  });
  expectStatus(done, 200);
}

async function champion(exp: string, dataset: string) {
  const res = await createRun(exp, { kind: "sft", baseModel: "cpu/bag-of-words", dataset, backend: "local" });
  expectStatus(res, 201);
  await finishTraining(res.json.id);
  const put = await call("PUT", `/v1/experiments/${exp}/champion`, { body: { run: res.json.id, reason: "first" } });
  expectStatus(put, 200);
  return res.json.id as string;
}

let trainDs: string;
let dpoDs: string;

beforeAll(async () => {
  trainDs = (await upload(sftRows(60), "sft-train")).id;
  dpoDs = (await upload(dpoRows(20), "dpo-rows")).id;
});

describe("training kinds beyond rft", () => {
  it("keeps an sft run without a backend a ledger-only record, as before", async () => {
    const exp = await experiment();
    const res = await createRun(exp, { kind: "sft", baseModel: "m", params: { lr: 1 } });
    expectStatus(res, 201);
    expect(res.json).toMatchObject({ kind: "sft", status: "queued", spec: null, backend: null, params: { lr: 1 } });
  });

  it("dispatches an sft run that names a backend, with its validated spec and defaults", async () => {
    const exp = await experiment();
    const res = await createRun(exp, {
      kind: "sft",
      baseModel: "cpu/bag-of-words",
      dataset: trainDs,
      backend: "local",
      hyperparams: { learningRate: 0.005, lrScheduler: "cosine", warmupRatio: 0.1, loraTargets: ["q_proj", "v_proj"] },
    });
    expectStatus(res, 201);
    expect(res.json).toMatchObject({
      kind: "sft",
      status: "queued",
      backend: "local",
      grader: null,
      dataset: { id: trainDs, sha256: expect.stringMatching(/^[0-9a-f]{64}$/) },
      params: {
        learningRate: 0.005,
        lrScheduler: "cosine",
        warmupRatio: 0.1,
        precision: "bf16",
        loraTargets: ["q_proj", "v_proj"],
        loraDropout: 0.05,
      },
    });
    const token = await tokenOf(res.json.id);
    const spec = await call("GET", `/v1/runs/${res.json.id}/spec`, { key: token });
    expectStatus(spec, 200);
    expect(spec.json).toMatchObject({ kind: "sft", baseModel: "cpu/bag-of-words", grader: null, warmStart: null });
  });

  it("refuses an sft run on dpo rows, naming the first row that does not fit", async () => {
    const exp = await experiment();
    const res = await createRun(exp, { kind: "sft", baseModel: "m", dataset: dpoDs, backend: "local" });
    expectError(res, 400, "BAD_REQUEST");
    expect(res.json.error.message).toMatch(
      new RegExp(
        `^row 0 of the train split of dataset ${dpoDs} does not fit a sft run: it has no "completion" .*; it looks like a dpo row$`,
      ),
    );
    expect(res.json.error.row).toBe(0);
    const dpo = await createRun(exp, {
      kind: "dpo",
      baseModel: "m",
      dataset: dpoDs,
      backend: "local",
      hyperparams: { beta: 0.2, lossType: "ipo" },
    });
    expectStatus(dpo, 201);
    expect(dpo.json.params).toMatchObject({ beta: 0.2, lossType: "ipo" });
    const kto = await createRun(exp, { kind: "kto", baseModel: "m", dataset: trainDs, backend: "local" });
    expectError(kto, 400, "BAD_REQUEST");
    expect(kto.json.error.message).toMatch(
      /does not fit a kto run: it has no "label" \(true or false\); it looks like a sft row$/,
    );
  });

  it("validates every kind's spec field by field", async () => {
    const exp = await experiment();
    const base = { kind: "sft", baseModel: "m", dataset: trainDs, backend: "local" };
    for (const [bad, path] of [
      [{ hyperparams: { lrScheduler: "step" } }, ["hyperparams", "lrScheduler"]],
      [{ hyperparams: { precision: "int4" } }, ["hyperparams", "precision"]],
      [{ hyperparams: { warmupRatio: 2 } }, ["hyperparams", "warmupRatio"]],
      [{ kind: "dpo", hyperparams: { lossType: "nope" } }, ["hyperparams", "lossType"]],
      [{ warmStart: "exp_x" }, ["warmStart"]],
      [{ warmStart: "run_0000000000missing000000" }, ["warmStart"]],
      [{ kind: "eval", model: { baseModel: "m" }, grader: GRADER, split: "test" }, ["split"]],
      [{ kind: "eval", model: { baseModel: "m" } }, ["grader"]],
    ] as const) {
      const res = await createRun(exp, { ...base, ...bad });
      expectError(res, 400, "BAD_REQUEST");
      expect(res.json.error.issues.map((i: { path: unknown[] }) => i.path)).toContainEqual(path);
    }
  });

  it("warm-starts from a succeeded run's adapter, which the spec names and the run's token can read", async () => {
    const exp = await experiment();
    const first = await createRun(exp, { kind: "sft", baseModel: "m", dataset: trainDs, backend: "local" });
    const early = await createRun(exp, {
      kind: "sft",
      baseModel: "m",
      dataset: trainDs,
      backend: "local",
      warmStart: first.json.id,
    });
    expectError(early, 400, "BAD_REQUEST");
    expect(early.json.error.message).toBe(`warmStart: run ${first.json.id} is queued, not succeeded`);
    await finishTraining(first.json.id);
    const warm = await createRun(exp, {
      kind: "sft",
      baseModel: "m",
      dataset: trainDs,
      backend: "local",
      warmStart: first.json.id,
    });
    expectStatus(warm, 201);
    expect(warm.json.parentRunId).toBe(first.json.id);
    const token = await tokenOf(warm.json.id);
    const spec = await call("GET", `/v1/runs/${warm.json.id}/spec`, { key: token });
    expect(spec.json.warmStart).toEqual({
      run: first.json.id,
      kind: "adapter",
      uri: `r2://assay-blobs/artifacts/${first.json.id}/adapter.json`,
      download: `/v1/runs/${warm.json.id}/base-adapter`,
    });
    const bytes = await call("GET", spec.json.warmStart.download, { key: token });
    expectStatus(bytes, 200);
    expect(JSON.parse(bytes.text)).toEqual({ format: "assay-cpu-policy/v1", runId: first.json.id });
  });
});

describe("sweeps of the new kinds", () => {
  it("creates one sft run per grid point, each with its validated spec, and refuses an eval base", async () => {
    const exp = await experiment();
    const res = await call("POST", `/v1/experiments/${exp}/sweeps`, {
      body: {
        base: { kind: "sft", baseModel: "m", dataset: trainDs, backend: "local" },
        search: { method: "grid", parameters: { "hyperparams.lrScheduler": ["linear", "cosine"] } },
        metric: "loss",
        mode: "min",
      },
    });
    expectStatus(res, 201);
    const runs = await call("GET", `/v1/runs?experiment=${exp}`);
    // One id timestamp for the whole sweep: ids order its runs at random, so compare them sorted.
    expect(
      runs.json.data
        .map((r: { kind: string; params: { lrScheduler: string } }) => [r.kind, r.params.lrScheduler])
        .sort(),
    ).toEqual([
      ["sft", "cosine"],
      ["sft", "linear"],
    ]);
    const bad = await call("POST", `/v1/experiments/${exp}/sweeps`, {
      body: {
        base: { kind: "eval", model: { baseModel: "m" }, dataset: trainDs, backend: "local" },
        search: { method: "grid", parameters: { "hyperparams.seed": [1, 2] } },
      },
    });
    expectError(bad, 400, "BAD_REQUEST");
    expect(bad.json.error.issues).toEqual([{ path: ["base", "kind"], message: "one of rft, sft, dpo, kto" }]);
  });
});

describe("eval runs", () => {
  it("store per-item scores from rewards calls that name item ids, listed page by page", async () => {
    const exp = await experiment();
    const ds = (await upload(sftRows(260, "e"), "eval-set", 0.5)).id; // over 100 items: more than D1 binds a statement
    const res = await createRun(exp, {
      kind: "eval",
      model: { baseModel: "cpu/bag-of-words" },
      dataset: ds,
      grader: GRADER,
      samplesPerItem: 2,
      backend: "local",
    });
    expectStatus(res, 201);
    expect(res.json).toMatchObject({ kind: "eval", baseModel: "cpu/bag-of-words", grader: "string_check" });
    const token = await tokenOf(res.json.id);
    const spec = await call("GET", `/v1/runs/${res.json.id}/spec`, { key: token });
    expect(spec.json.eval).toEqual({ split: "holdout", samplesPerItem: 2 });
    const rows = await holdoutRows(ds);
    const noIds = await call("POST", `/v1/runs/${res.json.id}/rewards`, {
      key: token,
      body: { step: 1, samples: [{ completion: "x", item: rows[0] }] },
    });
    expectError(noIds, 400, "BAD_REQUEST");
    expect(noIds.json.error.issues).toEqual([{ path: ["samples", 0, "itemId"], message: "required on eval runs" }]);
    const samples = rows.flatMap((row, i) => [
      { completion: String(row.answer), item: row, itemId: row.id },
      { completion: i % 2 ? String(row.answer) : "no", item: row, itemId: row.id },
    ]);
    const body = { step: 1, samples };
    expectStatus(await call("POST", `/v1/runs/${res.json.id}/rewards`, { key: token, body }), 200);
    // A retried batch stores nothing twice.
    expectStatus(await call("POST", `/v1/runs/${res.json.id}/rewards`, { key: token, body }), 200);
    const first = await call("GET", `/v1/runs/${res.json.id}/items?limit=5`);
    expectStatus(first, 200);
    const sorted = [...rows].sort((a, b) => (a.id < b.id ? -1 : 1));
    const expectItem = (row: Row) => {
      const i = rows.indexOf(row);
      return { itemId: row.id, scores: [1, i % 2 ? 1 : 0], mean: i % 2 ? 1 : 0.5, invalid: 0 };
    };
    expect(first.json).toEqual({ data: sorted.slice(0, 5).map(expectItem), nextCursor: sorted[4]!.id });
    const rest = await call("GET", `/v1/runs/${res.json.id}/items?limit=1000&cursor=${first.json.nextCursor}`);
    expect(rest.json).toEqual({ data: sorted.slice(5).map(expectItem), nextCursor: null });
  });
});

describe("POST /v1/compare", () => {
  it("compares two score arrays: paired differences, one-sided bound and p-value", async () => {
    const a = [0, 1, 0, 1, 0, 0, 1, 0, 1, 0];
    const b = [1, 1, 0, 1, 1, 0, 1, 1, 1, 0];
    const res = await call("POST", "/v1/compare", { body: { a, b } });
    expectStatus(res, 200);
    // d = b − a has three 1s and seven 0s: mean 0.3, sd √(0.7·0.3·10/9), df 9. SciPy: t.ppf(0.95, 9) =
    // 1.833112932656237, ttest_1samp(d, 0, alternative="greater").pvalue = 0.04056309442292028.
    const se = Math.sqrt((0.3 * 0.7 * 10) / 9) / Math.sqrt(10);
    expect(res.json).toMatchObject({ n: 10, meanA: 0.4, meanB: 0.7, df: 9, clusters: null, better: "b" });
    expect(res.json.meanDiff).toBeCloseTo(0.3, 12);
    expect(res.json.se).toBeCloseTo(se, 12);
    expect(res.json.ciLow).toBeCloseTo(0.3 - 1.833112932656237 * se, 10);
    expect(res.json.pValue).toBeCloseTo(0.04056309442292028, 12);
  });

  it("refuses mixed inputs, too few pairs and unequal lengths with 400", async () => {
    expectError(await call("POST", "/v1/compare", { body: { a: [1, 0], b: "run_x" } }), 400, "BAD_REQUEST");
    expectError(await call("POST", "/v1/compare", { body: { a: [1], b: [0] } }), 400, "BAD_REQUEST");
    const unequal = await call("POST", "/v1/compare", { body: { a: [1, 0, 1], b: [0, 1] } });
    expectError(unequal, 400, "BAD_REQUEST");
    expect(unequal.json.error.message).toBe("a has 3 scores but b has 2: pairs need both");
    const one = await call("POST", "/v1/compare", { body: { a: [1, 0, 1], b: [0, 1, 1], clusters: ["x", "x", "x"] } });
    expect(one.json.error.message).toBe("a clustered comparison needs at least 2 clusters, got 1");
  });

  it("compares two eval runs over their common items, and refuses runs over different items or unfinished", async () => {
    const exp = await experiment();
    const ds = (await upload(sftRows(60, "c"), "compare-set", 0.5)).id;
    const evalRun = async () => {
      const r = await createRun(exp, {
        kind: "eval",
        model: { baseModel: "m" },
        dataset: ds,
        grader: GRADER,
        backend: "local",
      });
      expectStatus(r, 201);
      return r.json.id as string;
    };
    const [a, b, c, d] = [await evalRun(), await evalRun(), await evalRun(), await evalRun()];
    await playEval(a, ds, (_, i) => i % 2 === 0);
    await playEval(b, ds, () => true);
    await playEval(c, ds, () => true, { skip: 1 });
    const res = await call("POST", "/v1/compare", { body: { a, b } });
    expectStatus(res, 200);
    const n = (await holdoutRows(ds)).length;
    expect(res.json).toMatchObject({ n, meanB: 1, better: "b", correlation: null });
    expect(res.json.items).toHaveLength(n);
    const diff = await call("POST", "/v1/compare", { body: { a, b: c } });
    expectError(diff, 409, "CONFLICT");
    expect(diff.json.error.message).toBe(
      `the runs scored different items: 1 only in ${a}, 0 only in ${c}; a paired comparison needs the same items`,
    );
    const running = await call("POST", "/v1/compare", { body: { a, b: d } });
    expectError(running, 409, "CONFLICT");
    expect(running.json.error.message).toBe(`eval ${d} is queued: only a succeeded eval can be compared`);
  });
});

describe("the champion", () => {
  it("is null before the first, set by hand to a succeeded run with an adapter, and keeps its history", async () => {
    const exp = await experiment();
    const before = await call("GET", `/v1/experiments/${exp}/champion`);
    expect(before.json).toEqual({ run: null, since: null, history: [] });
    const queued = await createRun(exp, { kind: "sft", baseModel: "m", dataset: trainDs, backend: "local" });
    const refused = await call("PUT", `/v1/experiments/${exp}/champion`, {
      body: { run: queued.json.id, reason: "x" },
    });
    expectError(refused, 409, "CONFLICT");
    const record = await createRun(exp, { kind: "sft", baseModel: "m" });
    await call("PATCH", `/v1/runs/${record.json.id}`, { body: { status: "succeeded" } });
    const noAdapter = await call("PUT", `/v1/experiments/${exp}/champion`, {
      body: { run: record.json.id, reason: "x" },
    });
    expectError(noAdapter, 409, "CONFLICT");
    expect(noAdapter.json.error.message).toMatch(/has no adapter or lora-adapter artifact/);
    const other = await experiment("other");
    const foreign = await call("PUT", `/v1/experiments/${other}/champion`, {
      body: { run: queued.json.id, reason: "x" },
    });
    expectError(foreign, 400, "BAD_REQUEST");

    const first = await champion(exp, trainDs);
    const second = await createRun(exp, { kind: "sft", baseModel: "m", dataset: trainDs, backend: "local" });
    await finishTraining(second.json.id);
    const put = await call("PUT", `/v1/experiments/${exp}/champion`, {
      body: { run: second.json.id, reason: "better by hand" },
    });
    expectStatus(put, 200);
    expect(put.json).toEqual({
      run: second.json.id,
      since: expect.any(String),
      history: [
        { run: second.json.id, since: put.json.since, until: null, reason: "better by hand", cycle: null },
        { run: first, since: expect.any(String), until: put.json.since, reason: "first", cycle: null },
      ],
    });
    expectError(await call("GET", "/v1/experiments/exp_missing/champion"), 404, "NOT_FOUND");
  });
});

/** TEST FIXTURE, standing in for the curation worker (another branch builds it): the dataset a curation of the
 * feedback would produce is uploaded through POST /v1/datasets and the curation row is marked succeeded. */
async function curateAsFixture(curationId: string, rows: Record<string, unknown>[]) {
  const ds = await upload(rows, `curated-${curationId}`);
  await env.DB.prepare("update curations set status = 'succeeded', dataset_id = ?, updated_at = ? where id = ?")
    .bind(ds.id, Date.now(), curationId)
    .run();
  return ds.id;
}

async function policy(exp: string, extra: Record<string, unknown> = {}) {
  const res = await call("POST", `/v1/experiments/${exp}/retraining-policies`, {
    body: {
      name: "nightly",
      feedback: { sources: ["fs_0000000000test000000000000"] },
      trigger: { minNewFeedback: 3, cooldownHours: 1 },
      curation: { into: "sft" },
      run: { kind: "sft", baseModel: "cpu/bag-of-words", backend: "local", hyperparams: { maxSteps: 10 } },
      gate: { grader: GRADER, minItems: 20 },
      ...extra,
    },
  });
  expectStatus(res, 201);
  return res.json;
}

async function cycles(policyId: string) {
  const res = await call("GET", `/v1/retraining-policies/${policyId}/cycles`);
  expectStatus(res, 200);
  return res.json.data as any[];
}

/** Sets up an experiment with a champion and a policy whose gate holdout has ~`holdoutItems` items. */
async function gateSetup(extra: Record<string, unknown> = {}) {
  const exp = await experiment();
  const holdout = await upload(sftRows(120, `h${Math.random().toString(36).slice(2, 8)}`), "frozen-holdout", 0.5);
  const champ = await champion(exp, holdout.id);
  const pol = await policy(exp, extra);
  return { exp, holdout: holdout.id, champ, pol };
}

/** Triggers the policy and drives its cycle to the evals, playing curation (fixture) and the trainer. */
async function toEvals(pol: { id: string }) {
  const trig = await call("POST", `/v1/retraining-policies/${pol.id}/trigger`, { body: { reason: "test" } });
  expectStatus(trig, 202);
  const cycleId = trig.json.id as string;
  expect(await advanceCycle(env, cycleId)).toBe("curating");
  const [c0] = await cycles(pol.id);
  await curateAsFixture(c0.curation, sftRows(30, `fb${cycleId.slice(-6)}`));
  expect(await advanceCycle(env, cycleId)).toBe("training");
  const [c1] = await cycles(pol.id);
  await finishTraining(c1.run);
  expect(await advanceCycle(env, cycleId)).toBe("evaluating");
  const [c2] = await cycles(pol.id);
  return c2;
}

describe("retraining policies and cycles", () => {
  it("validates a policy's run template and gate", async () => {
    const exp = await experiment();
    const bad = async (body: Record<string, unknown>) =>
      call("POST", `/v1/experiments/${exp}/retraining-policies`, {
        body: { name: "p", feedback: { sources: ["fs_0000000000test000000000000"] }, ...body },
      });
    const evalKind = await bad({ run: { kind: "eval", model: { baseModel: "m" } }, gate: { grader: GRADER } });
    expectError(evalKind, 400, "BAD_REQUEST");
    expect(evalKind.json.error.issues).toEqual([{ path: ["run", "kind"], message: "one of sft, dpo, kto, rft" }]);
    const noGrader = await bad({ run: { kind: "sft", baseModel: "m", backend: "local" } });
    expect(noGrader.json.error.issues).toEqual([
      { path: ["gate", "grader"], message: "required when the run template has no grader" },
    ]);
    const badHp = await bad({
      run: { kind: "dpo", baseModel: "m", backend: "local", hyperparams: { beta: -1 } },
      gate: { grader: GRADER },
    });
    expect(badHp.json.error.issues.map((i: { path: unknown[] }) => i.path)).toEqual([["run", "hyperparams", "beta"]]);
    const ok = await policy(exp);
    expect(ok).toMatchObject({
      id: expect.stringMatching(/^pol_/),
      experimentId: exp,
      trigger: { minNewFeedback: 3, cooldownHours: 1, onDrift: false },
      gate: { confidence: 0.95, margin: 0, minItems: 20 },
    });
    expect((await call("GET", `/v1/retraining-policies/${ok.id}`)).json).toEqual(ok);
    expect((await call("GET", `/v1/experiments/${exp}/retraining-policies`)).json).toEqual({
      data: [ok],
      nextCursor: null,
    });
    expectError(await call("GET", "/v1/retraining-policies/pol_missing"), 404, "NOT_FOUND");
  });

  it("promotes a challenger that is better on the frozen holdout, through every step, each taken once", async () => {
    const { exp, holdout, champ, pol } = await gateSetup();
    const trig = await call("POST", `/v1/retraining-policies/${pol.id}/trigger`, { body: {} });
    expectStatus(trig, 202);
    expect(trig.json).toMatchObject({ status: "curating", champion: champ, holdout, trigger: { kind: "manual" } });
    expectError(await call("POST", `/v1/retraining-policies/${pol.id}/trigger`, { body: {} }), 409, "CONFLICT");
    const cycleId = trig.json.id;
    // Redelivered steps: every call below is made twice, and nothing is created twice.
    await advanceCycle(env, cycleId);
    await advanceCycle(env, cycleId);
    const [c0] = await cycles(pol.id);
    const [cur] = (await env.DB.prepare("select status, spec from curations where id = ?").bind(c0.curation).all())
      .results as {
      status: string;
      spec: string;
    }[];
    // The real curation job has it now (the queue may already have started it).
    expect(["queued", "running"]).toContain(cur!.status);
    expect(JSON.parse(cur!.spec)).toMatchObject({
      feedback: { sources: ["fs_0000000000test000000000000"], since: expect.any(String) },
      into: "sft",
      holdoutOf: holdout,
    });
    const curated = await curateAsFixture(c0.curation, sftRows(30, "fb-good"));
    await advanceCycle(env, cycleId);
    await advanceCycle(env, cycleId);
    const [c1] = await cycles(pol.id);
    expect(c1).toMatchObject({ status: "training", dataset: curated, run: expect.stringMatching(/^run_/) });
    const trainRun = await call("GET", `/v1/runs/${c1.run}`);
    expect(trainRun.json).toMatchObject({
      kind: "sft",
      status: "queued",
      dataset: { id: curated },
      parentRunId: champ,
    });
    expect(trainRun.json.spec).toMatchObject({ warmStart: champ, dataset: curated, hyperparams: { maxSteps: 10 } });
    await finishTraining(c1.run);
    await advanceCycle(env, cycleId);
    await advanceCycle(env, cycleId);
    const [c2] = await cycles(pol.id);
    expect(c2.status).toBe("evaluating");
    const champEval = (await call("GET", `/v1/runs/${c2.evals.champion}`)).json;
    const challEval = (await call("GET", `/v1/runs/${c2.evals.challenger}`)).json;
    expect(champEval.spec).toMatchObject({
      kind: "eval",
      model: { adapterOf: champ },
      dataset: holdout,
      split: "holdout",
    });
    expect(challEval.spec).toMatchObject({
      kind: "eval",
      model: { adapterOf: c1.run },
      dataset: holdout,
      split: "holdout",
    });
    await playEval(c2.evals.champion, holdout, (_, i) => i % 2 === 0);
    await playEval(c2.evals.challenger, holdout, (_, i) => i % 5 !== 0);
    expect(await advanceCycle(env, cycleId)).toBe("succeeded");
    expect(await advanceCycle(env, cycleId)).toBe("succeeded");
    const [done] = await cycles(pol.id);
    expect(done.decision).toMatchObject({
      promoted: true,
      better: "b",
      reason: expect.stringMatching(/^promoted: the 0\.95 lower bound/),
    });
    expect(done.decision.ciLow).toBeGreaterThan(0);
    expect(done.decision.n).toBe((await holdoutRows(holdout)).length);
    expect(done.log.map((l: { step: string }) => l.step)).toEqual([
      "started",
      "curation queued",
      "curated",
      "trained",
      "promoted",
    ]);
    const champNow = await call("GET", `/v1/experiments/${exp}/champion`);
    expect(champNow.json.run).toBe(c1.run);
    expect(champNow.json.history.map((h: { run: string; cycle: string | null }) => [h.run, h.cycle])).toEqual([
      [c1.run, cycleId],
      [champ, null],
    ]);
    const runs = await call("GET", `/v1/runs?experiment=${exp}&limit=500`);
    // The champion, the challenger and two evals: each step's run was created exactly once.
    expect(runs.json.data.map((r: { kind: string }) => r.kind).sort()).toEqual(["eval", "eval", "sft", "sft"]);
  });

  it("rejects a planted tie with its statistics and keeps the champion", async () => {
    const { exp, holdout, champ, pol } = await gateSetup();
    const c = await toEvals(pol);
    const same = (_: Row, i: number) => i % 3 === 0;
    await playEval(c.evals.champion, holdout, same);
    await playEval(c.evals.challenger, holdout, same);
    expect(await advanceCycle(env, c.id)).toBe("succeeded");
    const [done] = await cycles(pol.id);
    expect(done.decision).toMatchObject({
      promoted: false,
      meanDiff: 0,
      se: 0,
      pValue: 1,
      ciLow: 0,
      better: "neither",
    });
    expect(done.decision.reason).toMatch(
      /^rejected: the 0\.95 lower bound of challenger − champion is 0\.0000, not above margin 0/,
    );
    expect((await call("GET", `/v1/experiments/${exp}/champion`)).json.run).toBe(champ);
  });

  it("rejects a better challenger when fewer than minItems items were compared", async () => {
    const { exp, holdout, champ, pol } = await gateSetup({ gate: { grader: GRADER, minItems: 500 } });
    const c = await toEvals(pol);
    await playEval(c.evals.champion, holdout, () => false);
    await playEval(c.evals.challenger, holdout, () => true);
    expect(await advanceCycle(env, c.id)).toBe("succeeded");
    const [done] = await cycles(pol.id);
    expect(done.decision).toMatchObject({ promoted: false, better: "b", meanDiff: 1, minItems: 500 });
    expect(done.decision.reason).toBe(`rejected: only ${done.decision.n} items compared, fewer than minItems 500`);
    expect((await call("GET", `/v1/experiments/${exp}/champion`)).json.run).toBe(champ);
  });

  it("ends failed, promoting nothing, when an eval fails, is partial, or the evals scored different items", async () => {
    for (const variant of ["failed", "partial", "invalid"] as const) {
      const { exp, holdout, champ, pol } = await gateSetup();
      const c = await toEvals(pol);
      await playEval(c.evals.champion, holdout, () => false);
      await playEval(
        c.evals.challenger,
        holdout,
        () => true,
        variant === "failed" ? { status: "failed" } : variant === "partial" ? { skip: 3 } : { invalid: true },
      );
      expect(await advanceCycle(env, c.id)).toBe("failed");
      const [done] = await cycles(pol.id);
      const expected = {
        failed: `the challenger eval ${c.evals.challenger} ended failed: evaluator crashed; nothing is promoted on a failed eval`,
        partial: expect.stringMatching(
          /^partial eval: eval run_\w+ scored \d+ of the holdout's \d+ items: nothing is promoted$/,
        ),
        invalid: expect.stringMatching(/^partial eval: eval run_\w+ has 1 item\(s\) whose evaluation failed \(first: /),
      }[variant];
      expect({ variant, error: done.error }).toEqual({ variant, error: expected });
      expect((await call("GET", `/v1/experiments/${exp}/champion`)).json.run).toBe(champ);
    }
  });

  it("ends failed with the reason when the training run fails", async () => {
    const { pol } = await gateSetup();
    const trig = await call("POST", `/v1/retraining-policies/${pol.id}/trigger`, { body: {} });
    await advanceCycle(env, trig.json.id);
    const [c0] = await cycles(pol.id);
    await curateAsFixture(c0.curation, sftRows(30, "fb-fail"));
    await advanceCycle(env, trig.json.id);
    const [c1] = await cycles(pol.id);
    await finishTraining(c1.run, "failed");
    expect(await advanceCycle(env, trig.json.id)).toBe("failed");
    const [done] = await cycles(pol.id);
    expect(done.error).toBe(`training run ${c1.run} ended failed: trainer crashed (test)`);
    expect(done.evals).toEqual({ champion: null, challenger: null });
  });

  it("ends failed when the curated rows do not fit the template's kind, naming the row", async () => {
    const { pol } = await gateSetup();
    const trig = await call("POST", `/v1/retraining-policies/${pol.id}/trigger`, { body: {} });
    await advanceCycle(env, trig.json.id);
    const [c0] = await cycles(pol.id);
    await curateAsFixture(c0.curation, dpoRows(10));
    expect(await advanceCycle(env, trig.json.id)).toBe("failed");
    const [done] = await cycles(pol.id);
    expect(done.error).toMatch(/^training: row 0 of the train split of dataset ds_\w+ does not fit a sft run/);
  });

  it("fires on a drift alarm only the policies that ask for it, and on age once some feedback is new", async () => {
    const { exp, pol } = await gateSetup({ trigger: { onDrift: true, maxAgeHours: 2 } });
    const quiet = await policy(exp, { name: "no drift", trigger: { maxAgeHours: 2 } });
    const started = await fireOnDrift(env, exp, { feature: "input length", statistic: 0.4 });
    expect(started).toHaveLength(1);
    const [c] = await cycles(pol.id);
    expect(c).toMatchObject({ id: started[0], trigger: { kind: "drift", feature: "input length" } });
    expect(await cycles(quiet.id)).toEqual([]);
    const db = (await import("../../db/client")).createDb(env.DB);
    const [row] = (await env.DB.prepare("select * from retraining_policies where id = ?").bind(quiet.id).all())
      .results as any[];
    const quietRow = {
      ...row,
      spec: JSON.parse(row.spec),
      projectId: row.project_id,
      experimentId: row.experiment_id,
      createdAt: row.created_at,
    };
    // Old enough but nothing new: no cycle for an empty curation.
    expect(await dueTrigger(db, quietRow, row.created_at + 3 * 3_600_000)).toBeNull();
  });

  it("fires on new feedback from its sources once past the cooldown, from the cron", async () => {
    const { pol } = await gateSetup({ feedback: { sources: ["fs_0000000000cron000000000000"] } });
    const [row] = (await env.DB.prepare("select * from retraining_policies where id = ?").bind(pol.id).all())
      .results as any[];
    const policyRow = {
      ...row,
      spec: JSON.parse(row.spec),
      projectId: row.project_id,
      experimentId: row.experiment_id,
      createdAt: row.created_at,
    };
    const db = (await import("../../db/client")).createDb(env.DB);
    const addFeedback = async (n: number, at: number) => {
      for (let i = 0; i < n; i++) {
        await env.DB.prepare(
          `insert into feedback_events (id, project_id, source_id, delivery_id, model, input, input_text, output, redactions, occurred_at, received_at)
           values (?, 'prj_default', 'fs_0000000000cron000000000000', ?, 'm', '"q"', 'q', 'a', '{}', ?, ?)`,
        )
          .bind(`fb_${crypto.randomUUID().replaceAll("-", "")}`, crypto.randomUUID(), at, at)
          .run();
      }
    };
    const now = Date.now();
    await addFeedback(2, now + 1000);
    expect(await dueTrigger(db, policyRow, now + 2000)).toBeNull();
    await addFeedback(1, now + 1500);
    expect(await dueTrigger(db, policyRow, now + 2000)).toEqual({ kind: "feedback", newFeedback: 3 });
    await runCron(env, now + 2000);
    const [c] = await cycles(pol.id);
    expect(c).toMatchObject({
      status: "curating",
      trigger: { kind: "feedback", newFeedback: 3 },
      feedback: { count: 3 },
    });
    // While it is open, or within the cooldown after it, nothing else fires.
    await addFeedback(5, now + 3000);
    expect(await dueTrigger(db, policyRow, now + 4000)).toBeNull();
    await env.DB.prepare("update retraining_cycles set status = 'failed' where id = ?").bind(c.id).run();
    expect(await dueTrigger(db, policyRow, now + 4000)).toBeNull();
    expect(await dueTrigger(db, policyRow, c.createdAt ? Date.parse(c.createdAt) + 3_600_001 : 0)).toEqual({
      kind: "feedback",
      newFeedback: 5,
    });
  });
});
