import { env } from "cloudflare:workers";
import { eq } from "drizzle-orm";
import { Webhook } from "standardwebhooks";
import { afterAll, describe, expect, inject, it } from "vitest";
import { createDb } from "../../db/client";
import { driftChecks, feedbackEvents, feedbackSources } from "../../db/schema";
import { runCron } from "../../functions/cron";
import { DRIFT_LISTENERS, type DriftDetected } from "../../functions/lib/drift-check";
import { newId } from "../../functions/lib/ids";
import { generate } from "../lib/drift-generator";
import { call, expectError, expectStatus } from "./helpers";

const db = createDb(env.DB);
const DAY = 86_400_000;
const RECEIVER = inject("webhookReceiverUrl");
/** The last whole day: the cron's window when it runs just after `windowEnd`. */
const windowEnd = Math.floor(Date.now() / DAY) * DAY;

const heard: DriftDetected[] = [];
const listener = async (_db: unknown, _env: unknown, e: DriftDetected) => {
  heard.push(e);
};
DRIFT_LISTENERS.push(listener);
afterAll(() => {
  DRIFT_LISTENERS.splice(DRIFT_LISTENERS.indexOf(listener), 1);
});

async function experiment(name: string) {
  const res = await call("POST", "/v1/experiments", { body: { name } });
  expectStatus(res, 201);
  return res.json.id as string;
}

async function referenceDataset(seed: number, n: number) {
  const body = generate(n, seed)
    .map((x) => JSON.stringify({ prompt: x.text, answer: "a" }))
    .join("\n");
  const res = await call("POST", "/v1/datasets?name=drift-ref&holdout=0.1", {
    raw: body,
    headers: { "content-type": "application/x-ndjson" },
  });
  expectStatus(res, 201);
  return res.json as { id: string; splits: { train: number } };
}

/** A feedback source tied to the experiment and `n` events of the generator, inside the cron's window. */
async function seedEvents(experimentId: string, seed: number, n: number, shift: number) {
  const sourceId = newId("fs");
  await db.insert(feedbackSources).values({
    id: sourceId,
    name: "prod",
    experimentId,
    secretEnc: "unused-in-these-tests",
    createdAt: Date.now(),
  });
  const rows = generate(n, seed, shift).map((x, i) => {
    const at = windowEnd - 20 * 3_600_000 + i * 1000;
    return {
      id: newId("fb", at),
      sourceId,
      deliveryId: `d${i}`,
      model: "m",
      input: x.text,
      inputText: x.text,
      output: "o",
      rating: typeof x.rating === "string" ? x.rating : null,
      ratingValue: x.rating === "up" ? 1 : x.rating === "down" ? 0 : null,
      labels: x.labels ?? null,
      redactions: {},
      occurredAt: at,
      receivedAt: at,
    };
  });
  const inserts = [];
  for (let i = 0; i < rows.length; i += 4) inserts.push(db.insert(feedbackEvents).values(rows.slice(i, i + 4)));
  for (let i = 0; i < inserts.length; i += 50) {
    const chunk = inserts.slice(i, i + 50);
    await db.batch(chunk as [(typeof chunk)[number], ...typeof chunk]);
  }
  return sourceId;
}

const FEATURES = [
  "length/js_distance",
  "length/psi",
  "rating/js_distance",
  "labels/js_distance",
  "embedding.components/mean_component_js_distance",
  "embedding/classifier_auc",
];

describe("drift of production inputs", () => {
  const ctx: {
    stable?: string;
    shifted?: string;
    ref?: { id: string; splits: { train: number } };
    stableSource?: string;
    shiftedSource?: string;
  } = {};

  it("needs a reference: 409 until the monitoring config names a dataset", async () => {
    ctx.stable = await experiment("drift-stable");
    ctx.shifted = await experiment("drift-shifted");
    ctx.ref = await referenceDataset(1, 700);
    ctx.stableSource = await seedEvents(ctx.stable, 2, 600, 0);
    ctx.shiftedSource = await seedEvents(ctx.shifted, 3, 600, 0.3);
    const res = await call("GET", `/v1/experiments/${ctx.stable}/drift`);
    expectError(res, 409, "CONFLICT");
    expect(res.json.error.message).toContain("PUT /v1/experiments");
    const defaults = await call("GET", `/v1/experiments/${ctx.stable}/monitoring`);
    expectStatus(defaults, 200);
    expect(defaults.json).toEqual({
      experimentId: ctx.stable,
      monitored: false,
      referenceDataset: null,
      window: "24h",
      sources: null,
      alertMargin: 0.02,
      nightlyAtUtc: "02:00",
      evalGrader: null,
      evalDataset: null,
      alertConfidence: 0.95,
      updatedAt: null,
    });
  });

  it("stores a monitoring config and rejects unknown datasets, sources and windows", async () => {
    const put = await call("PUT", `/v1/experiments/${ctx.stable}/monitoring`, {
      body: { referenceDataset: ctx.ref!.id, window: "24h" },
    });
    expectStatus(put, 200);
    expect(put.json).toEqual({
      experimentId: ctx.stable,
      monitored: true,
      referenceDataset: ctx.ref!.id,
      window: "24h",
      sources: null,
      alertMargin: 0.02,
      nightlyAtUtc: "02:00",
      evalGrader: null,
      evalDataset: null,
      alertConfidence: 0.95,
      updatedAt: expect.any(String),
    });
    expect((await call("GET", `/v1/experiments/${ctx.stable}/monitoring`)).json).toEqual(put.json);
    const shifted = await call("PUT", `/v1/experiments/${ctx.shifted}/monitoring`, {
      body: { referenceDataset: ctx.ref!.id, sources: [ctx.shiftedSource], alertMargin: 0.05, nightlyAtUtc: "03:30" },
    });
    expectStatus(shifted, 200);
    expect(shifted.json).toMatchObject({ sources: [ctx.shiftedSource], alertMargin: 0.05, nightlyAtUtc: "03:30" });

    const bad = await call("PUT", `/v1/experiments/${ctx.stable}/monitoring`, {
      body: { referenceDataset: "ds_nope" },
    });
    expectError(bad, 400, "BAD_REQUEST");
    expect(bad.json.error.issues).toEqual([
      { path: ["referenceDataset"], message: "no such dataset", code: "not_found" },
    ]);
    const badSource = await call("PUT", `/v1/experiments/${ctx.stable}/monitoring`, {
      body: { referenceDataset: ctx.ref!.id, sources: ["fs_nope"] },
    });
    expectError(badSource, 400, "BAD_REQUEST");
    expect(badSource.json.error.issues).toEqual([
      { path: ["sources", 0], message: "no source fs_nope", code: "not_found" },
    ]);
    expectError(
      await call("PUT", `/v1/experiments/${ctx.stable}/monitoring`, { body: { window: "1s" } }),
      400,
      "BAD_REQUEST",
    );
    expectError(await call("PUT", `/v1/experiments/exp_nope/monitoring`, { body: {} }), 404, "NOT_FOUND");
    expectError(await call("GET", `/v1/experiments/${ctx.stable}/drift?window=forever`), 400, "BAD_REQUEST");
    expectError(await call("GET", "/v1/experiments/exp_nope/drift"), 404, "NOT_FOUND");
    expectError(await call("GET", `/v1/experiments/${ctx.stable}/drift`, { key: null }), 401, "UNAUTHORIZED");
  });

  it("reports no drift for inputs from the reference's own distribution, with every statistic's sizes and threshold", async () => {
    const res = await call("GET", `/v1/experiments/${ctx.stable}/drift?window=2d`);
    expectStatus(res, 200);
    const r = res.json;
    const seeded = generate(600, 2);
    expect(r).toEqual({
      experimentId: ctx.stable,
      reference: { dataset: ctx.ref!.id, n: ctx.ref!.splits.train },
      current: { from: expect.any(String), to: expect.any(String), n: 600, sources: [ctx.stableSource] },
      window: "2d",
      features: expect.any(Array),
      drifted: false,
      method: expect.stringContaining("classifier AUC"),
      // The reference dataset carries no ratings or labels: those features are skipped, and say why.
      skipped: [
        {
          name: "rating",
          reason: `needs 30 values on each side (reference 0, current ${seeded.filter((x) => x.rating).length})`,
        },
        {
          name: "labels",
          reason: `needs 30 values on each side (reference 0, current ${seeded.filter((x) => x.labels).length})`,
        },
      ],
      embedding: { kind: "hashed", dimension: 512, componentsCompared: 512 },
      alpha: 0.01,
    });
    expect(Date.parse(r.current.to) - Date.parse(r.current.from)).toBe(2 * DAY);
    expect(r.features.map((f: any) => `${f.name}/${f.statistic}`)).toEqual(
      FEATURES.filter((f) => !/^rating|^labels/.test(f)),
    );
    for (const f of r.features) {
      expect(f).toEqual({
        name: expect.any(String),
        statistic: expect.any(String),
        value: expect.any(Number),
        threshold: expect.any(Number),
        drifted: false,
        pValue: expect.any(Number),
        alpha: 0.01 / 3,
        test: expect.any(String),
        n: { reference: ctx.ref!.splits.train, current: 600 },
      });
    }
  });

  it("detects a topic shift that moves 30% of the inputs to unseen vocabulary", async () => {
    const res = await call("GET", `/v1/experiments/${ctx.shifted}/drift?window=2d`);
    expectStatus(res, 200);
    expect(res.json.drifted).toBe(true);
    expect(res.json.current).toMatchObject({ n: 600, sources: [ctx.shiftedSource] });
    const auc = res.json.features.find((f: any) => f.statistic === "classifier_auc");
    expect(auc).toMatchObject({ name: "embedding", drifted: true, threshold: 0.55 });
    expect(auc.value).toBeGreaterThan(0.55);
    expect(auc.pValue).toBeLessThan(auc.alpha);
  });

  it("the cron stores one check per window per monitored experiment, and announces drift once", async () => {
    const path = `/hooks/drift-${Date.now()}`;
    const sub = await call("POST", "/v1/event-subscriptions", {
      body: { url: `${RECEIVER}${path}`, events: ["drift.detected"] },
    });
    expectStatus(sub, 201);
    const at = windowEnd + 60_000;
    // One check per invocation at most: three invocations cover both experiments, the third finds nothing to do.
    for (let i = 0; i < 3; i++) await runCron(env, at + i * 60_000);
    const stable = await call("GET", `/v1/experiments/${ctx.stable}/drift/checks`);
    expectStatus(stable, 200);
    expect(stable.json.nextCursor).toBeNull();
    expect(stable.json.data).toEqual([
      expect.objectContaining({
        id: expect.stringMatching(/^drf_/),
        trigger: "cron",
        experimentId: ctx.stable,
        drifted: false,
        reference: { dataset: ctx.ref!.id, n: ctx.ref!.splits.train },
        current: {
          from: new Date(windowEnd - DAY).toISOString(),
          to: new Date(windowEnd).toISOString(),
          n: 600,
          sources: [ctx.stableSource],
        },
        window: "24h",
        createdAt: expect.any(String),
      }),
    ]);
    const shifted = await call("GET", `/v1/experiments/${ctx.shifted}/drift/checks`);
    expect(shifted.json.data).toHaveLength(1);
    expect(shifted.json.data[0]).toMatchObject({ drifted: true, current: { n: 600 } });

    // The same window again (a re-run or overlapping cron): nothing new.
    await runCron(env, at + 5 * 60_000);
    expect((await db.select().from(driftChecks).where(eq(driftChecks.experimentId, ctx.shifted!))).length).toBe(1);

    // The drift was announced once: to the listeners (retraining's onDrift) and to the subscription.
    expect(heard.map((e) => [e.experimentId, e.checkId])).toEqual([[ctx.shifted, shifted.json.data[0].id]]);
    const got = await (async () => {
      const end = Date.now() + 20_000;
      for (;;) {
        const r = (await (await fetch(`${RECEIVER}/__ctl/requests?path=${encodeURIComponent(path)}`)).json()) as any[];
        if (r.length || Date.now() > end) return r;
        await new Promise((ok) => setTimeout(ok, 100));
      }
    })();
    expect(got).toHaveLength(1);
    const payload = new Webhook(sub.json.secret).verify(got[0].body, got[0].headers) as any;
    expect(payload.type).toBe("drift.detected");
    expect(payload.data).toMatchObject({ experimentId: ctx.shifted, checkId: shifted.json.data[0].id });
    expect(payload.data.features.map((f: any) => f.name)).toContain("embedding");

    // The next window gets its own check.
    await runCron(env, at + DAY);
    await runCron(env, at + DAY + 60_000);
    const next = await call("GET", `/v1/experiments/${ctx.stable}/drift/checks?limit=1`);
    expect(next.json.data).toHaveLength(1);
    expect(next.json.data[0].current).toMatchObject({ from: new Date(windowEnd).toISOString(), n: 0 });
    expect(next.json.nextCursor).toEqual(next.json.data[0].id);
    const older = await call("GET", `/v1/experiments/${ctx.stable}/drift/checks?cursor=${next.json.nextCursor}`);
    expect(older.json.data.map((c: any) => c.id)).toEqual([stable.json.data[0].id]);
    await call("DELETE", `/v1/event-subscriptions/${sub.json.id}`);
  });
});
