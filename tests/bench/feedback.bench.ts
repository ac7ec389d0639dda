/**
 * Feedback webhooks: signed deliveries per second accepted by POST /v1/webhooks/feedback/{source} through
 * `wrangler dev` (Standard Webhooks verification, PII redaction, one D1 write, a queue message), next to
 * the same server answering POST /ping with the same body (read, discarded, 202, nothing stored), both at
 * the same concurrency, in alternating rounds. The ratio is what verification + redaction + storage cost.
 * Target: at least 0.5x. For scale, a third line: POST /v1/experiments on the same server (bearer key
 * lookup + one D1 insert, no signature, no redaction), i.e. what one local D1 write costs by itself.
 * Run: npm run bench -- feedback   (BENCH_PORT=8803 to pin the port; BENCH_N, BENCH_CONCURRENCY, BENCH_ROUNDS)
 */
import { Webhook } from "standardwebhooks";
import { percentile } from "../../rewards/core/stats";
import { api, fmt, startDev } from "./lib/wrangler-dev";

const N = Number(process.env.BENCH_N ?? 1500);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const PORT = process.env.BENCH_PORT ? Number(process.env.BENCH_PORT) : undefined;

/** A realistic event (~700 bytes) with some PII in it, so redaction has work to do. */
function body(i: number) {
  return JSON.stringify({
    type: "feedback.created",
    timestamp: new Date().toISOString(),
    data: {
      model: "qwen-support-v3",
      input: [
        { role: "system", content: "You are the support assistant of an online shop. Answer briefly and politely." },
        {
          role: "user",
          content: `Order ${100000 + i} never arrived. I'm customer${i}@example.com, call me on +44 20 7946 ${String(1000 + (i % 9000)).padStart(4, "0")} please.`,
        },
      ],
      output:
        "I'm sorry to hear that. I have opened a ticket with the carrier and you will receive an update within 24 hours. " +
        "If the parcel does not arrive by Friday we will refund the order in full.",
      rating: i % 3 === 0 ? "down" : "up",
      comment: i % 3 === 0 ? "too generic, should have given the tracking link" : undefined,
      labels: ["shipping"],
      metadata: { session: `s_${i}`, locale: "en-GB" },
    },
  });
}

interface Req {
  url: string;
  headers: Record<string, string>;
  body: string;
}

async function drive(reqs: Req[], concurrency: number) {
  const lat: number[] = [];
  const statuses = new Map<number, number>();
  let next = 0;
  let duplicates = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (;;) {
        const i = next++;
        if (i >= reqs.length) return;
        const r = reqs[i]!;
        const t = performance.now();
        const res = await fetch(r.url, { method: "POST", headers: r.headers, body: r.body });
        const text = await res.text();
        lat.push(performance.now() - t);
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        if (res.status !== 202 && res.status !== 201)
          throw new Error(`${r.url}: HTTP ${res.status} ${text.slice(0, 300)}`);
        if (text.includes('"duplicate":true')) duplicates++;
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  return { rate: reqs.length / secs, p50: percentile(lat, 50), p99: percentile(lat, 99), duplicates };
}

async function main() {
  const server = await startDev({ port: PORT });
  try {
    const source = await api(server, "POST", "/v1/feedback-sources", { name: "bench" });
    const wh = new Webhook(source.secret);
    let seq = 0;
    const signed = (n: number): Req[] =>
      Array.from({ length: n }, () => {
        const i = seq++;
        const id = `msg_bench_${i}`;
        const b = body(i);
        return {
          url: `${server.url}/v1/webhooks/feedback/${source.id}`,
          headers: {
            "content-type": "application/json",
            "webhook-id": id,
            "webhook-timestamp": String(Math.floor(Date.now() / 1000)),
            "webhook-signature": wh.sign(id, new Date(), b),
          },
          body: b,
        };
      });
    const unsigned = (n: number): Req[] =>
      Array.from({ length: n }, (_, i) => ({
        url: `${server.url}/ping`,
        headers: { "content-type": "application/json" },
        body: body(i),
      }));

    const writes = (n: number): Req[] =>
      Array.from({ length: n }, (_, i) => ({
        url: `${server.url}/v1/experiments`,
        headers: { "content-type": "application/json", authorization: `Bearer ${server.adminKey}` },
        body: JSON.stringify({ name: `bench ${i}`, description: "one insert" }),
      }));

    await drive(signed(200), CONCURRENCY); // warm-up
    await drive(unsigned(200), CONCURRENCY);
    await drive(writes(200), CONCURRENCY);
    const a: Awaited<ReturnType<typeof drive>>[] = [];
    const b: Awaited<ReturnType<typeof drive>>[] = [];
    const w: Awaited<ReturnType<typeof drive>>[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const s = await drive(signed(N), CONCURRENCY);
      if (s.duplicates) throw new Error(`${s.duplicates} fresh deliveries were answered as duplicates`);
      a.push(s);
      b.push(await drive(unsigned(N), CONCURRENCY));
      w.push(await drive(writes(N), CONCURRENCY));
    }
    const med = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
    const signedRate = med(a.map((x) => x.rate));
    const pingRate = med(b.map((x) => x.rate));
    const stored = await api(server, "GET", `/v1/feedback?source=${source.id}&limit=1`);
    const check = await api(server, "GET", `/v1/feedback/${stored.data[0].id}`);
    console.log(
      `feedback webhooks, ${N} requests x ${ROUNDS} rounds each side, concurrency ${CONCURRENCY}, wrangler dev (median round):`,
    );
    console.log(
      `  signed deliveries (verify + redact + store + enqueue): ${fmt(signedRate)}/s  p50 ${fmt(med(a.map((x) => x.p50)), 1)} ms  p99 ${fmt(med(a.map((x) => x.p99)), 1)} ms`,
    );
    console.log(
      `  unsigned POST /ping (read body, 202, nothing stored):   ${fmt(pingRate)}/s  p50 ${fmt(med(b.map((x) => x.p50)), 1)} ms  p99 ${fmt(med(b.map((x) => x.p99)), 1)} ms`,
    );
    console.log(
      `  rounds signed: ${a.map((x) => fmt(x.rate)).join(", ")}/s; ping: ${b.map((x) => fmt(x.rate)).join(", ")}/s`,
    );
    console.log(
      `  for scale, POST /v1/experiments (key check + one insert): ${fmt(med(w.map((x) => x.rate)))}/s  p50 ${fmt(med(w.map((x) => x.p50)), 1)} ms`,
    );
    console.log(`  ratio signed / unsigned: ${(signedRate / pingRate).toFixed(2)}x (target >= 0.5x)`);
    console.log(`  ratio signed / one-insert route: ${(signedRate / med(w.map((x) => x.rate))).toFixed(2)}x`);
    console.log(
      `  a stored event, redacted: ${JSON.stringify(check.input[1].content)} redactions ${JSON.stringify(check.redactions)}`,
    );
  } finally {
    await server.stop();
  }
}

await main();
