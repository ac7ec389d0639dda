/**
 * `npm run demo -- --loop`: the retraining loop on a laptop, against a running `npm run dev`, on CPU.
 *
 *  1. The frozen holdout: gpu-jobs/demo/topics.jsonl uploaded with half its rows held out.
 *  2. A champion: an SFT run of the CPU reference trainer on the train split's cooking and music rows only,
 *     so it cannot tell sports or weather apart; set as the experiment's champion.
 *  3. Feedback: for every train-split message, the champion's answer rated down with a correction
 *     (`--noise`: the corrections name a random topic), posted signed to the feedback webhook.
 *  4. A retraining policy (SFT, gate on the frozen holdout) is triggered: its cycle curates the feedback into
 *     a dataset, trains a challenger warm-started from the champion, evaluates both on the holdout, and decides.
 *  5. The decision with its numbers, and the champion's history.
 *
 * The local runner (`npm run runner`) is started for the runs. Where this build has no feedback webhook or no
 * curation worker (they are built on other branches), the demo says so and stands in for them: the corrected
 * rows are uploaded as the curated dataset and the curation is marked succeeded in the local D1
 * (`wrangler d1 execute --local`), clearly labelled in the output.
 *
 * Flags: --api URL, --noise, --persist-to DIR (the dev server's local state, for the stand-in), --verbose.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createHmac, randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dirname, "..");
const TSX = join(ROOT, "node_modules", ".bin", "tsx");
const WRANGLER = join(ROOT, "node_modules", ".bin", "wrangler");
const TOPICS = ["cooking", "music", "sports", "weather"];
const GRADER = JSON.parse(readFileSync(join(ROOT, "gpu-jobs", "demo", "grader.json"), "utf8"));
const TERMINAL = new Set(["succeeded", "failed", "cancelled", "stopped"]);
const HP = { learningRate: 0.01, batchSize: 16, epochs: 40, maxSteps: 150, lrScheduler: "cosine", warmupRatio: 0.05 };

export interface LoopOptions {
  api: string;
  apiKey: string;
  noise: boolean;
  persistTo?: string;
  verbose?: boolean;
  print?: (line: string) => void;
  timeoutS?: number;
  seed?: number;
}

export interface LoopResult {
  experiment: string;
  champion: string;
  policy: string;
  cycle: Record<string, any>;
  standIns: string[];
}

const format = (topic: string) => `<think>The message uses ${topic} words.</think><answer>${topic}</answer>`;

/** mulberry32, so the noise is the same on every run of the demo. */
function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function request(
  opts: LoopOptions,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
) {
  // A GET that meets a dropped connection (wrangler dev reloading, say) is tried again; nothing else is.
  for (let attempt = 1; method === "GET" && attempt < 5; attempt++) {
    try {
      return await once(opts, method, path, body, headers);
    } catch (e) {
      if (!(e instanceof TypeError)) throw e;
      await sleep(1000 * attempt);
    }
  }
  return once(opts, method, path, body, headers);
}

async function once(opts: LoopOptions, method: string, path: string, body: unknown, headers: Record<string, string>) {
  const res = await fetch(`${opts.api}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${opts.apiKey}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
      ...headers,
    },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null, text };
}

async function call(opts: LoopOptions, method: string, path: string, body?: unknown, headers?: Record<string, string>) {
  const res = await request(opts, method, path, body, headers);
  if (res.status >= 300) throw new Error(`${method} ${path}: HTTP ${res.status} ${res.text.slice(0, 1000)}`);
  return res.json;
}

async function uploadJsonl(opts: LoopOptions, name: string, rows: unknown[], holdout = 0.1) {
  return call(
    opts,
    "POST",
    `/v1/datasets?name=${encodeURIComponent(name)}&holdout=${holdout}`,
    rows.map((r) => JSON.stringify(r)).join("\n"),
    { "content-type": "application/x-ndjson" },
  );
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(what: string, timeoutS: number, probe: () => Promise<T | null>): Promise<T> {
  const start = Date.now();
  for (;;) {
    const v = await probe();
    if (v !== null) return v;
    if (Date.now() - start > timeoutS * 1000) throw new Error(`timed out after ${timeoutS} s waiting for ${what}`);
    await sleep(300);
  }
}

async function waitRun(opts: LoopOptions, id: string) {
  return waitFor(`run ${id}`, opts.timeoutS ?? 600, async () => {
    const r = await call(opts, "GET", `/v1/runs/${id}`);
    return TERMINAL.has(r.status) ? r : null;
  });
}

/** Standard Webhooks: v1,base64(HMAC-SHA256(secret, "{id}.{timestamp}.{body}")) with the whsec_ secret's bytes. */
export function sign(secret: string, id: string, ts: number, body: string) {
  const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
  return `v1,${createHmac("sha256", key).update(`${id}.${ts}.${body}`).digest("base64")}`;
}

export async function runLoopDemo(opts: LoopOptions): Promise<LoopResult> {
  const print = opts.print ?? ((l: string) => console.log(l));
  const standIns: string[] = [];
  const health = await fetch(`${opts.api}/healthz`).catch(() => null);
  if (!health?.ok) throw new Error(`no Assay API at ${opts.api}: start it with \`npm run dev\` first`);

  const topics = readFileSync(join(ROOT, "gpu-jobs", "demo", "topics.jsonl"), "utf8");
  const holdout = await call(opts, "POST", "/v1/datasets?name=demo-topics-frozen&holdout=0.5", topics, {
    "content-type": "application/x-ndjson",
  });
  print(`holdout   ${holdout.id}: ${holdout.splits.holdout} frozen holdout items (of ${holdout.rows})`);
  const train = (await call(opts, "GET", `/v1/datasets/${holdout.id}/rows?split=train&limit=1000`)).data as {
    id: string;
    prompt: string;
    choices: string[];
    answer: string;
  }[];

  const exp = await call(opts, "POST", "/v1/experiments", {
    name: `demo loop: ${opts.noise ? "noisy" : "teaching"} feedback`,
    tags: ["demo", "retraining"],
  });
  const known = train.filter((r) => r.answer === "cooking" || r.answer === "music");
  const champData = await uploadJsonl(
    opts,
    "demo-champion-sft",
    known.map((r) => ({ id: r.id, prompt: r.prompt, completion: format(r.answer), choices: r.choices })),
  );

  const runner: ChildProcess = spawn(
    TSX,
    [join(ROOT, "gpu-jobs", "runner", "runner.ts"), "--api", opts.api, "--poll", "0.3", "--grace", "20"],
    {
      cwd: ROOT,
      env: { ...process.env, ASSAY_API_KEY: opts.apiKey },
      stdio: ["ignore", opts.verbose ? "inherit" : "ignore", opts.verbose ? "inherit" : "ignore"],
    },
  );
  try {
    const champRun = await call(opts, "POST", `/v1/experiments/${exp.id}/runs`, {
      kind: "sft",
      name: "champion: cooking and music only",
      baseModel: "cpu/bag-of-words",
      dataset: champData.id,
      backend: "local",
      hyperparams: HP,
    });
    const champDone = await waitRun(opts, champRun.id);
    if (champDone.status !== "succeeded")
      throw new Error(`the champion run ended ${champDone.status}: ${champDone.error}`);
    await call(opts, "PUT", `/v1/experiments/${exp.id}/champion`, {
      run: champRun.id,
      reason: "demo: first model, trained on cooking and music only",
    });
    print(`champion  ${champRun.id}: SFT on ${known.length} cooking/music rows, ${champDone.summary.steps} steps`);

    // Feedback in: a signed webhook per correction when this build has feedback ingestion.
    const random = rng(opts.seed ?? 11);
    const corrections = train.map((r) => ({
      row: r,
      correction: format(opts.noise ? TOPICS[Math.floor(random() * 4)]! : r.answer),
    }));
    const src = await request(opts, "POST", "/v1/feedback-sources", { name: "demo app", experiment: exp.id });
    let sourceId: string;
    if (src.status === 201) {
      sourceId = src.json.id;
      let accepted = 0;
      for (const { row, correction } of corrections) {
        const id = `msg_${randomUUID()}`;
        const ts = Math.floor(Date.now() / 1000);
        const body = JSON.stringify({
          type: "feedback.created",
          timestamp: new Date().toISOString(),
          data: { model: champRun.id, input: row.prompt, output: format("cooking"), rating: "down", correction },
        });
        const res = await fetch(`${opts.api}/v1/webhooks/feedback/${sourceId}`, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            "webhook-id": id,
            "webhook-timestamp": String(ts),
            "webhook-signature": sign(src.json.secret, id, ts, body),
          },
          body,
        });
        if (res.status === 202) accepted++;
      }
      print(`feedback  ${accepted} signed corrections to ${sourceId}${opts.noise ? " (noise: random topics)" : ""}`);
    } else {
      sourceId = "fs_0000000000demo00000000000000";
      standIns.push("feedback");
      print(
        `feedback  stand-in: this build has no feedback webhook (POST /v1/feedback-sources: ${src.status}); ${corrections.length} corrections${opts.noise ? " (noise: random topics)" : ""} go to the curation stand-in`,
      );
    }

    const policy = await call(opts, "POST", `/v1/experiments/${exp.id}/retraining-policies`, {
      name: "retrain on corrections",
      feedback: { sources: [sourceId] },
      trigger: { minNewFeedback: 50, cooldownHours: 1 },
      curation: { into: "sft" },
      run: { kind: "sft", baseModel: "cpu/bag-of-words", backend: "local", hyperparams: HP },
      gate: { grader: GRADER, confidence: 0.95, margin: 0, minItems: 50, holdout: holdout.id },
    });
    const started = await call(opts, "POST", `/v1/retraining-policies/${policy.id}/trigger`, { reason: "demo" });
    print(`cycle     ${started.id} started (policy ${policy.id})`);

    const latest = async () => (await call(opts, "GET", `/v1/retraining-policies/${policy.id}/cycles`)).data[0];
    const curationId = await waitFor("the cycle's curation", 60, async () => (await latest())?.curation ?? null);
    const cur = await request(opts, "GET", `/v1/curations/${curationId}`);
    if (cur.status === 404 && /no route/.test(cur.text)) {
      standIns.push("curation");
      const rows = corrections.map(({ row, correction }) => ({
        prompt: row.prompt,
        completion: correction,
        choices: row.choices,
      }));
      const ds = await uploadJsonl(opts, `curated ${curationId} (stand-in)`, rows);
      const args = ["d1", "execute", "DB", "--local", ...(opts.persistTo ? ["--persist-to", opts.persistTo] : [])];
      const sql = `update curations set status = 'succeeded', dataset_id = '${ds.id}', updated_at = ${Date.now()} where id = '${curationId}'`;
      const done = spawnSync(WRANGLER, [...args, "--command", sql], {
        cwd: ROOT,
        env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
        encoding: "utf8",
      });
      if (done.status !== 0) throw new Error(`the curation stand-in could not mark ${curationId}: ${done.stderr}`);
      print(
        `curation  stand-in: this build has no curation worker; ${rows.length} corrected rows → ${ds.id}, ${curationId} marked succeeded`,
      );
    } else {
      print(`curation  ${curationId} queued`);
    }

    const cycle = await waitFor("the cycle's decision", opts.timeoutS ?? 600, async () => {
      const c = await latest();
      return c && (c.status === "succeeded" || c.status === "failed") ? c : null;
    });
    const d = cycle.decision ?? {};
    const f = (x: unknown, n = 4) => (typeof x === "number" ? x.toFixed(n) : String(x));
    print(`dataset   ${cycle.dataset}   challenger ${cycle.run} (SFT, warm start ${cycle.champion})`);
    print(`evals     champion ${cycle.evals.champion}, challenger ${cycle.evals.challenger} on ${cycle.holdout}`);
    if (cycle.status === "failed") print(`failed    ${cycle.error}`);
    if (cycle.decision) {
      print(
        `compare   n ${d.n}  champion ${f(d.meanA)}  challenger ${f(d.meanB)}  diff ${f(d.meanDiff)}  se ${f(d.se)}  ` +
          `lower ${d.confidence} bound ${f(d.ciLow)}  p ${typeof d.pValue === "number" ? d.pValue.toPrecision(3) : d.pValue}  corr ${f(d.correlation, 3)}`,
      );
      print(`decision  ${d.promoted ? "PROMOTED" : "REJECTED"}: ${d.reason}`);
    }
    const champ = await call(opts, "GET", `/v1/experiments/${exp.id}/champion`);
    for (const h of champ.history)
      print(`history   ${h.run} since ${h.since}${h.until ? ` until ${h.until}` : " (current)"}: ${h.reason}`);
    return { experiment: exp.id, champion: champRun.id, policy: policy.id, cycle, standIns };
  } finally {
    if (runner.exitCode === null) {
      runner.kill("SIGTERM");
      await new Promise((ok) => {
        runner.once("exit", ok);
        setTimeout(() => runner.kill("SIGKILL"), 25_000).unref();
      });
    }
  }
}
