// Seeds the feedback and champions page through the real code paths, as `npm run demo -- --loop` does: the
// retraining demo (signed webhooks → feedback processing → curation → a warm-started challenger → paired
// test → promoted), then a second cycle of the same policy on noisy corrections (rejected), so the champion
// history has two decisions; and a support-chat source whose events carry PII (redacted on the way in),
// ratings spread over ten days, and one event that fails processing until it is dead-lettered (the dev
// server runs with the test-only fault injection of functions/lib/feedback.ts).
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { runLoopDemo, sign } from "../../../scripts/demo-loop";
import { client, rng } from "./seed";

export interface SeededFeedback {
  /** The demo loop's experiment: a champion, a promotion and a rejection. */
  experimentId: string;
  policyId: string;
  cycles: { id: string; promoted: boolean }[];
  supportSourceId: string;
  /** Events of the support source, and how many of them carry PII. */
  supportEvents: number;
  redactedEvents: number;
  deadLetterId: string;
  curations: number;
}

const ROOT = join(import.meta.dirname, "..", "..", "..");
const TOPICS = ["cooking", "music", "sports", "weather"];
const format = (topic: string) => `<think>The message uses ${topic} words.</think><answer>${topic}</answer>`;
const DAY = 86_400_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, timeoutS: number, probe: () => Promise<T | null | undefined>): Promise<T> {
  const end = Date.now() + timeoutS * 1000;
  for (;;) {
    const v = await probe();
    if (v !== null && v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutS} s waiting for ${what}`);
    await sleep(300);
  }
}

/** Posts one feedback.created event to a source's webhook, signed with its secret. */
async function deliver(base: string, sourceId: string, secret: string, data: unknown, at = new Date()) {
  const id = `msg_${randomUUID()}`;
  const ts = Math.floor(Date.now() / 1000);
  const body = JSON.stringify({ type: "feedback.created", timestamp: at.toISOString(), data });
  const res = await fetch(`${base}/v1/webhooks/feedback/${sourceId}`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "webhook-id": id,
      "webhook-timestamp": String(ts),
      "webhook-signature": sign(secret, id, ts, body),
    },
    body,
  });
  if (res.status !== 202) throw new Error(`webhook to ${sourceId}: HTTP ${res.status} ${await res.text()}`);
}

/** What users of a support chat wrote: some with an email, a phone number or an IP address in it. */
const SUPPORT = [
  { input: "How do I reset my password? I'm jane.doe@example.com", output: "Use the reset link.", rating: "down" },
  { input: "Is there a vegan lasagne recipe?", output: "Yes: swap the ricotta for tofu.", rating: "up" },
  { input: "Call me on +1 (212) 555-0199 about the refund", output: "A refund takes 5 days.", rating: "down" },
  { input: "Which key is this song in?", output: "D minor.", rating: 0.8 },
  { input: "The API at 203.0.113.45 times out", output: "Try again later.", rating: "down" },
  { input: "Will it rain tomorrow?", output: "Light showers after noon.", rating: "up" },
  { input: "Who won the match?", output: "The home side, 2-1.", rating: "up" },
  { input: "Send the invoice to billing@acme.org please", output: "Sent.", rating: 0.4 },
  { input: "How long do I boil an egg?", output: "Nine minutes for hard-boiled.", rating: "up" },
  { input: "What tempo is a waltz?", output: "Around 90 beats per minute.", rating: 1 },
] as const;

export async function seedFeedback(base: string, apiKey: string): Promise<SeededFeedback> {
  const api = client(base);
  // 1. The retraining demo: champion, teaching corrections, a cycle that promotes.
  const print = process.env.ASSAY_SEED_VERBOSE ? (l: string) => console.log(l) : () => {};
  const loop = await runLoopDemo({ api: base, apiKey, noise: false, print, seed: 11 });
  if (!loop.cycle.decision?.promoted) throw new Error(`the demo cycle did not promote: ${JSON.stringify(loop.cycle)}`);

  // 2. Noisy corrections to the same source (its secret rotated, since creation showed it only once), and a
  // second cycle of the same policy: its challenger, warm-started from the new champion, is rejected.
  const sources = (await api("GET", "/v1/feedback-sources?limit=100", apiKey)).data as {
    id: string;
    experiment: string | null;
  }[];
  const demoSource = sources.find((s) => s.experiment === loop.experiment)!;
  const { secret } = await api("POST", `/v1/feedback-sources/${demoSource.id}/rotate`, apiKey, { overlapSeconds: 0 });
  const train = (await api("GET", `/v1/datasets/${loop.cycle.holdout}/rows?split=train&limit=1000`, apiKey)).data as {
    prompt: string;
  }[];
  const random = rng(7);
  for (const row of train) {
    const correction = format(TOPICS[Math.floor(random() * 4)]!);
    await deliver(base, demoSource.id, secret, {
      model: loop.cycle.run,
      input: row.prompt,
      output: format("cooking"),
      rating: "down",
      correction,
    });
  }
  // The demo stopped its runner: this cycle's training and evals need one of their own.
  const runner = spawn(
    join(ROOT, "node_modules", ".bin", "tsx"),
    [join(ROOT, "gpu-jobs", "runner", "runner.ts"), "--api", base, "--poll", "0.3", "--grace", "20"],
    { cwd: ROOT, env: { ...process.env, ASSAY_API_KEY: apiKey }, stdio: "ignore" },
  );
  let done: { id: string; status: string; error: string | null; decision: { promoted?: boolean } | null };
  try {
    const second = await api("POST", `/v1/retraining-policies/${loop.policy}/trigger`, apiKey, {
      reason: "noisy corrections",
    });
    done = await until("the second cycle's decision", 300, async () => {
      const c = (await api("GET", `/v1/retraining-policies/${loop.policy}/cycles`, apiKey)).data[0];
      return c.id === second.id && (c.status === "succeeded" || c.status === "failed") ? c : null;
    });
  } finally {
    runner.kill("SIGTERM");
  }
  if (done.status !== "succeeded") throw new Error(`the second cycle failed: ${done.error}`);

  // 3. A support-chat source: PII in the events (redacted before they are stored), ratings over ten days,
  // and one event set to fail every processing attempt the queue makes (FEEDBACK_MAX_ATTEMPTS = 5).
  const support = await api("POST", "/v1/feedback-sources", apiKey, {
    name: "support chat",
    experiment: loop.experiment,
  });
  const now = Date.now();
  for (let i = 0; i < 30; i++) {
    const e = SUPPORT[i % SUPPORT.length]!;
    await deliver(
      base,
      support.id,
      support.secret,
      { model: "support-bot-v2", input: e.input, output: e.output, rating: e.rating, labels: i % 3 ? [] : ["billing"] },
      new Date(now - (10 * DAY * (30 - i)) / 30),
    );
  }
  await deliver(base, support.id, support.secret, {
    model: "support-bot-v2",
    input: "My card was charged twice",
    output: "I'll look into it.",
    rating: "down",
    metadata: { assayFault: { failAttempts: 5 } },
  });
  const letter = await until("the dead letter", 120, async () => {
    const page = await api("GET", "/v1/feedback/dead-letters", apiKey);
    return page.data[0] as { id: string } | undefined;
  });
  print(`seeded feedback: dead letter ${letter.id}`);
  const curations = (await api("GET", "/v1/curations", apiKey)).data.length;
  return {
    experimentId: loop.experiment,
    policyId: loop.policy,
    cycles: [
      { id: loop.cycle.id, promoted: true },
      { id: done.id, promoted: !!done.decision?.promoted },
    ],
    supportSourceId: support.id,
    supportEvents: 31,
    redactedEvents: 12,
    deadLetterId: letter.id,
    curations,
  };
}
