import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { eq } from "drizzle-orm";
import { Webhook } from "standardwebhooks";
import { describe, expect, inject, it } from "vitest";
import { createDb } from "../../db/client";
import { eventDeliveries } from "../../db/schema";
import worker from "../../functions/index";
import { handleQueue } from "../../functions/jobs";
import { deliver, emitEvent, enqueueDueDeliveries, RETRY_DELAYS_MS } from "../../functions/lib/events";
import type { JobMessage } from "../../functions/lib/training";
import { ADMIN_KEY, BASE, call, expectError, expectStatus } from "./helpers";

const RECEIVER = inject("webhookReceiverUrl");
const db = createDb(env.DB);
let pathCounter = 0;
const newPath = (label: string) => `/hooks/${label}-${Date.now()}-${pathCounter++}`;

interface Received {
  path: string;
  method: string;
  headers: Record<string, string>;
  body: string;
  status: number;
}

async function received(path: string): Promise<Received[]> {
  const res = await fetch(`${RECEIVER}/__ctl/requests?path=${encodeURIComponent(path)}`);
  return (await res.json()) as Received[];
}

async function script(path: string, failures: number, status: number) {
  const res = await fetch(`${RECEIVER}/__ctl/script`, {
    method: "POST",
    body: JSON.stringify({ path, failures, status }),
  });
  expect(res.status).toBe(200);
}

async function until<T>(what: string, probe: () => Promise<T | undefined | null | false>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > end) expect.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function subscribe(path: string, events: string[]) {
  const res = await call("POST", "/v1/event-subscriptions", { body: { url: `${RECEIVER}${path}`, events } });
  expectStatus(res, 201);
  return res.json as { id: string; secret: string; url: string };
}

async function deliveriesOf(subId: string) {
  const res = await call("GET", `/v1/event-subscriptions/${subId}/deliveries`);
  expectStatus(res, 200);
  return res.json.data as any[];
}

/** Emits an event and returns the id of its delivery to `subId` (other tests' subscriptions may get one too). */
async function emitTo(
  subId: string,
  type: Parameters<typeof emitEvent>[3],
  data: Record<string, unknown>,
  now?: number,
) {
  const ids = await emitEvent(db, env, "prj_default", type, data, now);
  const rows = await Promise.all(ids.map((id) => deliveryRow(id)));
  const mine = rows.find((r) => r.subscriptionId === subId);
  if (!mine) expect.fail(`no delivery to ${subId} among ${ids.join(", ")}`);
  return mine.id;
}

const deliveryRow = async (id: string) =>
  (await db.select().from(eventDeliveries).where(eq(eventDeliveries.id, id)).limit(1))[0]!;

/** Calls the Worker with a different environment (the allow-list switched off, as in production). */
async function callWithEnv(overrides: Partial<Env>, method: string, path: string, body: unknown) {
  const ctx = createExecutionContext();
  const res = await worker.fetch(
    new Request(`${BASE}${path}`, {
      method,
      headers: { authorization: `Bearer ${ADMIN_KEY}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    }),
    { ...env, ...overrides },
    ctx,
  );
  const text = await res.text();
  return { status: res.status, text, json: JSON.parse(text) };
}

describe("event subscriptions", () => {
  it("creates a subscription with a whsec secret shown once, then lists, gets and deletes it", async () => {
    const path = newPath("crud");
    const created = await call("POST", "/v1/event-subscriptions", {
      body: { url: `${RECEIVER}${path}`, events: ["drift.detected", "run.finished"], description: "ops" },
    });
    expectStatus(created, 201);
    const view = {
      id: expect.stringMatching(/^sub_/),
      url: `${RECEIVER}${path}`,
      events: ["drift.detected", "run.finished"],
      description: "ops",
      enabled: true,
      failingSince: null,
      disabledAt: null,
      disabledReason: null,
      createdAt: expect.any(String),
    };
    expect(created.json).toEqual({ ...view, secret: expect.stringMatching(/^whsec_[A-Za-z0-9+/]{43}=$/) });
    const got = await call("GET", `/v1/event-subscriptions/${created.json.id}`);
    expectStatus(got, 200);
    expect(got.json).toEqual(view);
    const listed = await call("GET", "/v1/event-subscriptions?limit=500");
    expectStatus(listed, 200);
    expect(listed.json.data).toContainEqual(got.json);
    expect(JSON.stringify(listed.json)).not.toContain(created.json.secret);
    const deleted = await call("DELETE", `/v1/event-subscriptions/${created.json.id}`);
    expectStatus(deleted, 200);
    expect(deleted.json).toEqual({ id: created.json.id, deleted: true });
    expectError(await call("GET", `/v1/event-subscriptions/${created.json.id}`), 404, "NOT_FOUND");
    expectError(await call("GET", `/v1/event-subscriptions/${created.json.id}/deliveries`), 404, "NOT_FOUND");
  });

  it("rejects unknown event types, bad URLs and missing keys", async () => {
    expectError(
      await call("POST", "/v1/event-subscriptions", {
        body: { url: "https://example.com/h", events: ["run.exploded"] },
      }),
      400,
      "BAD_REQUEST",
    );
    expectError(
      await call("POST", "/v1/event-subscriptions", { body: { url: "not a url", events: ["run.finished"] } }),
      400,
      "BAD_REQUEST",
    );
    expectError(
      await call("POST", "/v1/event-subscriptions", { body: { url: "ftp://example.com/", events: ["run.finished"] } }),
      400,
      "BAD_REQUEST",
    );
    expectError(await call("GET", "/v1/event-subscriptions", { key: null }), 401, "UNAUTHORIZED");
  });

  it("refuses loopback, private and link-local URLs when private webhooks are not allowed (production)", async () => {
    for (const url of [
      `${RECEIVER}/x`,
      "https://127.0.0.1/x",
      "https://2130706433/x",
      "https://[::1]/x",
      "https://[::ffff:127.0.0.1]/x",
      "https://10.0.0.7/x",
      "https://192.168.1.1/x",
      "https://169.254.169.254/latest/meta-data",
      "https://localhost/x",
      "https://db.internal/x",
      "http://example.com/x",
    ]) {
      const res = await callWithEnv({ ASSAY_ALLOW_PRIVATE_WEBHOOKS: "" }, "POST", "/v1/event-subscriptions", {
        url,
        events: ["run.finished"],
      });
      expectError(res, 400, "BAD_REQUEST");
      expect(res.json.error.issues, url).toEqual([{ path: ["url"], message: expect.any(String), code: "url_refused" }]);
    }
    const ok = await callWithEnv({ ASSAY_ALLOW_PRIVATE_WEBHOOKS: "" }, "POST", "/v1/event-subscriptions", {
      url: "https://hooks.example.com/assay",
      events: ["run.finished"],
    });
    expectStatus(ok, 201);
    expectStatus(await call("DELETE", `/v1/event-subscriptions/${ok.json.id}`), 200);
  });

  it("does not deliver to a private address at send time when the allow-list is off, and records why", async () => {
    const path = newPath("refused");
    const sub = await subscribe(path, ["champion.promoted"]);
    const id = await emitTo(sub.id, "champion.promoted", { experimentId: "exp_x" });
    // The queue's own message may run first with the allow-list on: deliver directly before it does.
    const outcome = await deliver(db, { ...env, ASSAY_ALLOW_PRIVATE_WEBHOOKS: "" }, id);
    if (outcome.outcome !== "skipped") {
      expect(outcome).toEqual({
        outcome: "failed",
        attempt: 1,
        error: "refused to deliver: webhook URLs must use https",
        nextRetryAt: null,
      });
      expect(await received(path)).toEqual([]);
      const [d] = await deliveriesOf(sub.id);
      expect(d.status).toBe("failed");
      expect(d.attempts).toEqual([
        {
          attempt: 1,
          at: expect.any(String),
          outcome: "failed",
          responseCode: null,
          error: "refused to deliver: webhook URLs must use https",
          durationMs: expect.any(Number),
          nextRetryAt: null,
        },
      ]);
    } else {
      expect.fail(`the queue delivered first (${outcome.reason}); rerun`);
    }
    await call("DELETE", `/v1/event-subscriptions/${sub.id}`);
  });
});

describe("event delivery", () => {
  it("sends run.finished from the queue when a run ends, signed so that the official Standard Webhooks library verifies it", async () => {
    const path = newPath("run-finished");
    const sub = await subscribe(path, ["run.finished"]);
    const exp = await call("POST", "/v1/experiments", { body: { name: "events" } });
    const run = await call("POST", `/v1/experiments/${exp.json.id}/runs`, { body: { kind: "eval" } });
    expectStatus(run, 201);
    const ended = await call("PATCH", `/v1/runs/${run.json.id}`, {
      body: { status: "succeeded", summary: { acc: 0.9 } },
    });
    expectStatus(ended, 200);
    const [req] = await until("the delivery", async () => {
      const got = await received(path);
      return got.length ? got : null;
    });
    expect(req!.method).toBe("POST");
    expect(req!.headers["content-type"]).toBe("application/json");
    const payload = new Webhook(sub.secret).verify(req!.body, req!.headers);
    expect(payload).toEqual({
      type: "run.finished",
      timestamp: expect.any(String),
      data: {
        run: {
          id: run.json.id,
          experimentId: exp.json.id,
          kind: "eval",
          status: "succeeded",
          error: null,
          summary: { acc: 0.9 },
          finishedAt: expect.any(String),
        },
      },
    });
    expect(() =>
      new Webhook(`whsec_${btoa("another secret of 32 bytes......")}`).verify(req!.body, req!.headers),
    ).toThrow();
    const list = await until("the recorded attempt", async () => {
      const d = await deliveriesOf(sub.id);
      return d[0]?.status === "succeeded" ? d : null;
    });
    expect(list).toEqual([
      {
        id: req!.headers["webhook-id"],
        type: "run.finished",
        status: "succeeded",
        attempts: [
          {
            attempt: 1,
            at: expect.any(String),
            outcome: "succeeded",
            responseCode: 204,
            error: null,
            durationMs: expect.any(Number),
            nextRetryAt: null,
          },
        ],
        nextAttemptAt: null,
        lastError: null,
        payload,
        createdAt: expect.any(String),
        deliveredAt: expect.any(String),
      },
    ]);
    await call("DELETE", `/v1/event-subscriptions/${sub.id}`);
  });

  it("retries a receiver that fails and delivers the same event once it recovers, listing every attempt", async () => {
    const path = newPath("recovers");
    await script(path, 2, 503);
    const sub = await subscribe(path, ["evaluation.regressed"]);
    const id = await emitTo(sub.id, "evaluation.regressed", { experimentId: "exp_y", drop: 0.05 });
    await until(
      "the first attempt",
      async () => (await deliveryRow(id)).attempts >= 1 && (await deliveryRow(id)).leaseUntil === null,
    );
    // Later attempts: run each as soon as it is due, by the schedule's clock (the queue's delayed message
    // may also get there; the claim lets one of them through).
    for (let i = 0; i < 5; i++) {
      const row = await deliveryRow(id);
      if (row.status !== "pending") break;
      await deliver(db, env, id, row.nextAttemptAt!);
    }
    const got = await received(path);
    expect(got.map((r) => r.status)).toEqual([503, 503, 204]);
    expect(new Set(got.map((r) => r.headers["webhook-id"]))).toEqual(new Set([id]));
    expect(new Webhook(sub.secret).verify(got[2]!.body, got[2]!.headers)).toEqual({
      type: "evaluation.regressed",
      timestamp: expect.any(String),
      data: { experimentId: "exp_y", drop: 0.05 },
    });
    const [d] = await deliveriesOf(sub.id);
    expect(d.status).toBe("succeeded");
    expect(d.attempts.map((a: any) => [a.attempt, a.outcome, a.responseCode, a.error])).toEqual([
      [1, "failed", 503, "HTTP 503"],
      [2, "failed", 503, "HTTP 503"],
      [3, "succeeded", 204, null],
    ]);
    const at = d.attempts.map((a: any) => Date.parse(a.at));
    expect(Date.parse(d.attempts[0].nextRetryAt) - at[0]).toBe(RETRY_DELAYS_MS[0]);
    expect(Date.parse(d.attempts[1].nextRetryAt) - at[1]).toBe(RETRY_DELAYS_MS[1]);
    expect(d.attempts[2].nextRetryAt).toBeNull();
    const subNow = await call("GET", `/v1/event-subscriptions/${sub.id}`);
    expect(subNow.json.failingSince).toBeNull();
    await call("DELETE", `/v1/event-subscriptions/${sub.id}`);
  });

  it("keeps retrying with exponential backoff for more than 24 hours, then gives up", async () => {
    const path = newPath("down");
    await script(path, 100, 500);
    const sub = await subscribe(path, ["champion.promoted"]);
    const t0 = Date.now();
    const id = await emitTo(sub.id, "champion.promoted", { experimentId: "exp_z" }, t0);
    await until(
      "the first attempt",
      async () => (await deliveryRow(id)).attempts >= 1 && (await deliveryRow(id)).leaseUntil === null,
    );
    for (let i = 0; i < 20; i++) {
      const row = await deliveryRow(id);
      if (row.status !== "pending") break;
      await deliver(db, env, id, row.nextAttemptAt!);
    }
    const [d] = await deliveriesOf(sub.id);
    expect(d.status).toBe("failed");
    expect(d.attempts).toHaveLength(RETRY_DELAYS_MS.length + 1);
    const first = Date.parse(d.attempts[0].at);
    const last = Date.parse(d.attempts.at(-1).at);
    expect(last - first).toBe(RETRY_DELAYS_MS.reduce((a, b) => a + b, 0));
    expect(last - first).toBeGreaterThan(24 * 3_600_000);
    const gaps = d.attempts.slice(1).map((a: any, i: number) => Date.parse(a.at) - Date.parse(d.attempts[i].at));
    expect(gaps).toEqual(RETRY_DELAYS_MS);
    expect(d.attempts.at(-1).nextRetryAt).toBeNull();
    expect((await received(path)).length).toBe(RETRY_DELAYS_MS.length + 1);
    await call("DELETE", `/v1/event-subscriptions/${sub.id}`);
  });

  it("disables a subscription that has failed for 3 days and announces it to the other subscriptions", async () => {
    const deadPath = newPath("dead");
    const opsPath = newPath("ops");
    await script(deadPath, 100, 500);
    const dead = await subscribe(deadPath, ["challenger.rejected"]);
    const ops = await subscribe(opsPath, ["subscription.disabled"]);
    const t0 = Date.now();
    const first = await emitTo(dead.id, "challenger.rejected", { n: 1 }, t0);
    await until(
      "the first attempt",
      async () => (await deliveryRow(first)).attempts >= 1 && (await deliveryRow(first)).leaseUntil === null,
    );
    const later = t0 + 3 * 86_400_000 + 60_000;
    const second = await emitTo(dead.id, "challenger.rejected", { n: 2 }, later);
    const outcome = await deliver(db, env, second, later);
    expect(outcome).toEqual({ outcome: "failed", attempt: 1, error: "HTTP 500", nextRetryAt: null });
    const got = await call("GET", `/v1/event-subscriptions/${dead.id}`);
    expect(got.json).toMatchObject({ enabled: false, disabledAt: new Date(later).toISOString() });
    expect(got.json.disabledReason).toContain("over 3 days");
    expect((await deliveryRow(first)).status).toBe("failed");
    const [notice] = await until("the subscription.disabled event", async () => {
      const r = await received(opsPath);
      return r.length ? r : null;
    });
    expect(new Webhook(ops.secret).verify(notice!.body, notice!.headers)).toEqual({
      type: "subscription.disabled",
      timestamp: expect.any(String),
      data: {
        subscription: {
          id: dead.id,
          url: dead.url,
          disabledAt: new Date(later).toISOString(),
          reason: got.json.disabledReason,
        },
      },
    });
    // A disabled subscription gets no new deliveries.
    const after = await emitEvent(db, env, "prj_default", "challenger.rejected", { n: 3 });
    const targets = await Promise.all(after.map(async (id) => (await deliveryRow(id)).subscriptionId));
    expect(targets).not.toContain(dead.id);
    await call("DELETE", `/v1/event-subscriptions/${ops.id}`);
    await call("DELETE", `/v1/event-subscriptions/${dead.id}`);
  });

  it("does not follow a redirect: the attempt fails and the redirect target is never called", async () => {
    const path = newPath("redirect");
    await script(path, 1, 302);
    const sub = await subscribe(path, ["drift.detected"]);
    const id = await emitTo(sub.id, "drift.detected", { experimentId: "exp_r" });
    await until(
      "the first attempt",
      async () => (await deliveryRow(id)).attempts >= 1 && (await deliveryRow(id)).leaseUntil === null,
    );
    const [d] = await deliveriesOf(sub.id);
    expect(d.attempts[0]).toMatchObject({
      outcome: "failed",
      responseCode: 302,
      error: "HTTP 302: redirects are not followed",
    });
    expect(await received(`${path}/redirected`)).toEqual([]);
    await call("DELETE", `/v1/event-subscriptions/${sub.id}`);
  });

  it("ends an attempt at a receiver that never answers after 15 s and schedules a retry", async () => {
    const path = newPath("hang");
    await script(path, 1, 0);
    const sub = await subscribe(path, ["drift.detected"]);
    const id = await emitTo(sub.id, "drift.detected", { experimentId: "exp_h" });
    await until(
      "the timed-out attempt",
      async () => (await deliveryRow(id)).attempts >= 1 && (await deliveryRow(id)).leaseUntil === null,
      40_000,
    );
    const [d] = await deliveriesOf(sub.id);
    expect(d.attempts[0]).toMatchObject({
      attempt: 1,
      outcome: "failed",
      responseCode: null,
      error: "no response within 15 s",
    });
    expect(d.attempts[0].durationMs).toBeGreaterThanOrEqual(15_000);
    expect(Date.parse(d.attempts[0].nextRetryAt) - Date.parse(d.attempts[0].at)).toBe(RETRY_DELAYS_MS[0]);
    await call("DELETE", `/v1/event-subscriptions/${sub.id}`);
  });

  it("sends a delivery once when its queue message arrives twice", async () => {
    const path = newPath("dup");
    const sub = await subscribe(path, ["drift.detected"]);
    const id = await emitTo(sub.id, "drift.detected", { experimentId: "exp_d" });
    const batch = createMessageBatch<JobMessage>("assay-jobs", [
      { id: "m1", timestamp: new Date(), attempts: 1, body: { type: "deliver", deliveryId: id } },
      { id: "m2", timestamp: new Date(), attempts: 1, body: { type: "deliver", deliveryId: id } },
    ]);
    const ctx = createExecutionContext();
    await handleQueue(batch, env);
    expect((await getQueueResult(batch, ctx)).explicitAcks.sort()).toEqual(["m1", "m2"]);
    await until("the delivery", async () => (await deliveryRow(id)).status === "succeeded");
    // Give the queue's own message time to arrive too; it must find nothing to do.
    await new Promise((r) => setTimeout(r, 1500));
    expect((await received(path)).length).toBe(1);
    expect((await deliveriesOf(sub.id))[0].attempts).toHaveLength(1);
    await call("DELETE", `/v1/event-subscriptions/${sub.id}`);
  });

  it("the cron re-queues a due delivery that has no message on the way", async () => {
    const path = newPath("outbox");
    const sub = await subscribe(path, ["drift.detected"]);
    const id = await emitTo(sub.id, "drift.detected", { experimentId: "exp_o" });
    await until("the delivery", async () => (await deliveryRow(id)).status === "succeeded");
    // Simulate a lost message: pending and overdue, with nothing queued.
    await db
      .update(eventDeliveries)
      .set({ status: "pending", nextAttemptAt: Date.now() - 120_000 })
      .where(eq(eventDeliveries.id, id));
    expect(await enqueueDueDeliveries(db, env)).toContain(id);
    await until("the redelivery", async () => (await received(path)).length === 2);
    await call("DELETE", `/v1/event-subscriptions/${sub.id}`);
  });
});
