import { env } from "cloudflare:workers";
import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { createDb } from "../../db/client";
import { curations } from "../../db/schema";
import { prepareCuration, resumeStalledCurations, runCurationStep } from "../../functions/lib/curation/job";
import { freshSource, type Msg, seedFeedback, seedSource, words } from "./feedback-seed";
import { call, expectError, expectStatus } from "./helpers";

type Row = Record<string, any>;
const db = () => createDb(env.DB);

async function until<T>(what: string, probe: () => Promise<T | undefined | null | false>, ms = 45_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > end) expect.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

/** POST /v1/curations, then waits for the real Queue consumer to finish the job. */
async function curate(body: Record<string, unknown>) {
  const res = await call("POST", "/v1/curations", { body });
  expectStatus(res, 202);
  expect(res.json).toEqual({ id: expect.stringMatching(/^cur_[0-9a-z]{26}$/), status: "queued" });
  return until(`curation ${res.json.id}`, async () => {
    const got = await call("GET", `/v1/curations/${res.json.id}`);
    expectStatus(got, 200);
    return got.json.status === "succeeded" || got.json.status === "failed" ? got.json : null;
  });
}

async function allRows(dataset: string, split?: "train" | "holdout"): Promise<Row[]> {
  const res = await call("GET", `/v1/datasets/${dataset}/rows?limit=1000${split ? `&split=${split}` : ""}`);
  expectStatus(res, 200);
  expect(res.json.nextCursor).toBeNull();
  return res.json.data;
}

const dropped = (d: Partial<Record<string, number>>) => ({
  duplicate: 0,
  nearDuplicate: 0,
  contaminated: 0,
  invalid: 0,
  noSignal: 0,
  ...d,
});

const LONG = words(17, 60).join(" ");
const LONG_EDIT = LONG.replace(LONG.split(" ")[30]!, "zzzedited");

describe("POST /v1/curations into sft", () => {
  it("writes prompt/completion and messages rows, merging exact and near duplicates into the earliest event", async () => {
    const source = freshSource();
    const system: Msg = { role: "system", content: "Be brief." };
    const ids = await seedFeedback(
      [
        { input: "What is the capital of France?", output: "Paris.", rating: "up", redactions: { email: 1 } },
        { input: "What is 2 + 2?", output: "5", rating: "down", correction: "4" },
        { input: [system, { role: "user", content: "Name a primary colour." }], output: "Red.", rating: "up" },
        { input: "Tell me a joke.", output: "No.", rating: "down" },
        { input: "Hello", output: "Hi!", redactions: { phone: 2 } },
        { input: "what is the capital of   FRANCE", output: "paris", rating: "up" },
        { input: LONG, output: "Ticket summarised.", rating: 0.9 },
        { input: LONG_EDIT, output: "Ticket summarised.", rating: 1 },
        { input: "", output: "x", rating: "up" },
      ],
      { sourceId: source },
    );
    const cur = await curate({ name: "support sft", feedback: { source }, into: "sft" });
    expect(cur).toEqual({
      id: expect.any(String),
      name: "support sft",
      status: "succeeded",
      progress: { done: 9, total: 9 },
      dataset: expect.stringMatching(/^ds_/),
      report: {
        input: 9,
        output: 4,
        dropped: dropped({ duplicate: 1, nearDuplicate: 1, invalid: 2, noSignal: 1 }),
        invalidReasons: { emptyPrompt: 1, noCompletion: 1 },
        contamination: { exact: 0, near: 0, holdoutOf: null, holdoutPrompts: 0 },
        redacted: { email: 1, phone: 2 },
        format: "sft",
        reason: 'requested: into "sft"',
        baseRows: 0,
        dedup: {
          exact: true,
          near: {
            threshold: 0.8,
            ngram: 5,
            permutations: 128,
            bands: 18,
            rows: 7,
            candidateProbabilityAtThreshold: 0.9855,
            candidatePairs: expect.any(Number),
          },
        },
        lineage: { feedbackCount: 6, sources: { [source]: 6 } },
      },
      spec: expect.objectContaining({ into: "sft", feedback: { source } }),
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
    });
    expect(await allRows(cur.dataset)).toEqual([
      { prompt: "What is the capital of France?", completion: "Paris.", meta: { feedback: [ids[0], ids[5]] } },
      { prompt: "What is 2 + 2?", completion: "4", meta: { feedback: [ids[1]] } },
      {
        messages: [system, { role: "user", content: "Name a primary colour." }, { role: "assistant", content: "Red." }],
        meta: { feedback: [ids[2]] },
      },
      { prompt: LONG, completion: "Ticket summarised.", meta: { feedback: [ids[6], ids[7]] } },
    ]);

    const ds = await call("GET", `/v1/datasets/${cur.dataset}`);
    expectStatus(ds, 200);
    expect(ds.json).toMatchObject({ name: "support sft", rows: 4, parent: null, curation: cur.id });
    expect(ds.json.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(ds.json.splits.train + ds.json.splits.holdout).toBe(4);

    const lineage = await call("GET", `/v1/datasets/${cur.dataset}/lineage`);
    expectStatus(lineage, 200);
    expect(lineage.json).toEqual({
      dataset: ds.json,
      curation: expect.objectContaining({ id: cur.id, status: "succeeded", dataset: cur.dataset }),
      sources: [{ id: source, name: null, events: 6 }],
      feedbackCount: 6,
    });
  });
});

describe("POST /v1/curations into dpo, kto and rft", () => {
  it("pairs corrections and differently rated outputs for dpo, dropping equal sides and the unpaired", async () => {
    const source = freshSource();
    const sort = "Best sorting algorithm for nearly sorted data?";
    const ids = await seedFeedback(
      [
        { input: "Translate 'chat' to English.", output: "dog", rating: "down", correction: "cat" },
        { input: sort, output: "Insertion sort.", rating: "up" },
        { input: sort, output: "Bogosort.", rating: "down" },
        { input: "Spell 'colour'.", output: "Colour", rating: "down", correction: "colour!" },
        { input: "Unpaired question?", output: "An answer.", rating: "up" },
        { input: [{ role: "user", content: "Say hi." }], output: "Bye.", rating: "down", correction: "Hi." },
      ],
      { sourceId: source },
    );
    const cur = await curate({ feedback: { source }, into: "dpo" });
    expect(cur.status).toBe("succeeded");
    expect(cur.report).toMatchObject({
      input: 6,
      output: 3,
      format: "dpo",
      dropped: dropped({ invalid: 2 }),
      invalidReasons: { chosenEqualsRejected: 1, noPair: 1 },
    });
    expect(await allRows(cur.dataset)).toEqual([
      { prompt: "Translate 'chat' to English.", chosen: "cat", rejected: "dog", meta: { feedback: [ids[0]] } },
      {
        prompt: [{ role: "user", content: "Say hi." }],
        chosen: [{ role: "assistant", content: "Hi." }],
        rejected: [{ role: "assistant", content: "Bye." }],
        meta: { feedback: [ids[5]] },
      },
      { prompt: sort, chosen: "Insertion sort.", rejected: "Bogosort.", meta: { feedback: [ids[1], ids[2]] } },
    ]);
  });

  it("labels thumbs-rated outputs for kto, a correction marking its output undesirable", async () => {
    const source = freshSource();
    const ids = await seedFeedback(
      [
        { input: "Is the sky blue?", output: "Yes.", rating: "up" },
        { input: "Is fire cold?", output: "Yes.", rating: "down" },
        { input: "Rate this answer", output: "ok", rating: 0.3 },
        { input: "Fix this", output: "wrng", correction: "wrong" },
        { input: "2+2?", output: "4", reference: { answer: "4" } },
      ],
      { sourceId: source },
    );
    const cur = await curate({ feedback: { source }, into: "kto" });
    expect(cur.report).toMatchObject({ input: 5, output: 4, format: "kto", invalidReasons: { noLabel: 1 } });
    expect(await allRows(cur.dataset)).toEqual([
      { prompt: "Is the sky blue?", completion: "Yes.", label: true, meta: { feedback: [ids[0]] } },
      { prompt: "Is fire cold?", completion: "Yes.", label: false, meta: { feedback: [ids[1]] } },
      { prompt: "Rate this answer", completion: "ok", label: false, meta: { feedback: [ids[2]] } },
      { prompt: "Fix this", completion: "wrng", label: false, meta: { feedback: [ids[3]] } },
    ]);
  });

  it("spreads the reference into rft rows and drops events without one or with a clashing key", async () => {
    const source = freshSource();
    const ids = await seedFeedback(
      [
        { input: "2+2?", output: "5", rating: "down", reference: { answer: "4" } },
        { input: "Capital of Peru?", output: "Lima", reference: { answer: "Lima", aliases: ["Lima, Peru"] } },
        { input: "No reference here", output: "fine", rating: "up" },
        { input: "Clash", output: "x", reference: { prompt: "overwrites the prompt" } },
      ],
      { sourceId: source },
    );
    const cur = await curate({ feedback: { source }, into: "rft" });
    expect(cur.report).toMatchObject({
      output: 2,
      format: "rft",
      invalidReasons: { noReference: 1, referenceConflict: 1 },
      dropped: dropped({ invalid: 2 }),
    });
    expect(await allRows(cur.dataset)).toEqual([
      { prompt: "2+2?", answer: "4", meta: { feedback: [ids[0]] } },
      { prompt: "Capital of Peru?", answer: "Lima", aliases: ["Lima, Peru"], meta: { feedback: [ids[1]] } },
    ]);
  });
});

describe("POST /v1/curations into auto", () => {
  it("chooses rft when most events carry a verifiable target, and says why in the recommendation's words", async () => {
    const source = freshSource();
    await seedFeedback(
      [
        ...Array.from({ length: 12 }, (_, i) => ({
          input: `What is ${i} times 3?`,
          output: "?",
          reference: { answer: String(i * 3) },
        })),
        { input: "Thanks!", output: "You're welcome.", rating: "up" as const },
        { input: "Bad answer", output: "Meh.", rating: "down" as const },
      ],
      { sourceId: source },
    );
    const cur = await curate({ feedback: { source }, into: "auto" });
    expect(cur.report).toMatchObject({
      format: "rft",
      recommendation: "rft",
      output: 12,
      invalidReasons: { noReference: 2 },
    });
    expect(cur.report.reason).toContain("Reinforcement fine-tuning (RFT)");
    expect(cur.report.reason).toContain("12 rows have a target that a grader can check");
  });

  it("falls back to kto when there are only thumbs ratings, too few for sft, and explains what is missing", async () => {
    const source = freshSource();
    await seedFeedback(
      Array.from({ length: 5 }, (_, i) => ({
        input: `Question ${i} about ${words(i + 100, 6).join(" ")}`,
        output: `Answer ${i}`,
        rating: i % 2 ? ("up" as const) : ("down" as const),
      })),
      { sourceId: source },
    );
    const cur = await curate({ feedback: { source }, into: "auto" });
    expect(cur.report).toMatchObject({ format: "kto", recommendation: "collect-more-data", output: 5 });
    expect(cur.report.reason).toContain("5 events carry a thumbs rating, which KTO learns from");
    expect(cur.report.reason).toContain("more than 1,000 labelled rows; 2 here");
  });
});

/** A dataset of prompts long enough that one edited word leaves a 5-gram Jaccard above 0.8. */
async function promptDataset() {
  const rows = Array.from({ length: 40 }, (_, i) => ({ prompt: words(1000 + i, 60).join(" "), answer: String(i) }));
  const res = await call("POST", "/v1/datasets?holdout=0.5", {
    raw: rows.map((r) => JSON.stringify(r)).join("\n"),
    headers: { "content-type": "application/x-ndjson" },
  });
  expectStatus(res, 201);
  const id = res.json.id as string;
  return { id, train: await allRows(id, "train"), holdout: await allRows(id, "holdout") };
}

describe("the contamination guard and base datasets", () => {
  it("drops rows whose prompt exactly or nearly duplicates a prompt of the holdoutOf dataset's holdout", async () => {
    const ds = await promptDataset();
    const source = freshSource();
    const near = ds.holdout[1]!.prompt.replace(ds.holdout[1]!.prompt.split(" ")[20], "zzzchanged");
    const ids = await seedFeedback(
      [
        { input: `${ds.holdout[0]!.prompt.toUpperCase()}!`, output: "a", rating: "up" },
        { input: near, output: "b", rating: "up" },
        { input: ds.train[0]!.prompt, output: "c", rating: "up" },
        { input: "An unrelated prompt", output: "d", rating: "up" },
      ],
      { sourceId: source },
    );
    const cur = await curate({ feedback: { source }, into: "sft", holdoutOf: ds.id });
    expect(cur.report).toMatchObject({
      input: 4,
      output: 2,
      dropped: dropped({ contaminated: 2 }),
      contamination: { exact: 1, near: 1, holdoutOf: ds.id, holdoutPrompts: ds.holdout.length },
    });
    expect(await allRows(cur.dataset)).toEqual([
      { prompt: ds.train[0]!.prompt, completion: "c", meta: { feedback: [ids[2]] } },
      { prompt: "An unrelated prompt", completion: "d", meta: { feedback: [ids[3]] } },
    ]);
  });

  it("builds on a base: its rows stay in their splits, new rows are added, the base holdout guards", async () => {
    const ds = await promptDataset();
    const name = `support bot ${Math.random()}`;
    const source = await seedSource(name);
    const ids = await seedFeedback(
      [
        { input: "A brand new question about invoices", output: "Here is how.", rating: "up" },
        { input: ds.holdout[2]!.prompt, output: "leaks the holdout", rating: "up" },
        { input: "Another new question about refunds", output: "Refunds take 5 days.", rating: "up" },
      ],
      { sourceId: source },
    );
    const cur = await curate({ name: "v2", feedback: { source }, into: "sft", base: ds.id });
    expect(cur.status).toBe("succeeded");
    expect(cur.report).toMatchObject({
      output: 2,
      baseRows: 40,
      dropped: dropped({ contaminated: 1 }),
      contamination: { holdoutOf: ds.id },
    });
    const train = await allRows(cur.dataset, "train");
    const holdout = await allRows(cur.dataset, "holdout");
    expect(train.length + holdout.length).toBe(42);
    for (const r of ds.holdout) expect(holdout).toContainEqual(r);
    for (const r of ds.train) expect(train).toContainEqual(r);
    const fresh = [...train, ...holdout].filter((r) => r.meta?.feedback);
    expect(fresh.map((r) => r.meta.feedback).sort()).toEqual([[ids[0]], [ids[2]]].sort());

    const lineage = await call("GET", `/v1/datasets/${cur.dataset}/lineage`);
    expectStatus(lineage, 200);
    expect(lineage.json).toMatchObject({
      dataset: { id: cur.dataset, parent: ds.id, curation: cur.id, rows: 42 },
      parent: { id: ds.id, rows: 40, parent: null, curation: null },
      curation: { id: cur.id, name: "v2" },
      sources: [{ id: source, name, events: 2 }],
      feedbackCount: 2,
    });
  });
});

describe("the curation job", () => {
  it("resumes after a crash and ignores redelivered chunks without duplicating a row, reporting progress", async () => {
    const source = freshSource();
    const ids = await seedFeedback(
      Array.from({ length: 10 }, (_, i) => ({
        input: `Resumable question ${i} ${words(i + 500, 8).join(" ")}`,
        output: `A${i}`,
        rating: "up" as const,
      })),
      { sourceId: source },
    );
    // Prepared without enqueueing: this test delivers each step itself, as the Queue would.
    const cur = await prepareCuration(db(), "prj_default", { feedback: { source }, into: "sft", chunkSize: 4 });
    const row = async () => (await db().select().from(curations).where(eq(curations.id, cur.id)))[0]!;

    expect(await runCurationStep(db(), env, cur.id, 0)).toEqual({ type: "curate", curationId: cur.id, chunk: 1 });
    const progress = await call("GET", `/v1/curations/${cur.id}`);
    expect(progress.json).toMatchObject({ status: "running", progress: { done: 4, total: 10 } });

    // A redelivered message for chunk 0 changes nothing.
    const before = await row();
    expect(await runCurationStep(db(), env, cur.id, 0)).toBeNull();
    expect(await row()).toEqual(before);

    // Chunk 1 is scanned and written to R2, then the state update is lost (a crash): the redelivery
    // scans it again into the same chunk file and advances once.
    expect(await runCurationStep(db(), env, cur.id, 1)).toEqual({ type: "curate", curationId: cur.id, chunk: 2 });
    await db()
      .update(curations)
      .set({ state: before.state, progressDone: before.progressDone, updatedAt: before.updatedAt })
      .where(eq(curations.id, cur.id));
    expect(await runCurationStep(db(), env, cur.id, 1)).toEqual({ type: "curate", curationId: cur.id, chunk: 2 });
    expect((await row()).progressDone).toBe(8);

    // Two deliveries of chunk 2 at once: one advances, the other loses the compare-and-set.
    const both = await Promise.all([runCurationStep(db(), env, cur.id, 2), runCurationStep(db(), env, cur.id, 2)]);
    expect(both.filter((m) => m !== null)).toEqual([{ type: "curate", curationId: cur.id, chunk: 3 }]);
    expect(await row()).toMatchObject({
      progressDone: 10,
      state: expect.objectContaining({ phase: "finish", chunk: 3 }),
    });

    // The finish step, then its redelivery: one dataset, written once.
    expect(await runCurationStep(db(), env, cur.id, 3)).toBeNull();
    expect(await runCurationStep(db(), env, cur.id, 3)).toBeNull();
    const done = await call("GET", `/v1/curations/${cur.id}`);
    expect(done.json).toMatchObject({
      status: "succeeded",
      progress: { done: 10, total: 10 },
      report: { input: 10, output: 10 },
    });
    const rows = await allRows(done.json.dataset);
    expect(rows.map((r) => r.meta.feedback[0])).toEqual(ids);
    expect(rows.map((r) => r.completion)).toEqual(ids.map((_, i) => `A${i}`));
  });

  it("runs many chunks through the real Queue to the same result as one chunk", async () => {
    const source = freshSource();
    await seedFeedback(
      Array.from({ length: 25 }, (_, i) => ({
        input: `Chunked ${i % 20} ${words(i % 20, 10).join(" ")}`,
        output: "ok",
        rating: "up" as const,
      })),
      { sourceId: source },
    );
    const one = await curate({ feedback: { source }, into: "sft" });
    const many = await curate({ feedback: { source }, into: "sft", chunkSize: 3 });
    expect(many.progress).toEqual({ done: 25, total: 25 });
    expect(many.report).toEqual(one.report);
    expect(many.report).toMatchObject({ output: 20, dropped: dropped({ duplicate: 5 }) });
    expect(await allRows(many.dataset)).toEqual(await allRows(one.dataset));
  });
});

describe("curation errors", () => {
  it("refuses a bad spec with 400, an unknown base with 404, and hides another project's curation", async () => {
    expectError(await call("POST", "/v1/curations", { body: { into: "ppo" } }), 400, "BAD_REQUEST");
    expectError(
      await call("POST", "/v1/curations", { body: { into: "sft", dedup: { near: { threshold: 2 } } } }),
      400,
      "BAD_REQUEST",
    );
    expectError(await call("POST", "/v1/curations", { body: { into: "sft", base: "ds_missing" } }), 404, "NOT_FOUND");
    expectError(
      await call("POST", "/v1/curations", { body: { into: "sft", holdoutOf: "ds_missing" } }),
      404,
      "NOT_FOUND",
    );
    expectError(await call("GET", "/v1/curations/cur_missing"), 404, "NOT_FOUND");
    expectError(await call("GET", "/v1/datasets/ds_missing/lineage"), 404, "NOT_FOUND");
    const other = await prepareCuration(db(), "prj_other", { into: "sft" });
    expectError(await call("GET", `/v1/curations/${other.id}`), 404, "NOT_FOUND");
    const list = await call("GET", "/v1/curations?limit=500");
    expectStatus(list, 200);
    expect(list.json.data.map((c: Row) => c.id)).not.toContain(other.id);
  });

  it("fails a curation whose slice gives no rows, with the report saying what was dropped", async () => {
    const source = freshSource();
    await seedFeedback([{ input: "No signal", output: "at all" }], { sourceId: source });
    const cur = await curate({ feedback: { source }, into: "sft" });
    expect(cur).toMatchObject({
      status: "failed",
      error: expect.stringContaining("no rows"),
      report: { input: 1, output: 0, dropped: dropped({ noSignal: 1 }) },
    });
    expect(cur.dataset).toBeUndefined();
  });
});

describe("the resume-curations cron task", () => {
  it("re-sends the step of a stalled job, which the Queue then finishes, and fails one that kept stalling", async () => {
    const source = freshSource();
    await seedFeedback([{ input: "Stalled question", output: "ok", rating: "up" }], { sourceId: source });
    const stalled = await prepareCuration(db(), "prj_default", { feedback: { source }, into: "sft" });
    const hopeless = await prepareCuration(db(), "prj_default", { feedback: { source }, into: "sft" });
    const old = Date.now() - 10 * 60_000;
    await db().update(curations).set({ updatedAt: old }).where(eq(curations.id, stalled.id));
    await db()
      .update(curations)
      .set({ updatedAt: old, state: { ...(hopeless.state as object), resumes: 5 } })
      .where(eq(curations.id, hopeless.id));
    await resumeStalledCurations(db(), env);
    const done = await until("the resumed curation", async () => {
      const got = await call("GET", `/v1/curations/${stalled.id}`);
      return got.json.status === "succeeded" ? got.json : null;
    });
    expect(done).toMatchObject({ progress: { done: 1, total: 1 }, report: { output: 1 } });
    const failed = await call("GET", `/v1/curations/${hopeless.id}`);
    expect(failed.json).toMatchObject({
      status: "failed",
      error: expect.stringContaining("stopped advancing 5 times"),
    });
  });
});
