/**
 * `npm run demo`: the whole RFT loop on a laptop, against a running `npm run dev`.
 *
 * Uploads the demo dataset (gpu-jobs/demo/topics.jsonl), certifies the demo grader (gpu-jobs/demo/grader.json)
 * with POST /v1/graders/preflight, creates an experiment and an rft run (gpu-jobs/demo/run.json: local backend,
 * early stopping on reward/mean), starts the local runner for it (`npm run runner -- --once`), and draws the
 * reward curve as the CPU reference trainer learns, then the stop reason and the stored adapter.
 *
 *   npm run dev            # in one terminal
 *   npm run demo           # in another
 *
 * Flags: --api URL (default ASSAY_API_URL or http://127.0.0.1:8787), --no-runner (leave the run queued for a
 * runner you started yourself), --verbose (show the trainer's own log). The key is ASSAY_API_KEY, or the admin
 * key from .dev.vars.
 *
 * `npm run demo -- --loop` shows the retraining loop instead (scripts/demo-loop.ts): a champion, corrected
 * feedback, a cycle that curates, trains a warm-started challenger, evaluates both on a frozen holdout and
 * decides; `--noise` makes the feedback noise, `--persist-to DIR` names the dev server's local state.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { devVarsAdminKey } from "../gpu-jobs/runner/runner";
import { runLoopDemo } from "./demo-loop";

const ROOT = resolve(import.meta.dirname, "..");
const DEMO = join(ROOT, "gpu-jobs", "demo");
const TSX = join(ROOT, "node_modules", ".bin", "tsx");
const TERMINAL = new Set(["succeeded", "failed", "cancelled", "stopped"]);
const BARS = "▁▂▃▄▅▆▇█";

export interface DemoOptions {
  api: string;
  apiKey: string;
  runner: boolean;
  verbose: boolean;
  /** Where progress goes (stdout by default). */
  print?: (line: string) => void;
  /** Redraw one live line (only when printing to a terminal). */
  live?: boolean;
  /** Give up waiting for the run after this many seconds. */
  timeoutS?: number;
}

export interface DemoResult {
  runId: string;
  status: string;
  stopReason: string | null;
  curve: { step: number; value: number }[];
  artifacts: { kind: string; uri: string }[];
}

/** A one-line chart of values in [0, 1], squeezed to `width` columns by averaging. */
export function sparkline(values: number[], width = 60): string {
  if (!values.length) return "";
  const cols = Math.min(width, values.length);
  let line = "";
  for (let c = 0; c < cols; c++) {
    const from = Math.floor((c * values.length) / cols);
    const to = Math.max(from + 1, Math.floor(((c + 1) * values.length) / cols));
    const slice = values.slice(from, to);
    const v = slice.reduce((s, x) => s + x, 0) / slice.length;
    line += BARS[Math.min(BARS.length - 1, Math.max(0, Math.round(v * (BARS.length - 1))))];
  }
  return line;
}

async function call(opts: DemoOptions, method: string, path: string, body?: unknown, contentType = "application/json") {
  const res = await fetch(`${opts.api}${path}`, {
    method,
    headers: { authorization: `Bearer ${opts.apiKey}`, ...(body === undefined ? {} : { "content-type": contentType }) },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${text.slice(0, 1000)}`);
  return JSON.parse(text);
}

async function series(opts: DemoOptions, runId: string, names: string[]) {
  const out = new Map<string, { step: number; value: number }[]>();
  let cursor: string | null = null;
  do {
    const q = new URLSearchParams({ name: names.join(",") });
    if (cursor) q.set("cursor", cursor);
    const page = await call(opts, "GET", `/v1/runs/${runId}/metrics?${q}`);
    for (const s of page.series as { name: string; points: { step: number; value: number }[] }[]) {
      out.set(s.name, [...(out.get(s.name) ?? []), ...s.points.map((p) => ({ step: p.step, value: p.value }))]);
    }
    cursor = page.nextCursor;
  } while (cursor);
  return out;
}

const fmt = (x: number | undefined, d = 3) => (x === undefined ? "-" : x.toFixed(d));

export async function runDemo(opts: DemoOptions): Promise<DemoResult> {
  const print = opts.print ?? ((l: string) => console.log(l));
  const health = await fetch(`${opts.api}/healthz`).catch(() => null);
  if (!health?.ok) throw new Error(`no Assay API at ${opts.api}: start it with \`npm run dev\` first`);

  const jsonl = readFileSync(join(DEMO, "topics.jsonl"), "utf8");
  const grader = JSON.parse(readFileSync(join(DEMO, "grader.json"), "utf8"));
  const spec = JSON.parse(readFileSync(join(DEMO, "run.json"), "utf8"));

  const ds = await call(opts, "POST", "/v1/datasets?name=demo-topics", jsonl, "application/x-ndjson");
  print(`dataset   ${ds.id}: ${ds.rows} rows (train ${ds.splits.train}, holdout ${ds.splits.holdout})`);

  // Pilot samples: every choice for the first rows, one GRPO group per row, so the certificate can see
  // determinism, reward variance within groups and the length correlation.
  const rows = jsonl
    .split("\n")
    .filter(Boolean)
    .slice(0, 8)
    .map((l) => JSON.parse(l));
  const samples = rows.flatMap((item, g) => (item.choices as string[]).map((c) => ({ completion: c, item, group: g })));
  const cert = await call(opts, "POST", "/v1/graders/preflight", { grader, samples });
  print(`grader    ${cert.grader.ref}: pre-flight ${cert.verdict} on ${cert.samples} samples (${cert.id})`);
  if (cert.verdict !== "pass") throw new Error(`the demo grader failed pre-flight: ${cert.reasons.join("; ")}`);

  const exp = await call(opts, "POST", "/v1/experiments", {
    name: "demo: topic classification",
    description: "npm run demo: GRPO with the CPU reference trainer on gpu-jobs/demo/topics.jsonl",
    tags: ["demo"],
  });
  const run = await call(opts, "POST", `/v1/experiments/${exp.id}/runs`, { ...spec, dataset: ds.id, grader });
  const rule = spec.earlyStopping[0];
  print(`run       ${run.id} (${run.status}) in ${exp.id}`);
  print(
    `          ${spec.hyperparams.batchSize} prompts x ${spec.hyperparams.groupSize} completions per step, ` +
      `up to ${spec.hyperparams.maxSteps} steps; early stopping: ${rule.metric} ${rule.mode}, patience ${rule.patience}, minDelta ${rule.minDelta}`,
  );

  let runner: ChildProcess | null = null;
  if (opts.runner) {
    runner = spawn(TSX, [join(ROOT, "gpu-jobs", "runner", "runner.ts"), "--once", "--api", opts.api, "--poll", "0.5"], {
      cwd: ROOT,
      env: { ...process.env, ASSAY_API_KEY: opts.apiKey },
      stdio: ["ignore", opts.verbose ? "inherit" : "ignore", "inherit"],
    });
  } else {
    print("          waiting for a runner: start one with `npm run runner`");
  }

  const started = Date.now();
  let detail = run;
  let curve: { step: number; value: number }[] = [];
  let shown = 0;
  try {
    for (;;) {
      detail = await call(opts, "GET", `/v1/runs/${run.id}`);
      curve = (await series(opts, run.id, ["reward/mean"])).get("reward/mean") ?? [];
      const last = curve[curve.length - 1];
      if (last && (opts.live ? curve.length > shown : curve.length - shown >= 10)) {
        const line = `reward    ${sparkline(curve.map((p) => p.value))} ${fmt(last.value)} @ step ${last.step}`;
        if (opts.live) process.stdout.write(`\r${line}`);
        else print(line);
        shown = curve.length;
      }
      if (TERMINAL.has(detail.status)) break;
      if (opts.timeoutS && Date.now() - started > opts.timeoutS * 1000) {
        throw new Error(`run ${run.id} still ${detail.status} after ${opts.timeoutS} s`);
      }
      if (runner && runner.exitCode !== null && !TERMINAL.has(detail.status)) {
        // The runner is gone; one more read settles whether the run ended just before.
        detail = await call(opts, "GET", `/v1/runs/${run.id}`);
        if (!TERMINAL.has(detail.status))
          throw new Error(`the runner exited (${runner.exitCode}) but run ${run.id} is ${detail.status}`);
        break;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  } finally {
    if (opts.live) process.stdout.write("\n");
    if (runner && runner.exitCode === null) {
      await new Promise((ok) => {
        runner!.once("exit", ok);
        setTimeout(() => runner!.kill("SIGTERM"), 30_000).unref();
      });
    }
  }

  const all = await series(opts, run.id, ["reward/mean", "loss", "kl", "train/valid_fraction"]);
  curve = all.get("reward/mean") ?? [];
  const at = (name: string, step: number) => all.get(name)?.find((p) => p.step === step)?.value;
  print("");
  print("  step  reward/mean  loss      kl");
  const every = Math.max(1, Math.ceil(curve.length / 12));
  curve.forEach((p, i) => {
    if (i % every === 0 || i === curve.length - 1) {
      print(
        `  ${String(p.step).padStart(4)}  ${fmt(p.value).padStart(11)}  ${fmt(at("loss", p.step), 4).padStart(7)}  ${fmt(at("kl", p.step), 4)}`,
      );
    }
  });
  print("");
  print(`reward    ${sparkline(curve.map((p) => p.value))}`);
  print(`status    ${detail.status} after ${curve.length} steps`);
  print(`stopped   ${detail.stopReason ?? "not stopped early (the plan ran out)"}`);
  for (const a of detail.artifacts as { kind: string; uri: string }[]) print(`artifact  ${a.kind}: ${a.uri}`);
  return {
    runId: run.id,
    status: detail.status,
    stopReason: detail.stopReason,
    curve,
    artifacts: (detail.artifacts as { kind: string; uri: string }[]).map(({ kind, uri }) => ({ kind, uri })),
  };
}

async function main() {
  const argv = process.argv.slice(2);
  const flag = (name: string) => argv.includes(name);
  const i = argv.indexOf("--api");
  const api = (i >= 0 ? argv[i + 1] : undefined) ?? process.env.ASSAY_API_URL ?? "http://127.0.0.1:8787";
  const apiKey = process.env.ASSAY_API_KEY || devVarsAdminKey(join(ROOT, ".dev.vars"));
  if (!apiKey) {
    console.error("no API key: set ASSAY_API_KEY, or run `npm run dev` once so that .dev.vars holds the admin key");
    process.exit(2);
  }
  if (flag("--loop")) {
    const p = argv.indexOf("--persist-to");
    try {
      const result = await runLoopDemo({
        api: api.replace(/\/+$/, ""),
        apiKey,
        noise: flag("--noise"),
        persistTo: p >= 0 ? argv[p + 1] : undefined,
        verbose: flag("--verbose"),
      });
      process.exitCode = result.cycle.status === "succeeded" ? 0 : 1;
    } catch (e) {
      const cause = (e as Error).cause;
      console.error(`demo: ${(e as Error).message}${cause ? ` (${String(cause)})` : ""}`);
      process.exitCode = 1;
    }
    return;
  }
  try {
    const result = await runDemo({
      api: api.replace(/\/+$/, ""),
      apiKey,
      runner: !flag("--no-runner"),
      verbose: flag("--verbose"),
      live: process.stdout.isTTY === true,
    });
    process.exitCode = result.status === "stopped" || result.status === "succeeded" ? 0 : 1;
  } catch (e) {
    console.error(`demo: ${(e as Error).message}`);
    process.exitCode = 1;
  }
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) await main();
