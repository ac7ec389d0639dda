import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { CRON_TASKS } from "../../functions/cron";
import { handleQueue } from "../../functions/jobs";
import { FEEDBACK_MAX_ATTEMPTS, feedbackOutbox } from "../../functions/lib/feedback";
import { open, seal } from "../../functions/lib/secret-box";
import { newWebhookSecret, signStandardWebhook, verifyStandardWebhook } from "../../functions/lib/standard-webhooks";
import type { JobMessage } from "../../functions/lib/training";
import { secretContext } from "../../functions/routes/feedback-sources";
import { BASE, call, expectError, expectStatus, fetchWorker } from "./helpers";

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

async function createSource(body: Record<string, unknown> = {}) {
  const res = await call("POST", "/v1/feedback-sources", { body: { name: "support widget", ...body } });
  expectStatus(res, 201);
  return res.json as { id: string; secret: string; name: string };
}

function payload(data: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) {
  return JSON.stringify({
    type: "feedback.created",
    timestamp: "2026-12-01T10:00:00.000Z",
    data: {
      model: "qwen-support-v3",
      input: "How do I reset my password?",
      output: "Click 'Forgot password'.",
      rating: "up",
      ...data,
    },
    ...extra,
  });
}

interface Delivery {
  secret?: string;
  id?: string;
  at?: Date;
  body?: string | Uint8Array;
  headers?: Record<string, string | null>;
}

let seq = 0;
/** Sends a delivery signed by the official standardwebhooks library (unless headers override it). */
async function deliver(sourceId: string, d: Delivery = {}) {
  const id = d.id ?? `msg_${Date.now()}_${seq++}`;
  const at = d.at ?? new Date();
  const body = d.body ?? payload();
  const headers: Record<string, string> = {
    "content-type": "application/json",
    "webhook-id": id,
    "webhook-timestamp": String(Math.floor(at.getTime() / 1000)),
  };
  if (d.secret) headers["webhook-signature"] = new Webhook(d.secret).sign(id, at, body as string);
  for (const [k, v] of Object.entries(d.headers ?? {})) {
    if (v === null) delete headers[k];
    else headers[k] = v;
  }
  const res = await fetchWorker(
    new Request(`${BASE}/v1/webhooks/feedback/${sourceId}`, { method: "POST", headers, body }),
  );
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: res.status, text, json, id };
}

const storedCount = async (sourceId: string) =>
  (await env.DB.prepare("select count(*) as n from feedback_events where source_id = ?")
    .bind(sourceId)
    .first<{ n: number }>())!.n;

async function until<T>(what: string, probe: () => Promise<T | undefined | null | false>, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > end) expect.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("feedback sources", () => {
  it("creates a source whose whsec_ secret is shown once and stored only encrypted", async () => {
    const created = await createSource({ redactPii: false });
    const view = {
      id: expect.stringMatching(/^fs_/),
      name: "support widget",
      experiment: null,
      redactPii: false,
      webhookPath: `/v1/webhooks/feedback/${created.id}`,
      events: 0,
      lastEventAt: null,
      createdAt: expect.stringMatching(ISO),
      rotatedAt: null,
      previousSecretUntil: null,
      revokedAt: null,
    };
    expect(created).toEqual({ ...view, secret: expect.stringMatching(/^whsec_[A-Za-z0-9+/]+=*$/) });
    expect(atob(created.secret.slice("whsec_".length)).length).toBeGreaterThanOrEqual(24);

    const one = await call("GET", `/v1/feedback-sources/${created.id}`);
    expectStatus(one, 200);
    expect(one.json).toEqual(view);
    const list = await call("GET", "/v1/feedback-sources?limit=500");
    expect(list.json.data).toContainEqual(view);
    expect(list.text).not.toContain(created.secret.slice(6));

    const row = await env.DB.prepare("select secret_enc from feedback_sources where id = ?")
      .bind(created.id)
      .first<{ secret_enc: string }>();
    expect(row!.secret_enc).not.toContain(created.secret.slice(6));
    expect(await open(env, row!.secret_enc, secretContext(created.id))).toBe(created.secret);
    // Bound to its row: the same ciphertext does not open as another source's.
    await expect(open(env, row!.secret_enc, secretContext("fs_other"))).rejects.toThrow();
  });

  it("refuses an unknown experiment and reads another project's source as missing", async () => {
    expectError(
      await call("POST", "/v1/feedback-sources", { body: { name: "x", experiment: "exp_nope" } }),
      400,
      "BAD_REQUEST",
    );
    const s = await createSource();
    await env.DB.prepare("update feedback_sources set project_id = 'prj_other' where id = ?").bind(s.id).run();
    expectError(await call("GET", `/v1/feedback-sources/${s.id}`), 404, "NOT_FOUND");
    expectError(await call("POST", `/v1/feedback-sources/${s.id}/rotate`, { body: {} }), 404, "NOT_FOUND");
  });
});

describe("Standard Webhooks verification, against the official library", () => {
  const VECTOR = {
    secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    id: "msg_p5jXN8AQM9LWM0D4loKWxJek",
    timestamp: 1614265330,
    payload: '{"test": 2432232314}',
    signature: "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
  };

  it("reproduces the published test vector, as the library does", async () => {
    const { secret, id, timestamp, payload: body, signature } = VECTOR;
    expect(new Webhook(secret).sign(id, new Date(timestamp * 1000), body)).toBe(signature);
    expect(await signStandardWebhook(secret, id, timestamp, body)).toBe(signature);
    const headers = new Headers({
      "webhook-id": id,
      "webhook-timestamp": String(timestamp),
      "webhook-signature": signature,
    });
    const enc = new TextEncoder();
    expect(
      await verifyStandardWebhook({ secrets: [secret], headers, body: enc.encode(body), now: timestamp * 1000 }),
    ).toEqual({ ok: true, id, timestamp, secretIndex: 0 });
    expect(
      await verifyStandardWebhook({ secrets: [secret], headers, body: enc.encode(`${body} `), now: timestamp * 1000 }),
    ).toEqual({ ok: false, reason: "no signature matches this source's secret" });
  });

  it("accepts a delivery the library signed, answers 202 and stores the event", async () => {
    const s = await createSource();
    const res = await deliver(s.id, { secret: s.secret, id: "msg_accept_1" });
    expectStatus(res, 202);
    expect(res.json).toEqual({ id: expect.stringMatching(/^fb_/), duplicate: false });
    const got = await call("GET", `/v1/feedback/${res.json.id}`);
    expectStatus(got, 200);
    expect(got.json).toEqual({
      id: res.json.id,
      source: s.id,
      deliveryId: "msg_accept_1",
      model: "qwen-support-v3",
      input: "How do I reset my password?",
      output: "Click 'Forgot password'.",
      rating: "up",
      correction: null,
      reference: null,
      comment: null,
      labels: null,
      metadata: null,
      embedding: null,
      redactions: {},
      timestamp: "2026-12-01T10:00:00.000Z",
      receivedAt: expect.stringMatching(ISO),
      processedAt: got.json.processedAt === null ? null : expect.stringMatching(ISO),
    });
  });

  it("refuses every bad signature with 401 and stores nothing", async () => {
    const s = await createSource();
    const other = await createSource();
    const now = Date.now();
    const body = payload();
    const good = (id: string, at = new Date(now)) => new Webhook(s.secret).sign(id, at, body);
    const cases: [string, Delivery, RegExp][] = [
      ["no webhook-id", { secret: s.secret, headers: { "webhook-id": null } }, /missing .*webhook-id/],
      ["no webhook-timestamp", { secret: s.secret, headers: { "webhook-timestamp": null } }, /webhook-timestamp/],
      ["no webhook-signature", {}, /missing .*webhook-signature/],
      ["the wrong secret", { secret: other.secret }, /no signature matches/],
      [
        "a tampered body",
        {
          secret: s.secret,
          headers: { "webhook-signature": good("m_tamper") },
          id: "m_tamper",
          body: body.replace("up", "down"),
        },
        /no signature matches/,
      ],
      [
        "a signature for another webhook-id",
        { id: "m_other", headers: { "webhook-signature": good("m_original") } },
        /no signature matches/,
      ],
      ["a timestamp 301 s old", { secret: s.secret, at: new Date(now - 301_000) }, /more than 300 s old/],
      ["a timestamp 301 s ahead", { secret: s.secret, at: new Date(now + 301_000) }, /more than 300 s in the future/],
      [
        "a timestamp that is not Unix seconds",
        { secret: s.secret, headers: { "webhook-timestamp": "2026-12-01T10:00:00Z" } },
        /Unix seconds/,
      ],
      [
        "only non-v1 entries",
        { id: "m_v2", headers: { "webhook-signature": good("m_v2").replace("v1,", "v2,") } },
        /no v1 signature/,
      ],
      ["garbage in the signature", { headers: { "webhook-signature": "v1,!!!notbase64 v1" } }, /no v1 signature/],
    ];
    const failures: string[] = [];
    for (const [label, d, message] of cases) {
      const res = await deliver(s.id, { body, ...d });
      if (res.status !== 401 || res.json?.error?.code !== "UNAUTHORIZED" || !message.test(res.json.error.message))
        failures.push(`${label}: ${res.status} ${res.text}`);
    }
    expect(failures).toEqual([]);
    expect(await storedCount(s.id)).toBe(0);
  });

  it("accepts a header with several signatures when one is valid, ignoring other versions", async () => {
    const s = await createSource();
    const at = new Date();
    const body = payload();
    const valid = new Webhook(s.secret).sign("m_multi", at, body);
    const sig = `v1,${btoa("x".repeat(32))} v1a,${valid.slice(3)} v2,abc ${valid} v1,also-wrong`;
    const res = await deliver(s.id, { id: "m_multi", at, body, headers: { "webhook-signature": sig } });
    expectStatus(res, 202);
    // The edge of the tolerance: 299 s old and 299 s ahead still verify.
    expectStatus(await deliver(s.id, { secret: s.secret, at: new Date(Date.now() - 299_000) }), 202);
    expectStatus(await deliver(s.id, { secret: s.secret, at: new Date(Date.now() + 299_000) }), 202);
    expect(await storedCount(s.id)).toBe(3);
  });

  it("stores a replayed webhook-id once and answers the first event's id with duplicate: true", async () => {
    const s = await createSource();
    const first = await deliver(s.id, { secret: s.secret, id: "msg_replay" });
    const again = await deliver(s.id, { secret: s.secret, id: "msg_replay", body: payload({ output: "changed" }) });
    expectStatus(first, 202);
    expectStatus(again, 202);
    expect(again.json).toEqual({ id: first.json.id, duplicate: true });
    expect(await storedCount(s.id)).toBe(1);
    // The same webhook-id on another source is another event.
    const other = await createSource();
    expect((await deliver(other.id, { secret: other.secret, id: "msg_replay" })).json.duplicate).toBe(false);
  });

  it("answers 400 with zod issues for a verified body that is not a FeedbackEvent, and 413 over 1 MiB", async () => {
    const s = await createSource();
    const bad = await deliver(s.id, {
      secret: s.secret,
      body: JSON.stringify({ type: "feedback.created", timestamp: "yesterday", data: { model: "", input: 5 } }),
    });
    expectError(bad, 400, "BAD_REQUEST");
    expect(bad.json.error.issues.map((i: any) => i.path.join("."))).toEqual(
      expect.arrayContaining(["timestamp", "data.model", "data.input", "data.output"]),
    );
    expectError(await deliver(s.id, { secret: s.secret, body: "{not json" }), 400, "BAD_REQUEST");
    expectError(
      await deliver(s.id, { secret: s.secret, body: payload({}, { type: "feedback.deleted" }) }),
      400,
      "BAD_REQUEST",
    );
    const huge = payload({ output: "x".repeat(1024 * 1024) });
    expectError(await deliver(s.id, { secret: s.secret, body: huge }), 413, "PAYLOAD_TOO_LARGE");
    expect(await storedCount(s.id)).toBe(0);
  });

  it("refuses deliveries to an unknown source and to a revoked one", async () => {
    const s = await createSource();
    expectError(await deliver("fs_unknown", { secret: s.secret }), 401, "UNAUTHORIZED");
    expectStatus(await deliver(s.id, { secret: s.secret }), 202);
    const revoked = await call("DELETE", `/v1/feedback-sources/${s.id}`);
    expectStatus(revoked, 200);
    expect(revoked.json.revokedAt).toMatch(ISO);
    const res = await deliver(s.id, { secret: s.secret });
    expectError(res, 401, "UNAUTHORIZED");
    expect(res.json.error.message).toBe(`feedback source ${s.id} is revoked`);
    expect(await storedCount(s.id)).toBe(1);
    expectError(await call("POST", `/v1/feedback-sources/${s.id}/rotate`, { body: {} }), 409, "CONFLICT");
  });

  it("decides on the stored source, not this isolate's cached copy of it, when another isolate rotated or revoked it", async () => {
    const s = await createSource();
    expectStatus(await deliver(s.id, { secret: s.secret }), 202); // the source row is now cached here
    // Rotated elsewhere (written straight to D1, as another isolate would): the new secret verifies at once.
    const next = newWebhookSecret();
    await env.DB.prepare("update feedback_sources set secret_enc = ? where id = ?")
      .bind(await seal(env, next, secretContext(s.id)), s.id)
      .run();
    expectStatus(await deliver(s.id, { secret: next }), 202);
    // The old secret was replaced without an overlap: refused although an older cached row would accept it.
    expectError(await deliver(s.id, { secret: s.secret }), 401, "UNAUTHORIZED");
    // Revoked elsewhere: the write itself checks the source, so nothing is stored.
    await env.DB.prepare("update feedback_sources set revoked_at = ? where id = ?").bind(Date.now(), s.id).run();
    const res = await deliver(s.id, { secret: next });
    expectError(res, 401, "UNAUTHORIZED");
    expect(await storedCount(s.id)).toBe(2);
  });

  it("keeps the old secret verifying during a rotation's overlap, and not after it", async () => {
    const s = await createSource();
    const rotated = await call("POST", `/v1/feedback-sources/${s.id}/rotate`, { body: { overlapSeconds: 3600 } });
    expectStatus(rotated, 200);
    expect(rotated.json).toEqual({
      id: s.id,
      secret: expect.stringMatching(/^whsec_/),
      previousSecretUntil: expect.stringMatching(ISO),
    });
    const fresh = rotated.json.secret as string;
    expect(fresh).not.toBe(s.secret);
    expect(Date.parse(rotated.json.previousSecretUntil) - Date.now()).toBeGreaterThan(3500_000);
    expectStatus(await deliver(s.id, { secret: s.secret }), 202);
    expectStatus(await deliver(s.id, { secret: fresh }), 202);
    // The overlap ends (set in the past: the verifier reads the clock, the row says until when).
    await env.DB.prepare("update feedback_sources set previous_secret_until = ? where id = ?")
      .bind(Date.now() - 1, s.id)
      .run();
    expectError(await deliver(s.id, { secret: s.secret }), 401, "UNAUTHORIZED");
    expectStatus(await deliver(s.id, { secret: fresh }), 202);
    // A rotation without a body takes the default overlap of one day; the first secret is gone at once.
    const again = await call("POST", `/v1/feedback-sources/${s.id}/rotate`);
    expectStatus(again, 200);
    expect(Math.round((Date.parse(again.json.previousSecretUntil) - Date.now()) / 3600_000)).toBe(24);
    expectStatus(await deliver(s.id, { secret: fresh }), 202);
    expectStatus(await deliver(s.id, { secret: again.json.secret }), 202);
    expectError(await deliver(s.id, { secret: s.secret }), 401, "UNAUTHORIZED");
    const view = (await call("GET", `/v1/feedback-sources/${s.id}`)).json;
    expect(view.rotatedAt).toMatch(ISO);
    expect(view).not.toHaveProperty("secret");
  });

  it("redacts PII before storing when the source says so, and stores it as sent when it does not", async () => {
    const data = {
      input: [
        { role: "system", content: "You are a support agent." },
        { role: "user", content: "I'm ana@example.pt, card 4111 1111 1111 1111, call +44 20 7946 0958" },
      ],
      output: "Thanks! Your key AKIAIOSFODNN7EXAMPLE was revoked.",
      correction: "Never echo keys; IBAN DE89370400440532013000 noted.",
      comment: "from 10.0.0.7",
      reference: { answer: "mail bob@corp.io", nested: [{ ip: "2001:db8::1" }], n: 4111111111111111 },
      metadata: { user: "ana@example.pt", plan: "pro" },
      labels: ["billing"],
    };
    const on = await createSource();
    const res = await deliver(on.id, { secret: on.secret, body: payload(data) });
    expectStatus(res, 202);
    const got = (await call("GET", `/v1/feedback/${res.json.id}`)).json;
    expect(got).toMatchObject({
      input: [
        { role: "system", content: "You are a support agent." },
        { role: "user", content: "I'm <EMAIL>, card <CARD>, call <PHONE>" },
      ],
      output: "Thanks! Your key <SECRET> was revoked.",
      correction: "Never echo keys; IBAN <IBAN> noted.",
      comment: "from <IP>",
      reference: { answer: "mail <EMAIL>", nested: [{ ip: "<IP>" }], n: 4111111111111111 },
      metadata: { user: "<EMAIL>", plan: "pro" },
      labels: ["billing"],
      redactions: { email: 3, card: 1, phone: 1, secret: 1, iban: 1, ip: 2 },
    });
    const raw = await env.DB.prepare("select input, input_text from feedback_events where id = ?")
      .bind(res.json.id)
      .first<any>();
    expect(`${raw.input}${raw.input_text}`).not.toContain("ana@example.pt");
    expect(raw.input_text).toBe("system: You are a support agent.\nuser: I'm <EMAIL>, card <CARD>, call <PHONE>");

    const off = await createSource({ redactPii: false });
    const kept = await deliver(off.id, { secret: off.secret, body: payload(data) });
    const stored = (await call("GET", `/v1/feedback/${kept.json.id}`)).json;
    expect(stored).toMatchObject({ input: data.input, output: data.output, redactions: {} });
  });
});

describe("1,000 concurrent deliveries with 20% repeated ids", () => {
  it("stores every distinct event exactly once and answers every repeat duplicate: true", async () => {
    const s = await createSource();
    const ids = Array.from({ length: 800 }, (_, i) => `msg_load_${i}`);
    let seed = 7;
    const rnd = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const deliveries = [...ids, ...Array.from({ length: 200 }, () => ids[Math.floor(rnd() * ids.length)]!)];
    for (let i = deliveries.length - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      [deliveries[i], deliveries[j]] = [deliveries[j]!, deliveries[i]!];
    }
    const answers: { id: string; status: number; event: string; duplicate: boolean; text: string }[] = [];
    for (let i = 0; i < deliveries.length; i += 100) {
      const chunk = deliveries.slice(i, i + 100);
      const res = await Promise.all(
        chunk.map((id) => deliver(s.id, { secret: s.secret, id, body: payload({ output: `answer for ${id}` }) })),
      );
      for (const r of res)
        answers.push({ id: r.id, status: r.status, event: r.json?.id, duplicate: r.json?.duplicate, text: r.text });
    }
    expect(answers.length).toBe(1000);
    expect(answers.filter((a) => a.status !== 202).map((a) => a.text)).toEqual([]);
    const byId = new Map<string, typeof answers>();
    for (const a of answers) byId.set(a.id, [...(byId.get(a.id) ?? []), a]);
    expect(byId.size).toBe(800);
    for (const [id, list] of byId) {
      expect({
        id,
        firsts: list.filter((a) => !a.duplicate).length,
        events: new Set(list.map((a) => a.event)).size,
      }).toEqual({
        id,
        firsts: 1,
        events: 1,
      });
    }
    expect(answers.filter((a) => a.duplicate).length).toBe(200);
    const rows = await env.DB.prepare(
      "select count(*) as n, count(distinct delivery_id) as d from feedback_events where source_id = ?",
    )
      .bind(s.id)
      .first<{ n: number; d: number }>();
    expect(rows).toEqual({ n: 800, d: 800 });
  });
});

describe("processing through the queue", () => {
  it("counts the event on its source and marks it processed", async () => {
    const s = await createSource();
    const res = await deliver(s.id, { secret: s.secret });
    const ev = await until("the event processed", async () => {
      const got = (await call("GET", `/v1/feedback/${res.json.id}`)).json;
      return got.processedAt ? got : null;
    });
    expect(ev.processedAt).toMatch(ISO);
    const src = (await call("GET", `/v1/feedback-sources/${s.id}`)).json;
    expect(src).toMatchObject({ events: 1, lastEventAt: ev.receivedAt });
  });

  it("dead-letters an event whose processing keeps failing in the real consumer, and replays it from there", async () => {
    const s = await createSource();
    // Fault injection (ASSAY_FAULT_INJECTION in vitest.config.ts): fail the first 5 processing attempts.
    const res = await deliver(s.id, {
      secret: s.secret,
      body: payload({ metadata: { assayFault: { failAttempts: FEEDBACK_MAX_ATTEMPTS } } }),
    });
    expectStatus(res, 202);
    const letter = await until("a dead letter", async () => {
      const list = (await call("GET", "/v1/feedback/dead-letters")).json;
      return list.data.find((d: any) => d.eventId === res.json.id);
    });
    expect(letter).toEqual({
      id: expect.stringMatching(/^dlq_/),
      eventId: res.json.id,
      source: s.id,
      error: `injected failure: attempt ${FEEDBACK_MAX_ATTEMPTS} of the ${FEEDBACK_MAX_ATTEMPTS} set to fail`,
      attempts: FEEDBACK_MAX_ATTEMPTS,
      createdAt: expect.stringMatching(ISO),
      retriedAt: null,
      resolvedAt: null,
    });
    const ev = (await call("GET", `/v1/feedback/${res.json.id}`)).json;
    expect(ev.processedAt).toBeNull();
    expect((await call("GET", `/v1/feedback-sources/${s.id}`)).json.events).toBe(0);
    // The outbox leaves a dead-lettered event to the API.
    expect(await feedbackOutbox(env, Date.now() + 3600_000)).toBe(0);

    const retried = await call("POST", `/v1/feedback/dead-letters/${letter.id}/retry`);
    expectStatus(retried, 202);
    expect(retried.json).toEqual({ ...letter, retriedAt: expect.stringMatching(ISO) });
    const done = await until("the replayed event processed", async () => {
      const got = (await call("GET", `/v1/feedback/${res.json.id}`)).json;
      return got.processedAt ? got : null;
    });
    expect(done.processedAt).toMatch(ISO);
    expect((await call("GET", `/v1/feedback-sources/${s.id}`)).json.events).toBe(1);
    const open = (await call("GET", "/v1/feedback/dead-letters")).json.data;
    expect(open.find((d: any) => d.id === letter.id)).toBeUndefined();
    const resolved = (await call("GET", "/v1/feedback/dead-letters?status=resolved&limit=1000")).json.data;
    expect(resolved.find((d: any) => d.id === letter.id)).toMatchObject({ resolvedAt: expect.stringMatching(ISO) });
    expectError(await call("POST", `/v1/feedback/dead-letters/${letter.id}/retry`), 409, "CONFLICT");
    expectError(await call("POST", "/v1/feedback/dead-letters/dlq_nope/retry"), 404, "NOT_FOUND");
  });

  it("processes a queue batch as a group: a redelivered event counts once, a failing one is retried, an unknown one is acked", async () => {
    const s = await createSource();
    const now = Date.now();
    const insert = (id: string, metadata: string | null) =>
      env.DB.prepare(
        "insert into feedback_events (id, project_id, source_id, delivery_id, model, input, input_text, output, metadata, redactions, occurred_at, received_at) values (?, 'prj_default', ?, ?, 'm', '\"q\"', 'q', 'a', ?, '{}', ?, ?)",
      )
        .bind(id, s.id, `d_${id}`, metadata, now, now)
        .run();
    await insert(`fb_ok_${now}`, null);
    await insert(`fb_fail_${now}`, JSON.stringify({ assayFault: { failAttempts: 1 } }));
    const msg = (id: string, eventId: string, attempts: number) => ({
      id,
      timestamp: new Date(),
      attempts,
      body: { type: "feedback", eventId } satisfies JobMessage,
    });
    const batch = createMessageBatch<JobMessage>("assay-jobs", [
      msg("a", `fb_ok_${now}`, 1),
      msg("b", `fb_ok_${now}`, 2),
      msg("c", `fb_fail_${now}`, 1),
      msg("d", "fb_gone", 1),
    ]);
    const ctx = createExecutionContext();
    await handleQueue(batch, env);
    const result = await getQueueResult(batch, ctx);
    expect(result.explicitAcks.sort()).toEqual(["a", "b", "d"]);
    // FEEDBACK_RETRY_BASE_S is 0 in tests, so the retry carries no delay.
    expect(result.retryMessages).toEqual([{ msgId: "c" }]);
    expect((await call("GET", `/v1/feedback-sources/${s.id}`)).json).toMatchObject({
      events: 1,
      lastEventAt: new Date(now).toISOString(),
    });
    const rows = await env.DB.prepare(
      "select id, attempts, processed_at is not null as done from feedback_events where source_id = ? order by id",
    )
      .bind(s.id)
      .all();
    expect(rows.results).toEqual([
      { id: `fb_fail_${now}`, attempts: 1, done: 0 },
      { id: `fb_ok_${now}`, attempts: 1, done: 1 },
    ]);
  });

  it("picks up, through the outbox cron, an event written but never enqueued", async () => {
    expect(CRON_TASKS.map((t) => t.name)).toContain("feedback-outbox");
    const s = await createSource();
    const now = Date.now();
    // What a crash between the write and the enqueue leaves: a stored, unprocessed event and no message.
    const id = `fb_crash_${now}`;
    await env.DB.prepare(
      "insert into feedback_events (id, project_id, source_id, delivery_id, model, input, input_text, output, redactions, occurred_at, received_at) values (?, 'prj_default', ?, 'msg_crash', 'm', '\"q\"', 'q', 'a', '{}', ?, ?)",
    )
      .bind(id, s.id, now - 120_000, now - 120_000)
      .run();
    const task = CRON_TASKS.find((t) => t.name === "feedback-outbox")!;
    await task.run(env, now);
    const row = await env.DB.prepare("select enqueued_at from feedback_events where id = ?").bind(id).first<any>();
    expect(row.enqueued_at).toBe(now);
    await until("the outboxed event processed", async () => {
      const got = await env.DB.prepare("select processed_at from feedback_events where id = ?").bind(id).first<any>();
      return got.processed_at !== null;
    });
    expect((await call("GET", `/v1/feedback-sources/${s.id}`)).json.events).toBe(1);
  });
});

describe("batch backfill", () => {
  const jsonl = (lines: unknown[]) => lines.map((l) => (typeof l === "string" ? l : JSON.stringify(l))).join("\n");
  const ndjson = { "content-type": "application/x-ndjson" };
  const ev = (extra: Record<string, unknown> = {}) => ({ model: "m", input: "q", output: "a", ...extra });

  it("keeps good lines, reports bad lines by number and counts duplicates", async () => {
    const s = await createSource();
    const body = jsonl([
      ev({ id: "line-a", output: "mail me at x@y.io" }),
      ev({ rating: 0.5 }),
      "{broken",
      { model: "m", input: "q" },
      "",
      ev({ id: "line-a" }),
      ev({ id: "line-b", timestamp: "2026-11-30T08:00:00Z", rating: "down", correction: "better" }),
      ev({ rating: 2 }),
      ev({ output: "x".repeat(1024 * 1024) }),
    ]);
    const res = await call("POST", `/v1/feedback/batch?source=${s.id}`, { raw: body, headers: ndjson });
    expectStatus(res, 200);
    expect(res.json).toEqual({
      accepted: 3,
      duplicates: 1,
      rejected: [
        { line: 3, message: expect.stringContaining("not JSON") },
        { line: 4, message: expect.stringMatching(/^output: /) },
        { line: 8, message: expect.stringMatching(/^rating: /) },
        { line: 9, message: "the line is longer than 1048576 bytes" },
      ],
      rejectedTotal: 4,
    });
    const again = await call("POST", `/v1/feedback/batch?source=${s.id}`, { raw: body, headers: ndjson });
    expect(again.json).toMatchObject({ accepted: 1, duplicates: 3 });
    const list = (await call("GET", `/v1/feedback?source=${s.id}`)).json.data;
    expect(list.length).toBe(4);
    const b = list.find((e: any) => e.deliveryId === "line-b");
    expect(b).toMatchObject({ rating: "down", correction: "better", timestamp: "2026-11-30T08:00:00.000Z" });
    expect(list.find((e: any) => e.deliveryId === "line-a")).toMatchObject({
      output: "mail me at <EMAIL>",
      redactions: { email: 1 },
    });
    // A line's id and a webhook-id share the source's idempotency keys.
    expect((await deliver(s.id, { secret: s.secret, id: "line-b" })).json).toEqual({ id: b.id, duplicate: true });
  });

  it("stores thousands of lines in chunks of many rows per statement", async () => {
    const s = await createSource();
    const lines = Array.from({ length: 2500 }, (_, i) =>
      ev({
        id: `bulk-${i}`,
        input: [{ role: "user", content: `question ${i} from u${i}@example.com` }],
        output: `answer ${i}`,
      }),
    );
    const res = await call("POST", `/v1/feedback/batch?source=${s.id}`, { raw: jsonl(lines), headers: ndjson });
    expectStatus(res, 200);
    expect(res.json).toEqual({ accepted: 2500, duplicates: 0, rejected: [], rejectedTotal: 0 });
    const stats = await env.DB.prepare(
      "select count(*) as n, sum(json_extract(redactions, '$.email')) as emails, min(input_text) as first from feedback_events where source_id = ?",
    )
      .bind(s.id)
      .first<any>();
    expect(stats).toEqual({ n: 2500, emails: 2500, first: "user: question 0 from <EMAIL>" });
  });

  it("refuses an unknown source, a revoked one and a body that is not JSONL", async () => {
    expectError(
      await call("POST", "/v1/feedback/batch?source=fs_nope", { raw: "{}", headers: ndjson }),
      404,
      "NOT_FOUND",
    );
    const s = await createSource();
    await call("DELETE", `/v1/feedback-sources/${s.id}`);
    expectError(
      await call("POST", `/v1/feedback/batch?source=${s.id}`, { raw: "{}", headers: ndjson }),
      409,
      "CONFLICT",
    );
    expectError(await call("POST", "/v1/feedback/batch", { body: ev() }), 415, "UNSUPPORTED_MEDIA_TYPE");
  });
});

describe("reading feedback", () => {
  it("pages by cursor, filters by source and since, and caps limit at 1,000", async () => {
    const s = await createSource();
    const sent: string[] = [];
    for (let i = 0; i < 5; i++) sent.push((await deliver(s.id, { secret: s.secret })).json.id);
    const first = (await call("GET", `/v1/feedback?source=${s.id}&limit=2`)).json;
    expect(first.data.map((e: any) => e.id)).toEqual(sent.slice(0, 2));
    expect(first.nextCursor).toBe(sent[1]);
    const rest = (await call("GET", `/v1/feedback?source=${s.id}&limit=10&cursor=${first.nextCursor}`)).json;
    expect(rest).toEqual({ data: expect.any(Array), nextCursor: null });
    expect(rest.data.map((e: any) => e.id)).toEqual(sent.slice(2));
    const future = new Date(Date.now() + 60_000).toISOString();
    expect((await call("GET", `/v1/feedback?source=${s.id}&since=${future}`)).json.data).toEqual([]);
    expectError(await call("GET", "/v1/feedback?limit=1001"), 400, "BAD_REQUEST");
    expectError(await call("GET", "/v1/feedback/fb_nope"), 404, "NOT_FOUND");
    expectError(await call("GET", `/v1/feedback/${sent[0]}`, { key: null }), 401, "UNAUTHORIZED");
    // Another project's event reads as missing, and is not listed.
    await env.DB.prepare("update feedback_events set project_id = 'prj_other' where id = ?").bind(sent[0]).run();
    expectError(await call("GET", `/v1/feedback/${sent[0]}`), 404, "NOT_FOUND");
    const mine = (await call("GET", `/v1/feedback?source=${s.id}`)).json.data.map((e: any) => e.id);
    expect(mine).toEqual(sent.slice(1));
  });
});
