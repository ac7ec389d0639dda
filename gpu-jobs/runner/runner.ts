/**
 * The local runner: the "local" backend's worker. It claims queued local RFT runs from the API and runs the
 * container's trainer for each as a child process, the way AWS Batch runs the container image.
 *
 *   npm run runner                      # poll forever, one run at a time
 *   npm run runner -- --concurrency 3   # up to three runs at once
 *   npm run runner -- --once            # claim one run (waiting for one to be queued), run it, exit with its code
 *
 * Configuration:
 * - ASSAY_API_URL (default http://127.0.0.1:8787, where `npm run dev` listens), or `--api URL`.
 * - ASSAY_API_KEY, an API key (or the admin key). Unset, the runner reads ASSAY_ADMIN_KEY from the repository's
 *   .dev.vars, which `npm run dev` creates, so a fresh clone needs no setup.
 * - ASSAY_PYTHON (default python3) and `--trainer PATH` (default gpu-jobs/container/cpu_trainer.py).
 *
 * The child gets ASSAY_API_URL (the URL this runner reached the API at; `--container-api-url` overrides it),
 * ASSAY_RUN_ID and ASSAY_RUN_TOKEN, and its output is printed line by line prefixed with the run id. On
 * Ctrl-C (SIGINT) or SIGTERM the runner stops claiming and passes SIGTERM to its children, which finish the
 * current step, upload what they have and complete; a second Ctrl-C, or `--grace` seconds, kills them.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { hostname } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";

const ROOT = resolve(import.meta.dirname, "../..");

export interface RunnerOptions {
  api: string;
  apiKey: string;
  concurrency: number;
  once: boolean;
  /** Seconds between claims while nothing is queued. */
  poll: number;
  /** Exit 0 after this many seconds with nothing claimed and nothing running (0: never). */
  maxIdle: number;
  /** Seconds children get to finish after SIGTERM before SIGKILL. */
  grace: number;
  python: string;
  trainer: string;
  containerApiUrl: string | null;
  name: string;
}

export class UsageError extends Error {}

const USAGE = `usage: npm run runner -- [--once] [--concurrency N] [--api URL] [--poll SECONDS] [--max-idle SECONDS]
                              [--grace SECONDS] [--trainer PATH] [--container-api-url URL] [--name NAME]`;

/** Reads ASSAY_ADMIN_KEY from a .dev.vars file (KEY=value lines; quotes optional). */
export function devVarsAdminKey(path: string): string | null {
  if (!existsSync(path)) return null;
  for (const raw of readFileSync(path, "utf8").split(/\r?\n/)) {
    const m = /^\s*ASSAY_ADMIN_KEY\s*=\s*(.*?)\s*$/.exec(raw);
    if (m) return m[1]!.replace(/^(["'])(.*)\1$/, "$2") || null;
  }
  return null;
}

export function parseArgs(
  argv: string[],
  env: Record<string, string | undefined> = process.env,
  root = ROOT,
): RunnerOptions {
  const opts: RunnerOptions = {
    api: env.ASSAY_API_URL || "http://127.0.0.1:8787",
    apiKey: env.ASSAY_API_KEY || "",
    concurrency: 1,
    once: false,
    poll: 2,
    maxIdle: 0,
    grace: 60,
    python: env.ASSAY_PYTHON || "python3",
    trainer: join(root, "gpu-jobs", "container", "cpu_trainer.py"),
    containerApiUrl: null,
    name: `${hostname()}:${process.pid}`,
  };
  const number = (flag: string, v: string | undefined, min: number) => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n) || n < min) throw new UsageError(`${flag} needs a number >= ${min}`);
    return n;
  };
  const value = (flag: string, v: string | undefined) => {
    if (!v || v.startsWith("--")) throw new UsageError(`${flag} needs a value`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const next = () => argv[++i];
    switch (flag) {
      case "--once":
        opts.once = true;
        break;
      case "--concurrency":
      case "-j":
        opts.concurrency = Math.floor(number(flag, next(), 1));
        break;
      case "--api":
        opts.api = value(flag, next());
        break;
      case "--poll":
        opts.poll = number(flag, next(), 0.05);
        break;
      case "--max-idle":
        opts.maxIdle = number(flag, next(), 0);
        break;
      case "--grace":
        opts.grace = number(flag, next(), 0);
        break;
      case "--trainer":
        opts.trainer = resolve(value(flag, next()));
        break;
      case "--container-api-url":
        opts.containerApiUrl = value(flag, next());
        break;
      case "--name":
        opts.name = value(flag, next());
        break;
      case "--help":
      case "-h":
        throw new UsageError(USAGE);
      default:
        throw new UsageError(`unknown argument ${flag}\n${USAGE}`);
    }
  }
  opts.api = opts.api.replace(/\/+$/, "");
  if (!opts.apiKey) opts.apiKey = devVarsAdminKey(join(root, ".dev.vars")) ?? "";
  if (!opts.apiKey) {
    throw new UsageError(
      "no API key: set ASSAY_API_KEY, or run `npm run dev` once so that .dev.vars holds the admin key",
    );
  }
  return opts;
}

export interface Claim {
  run: { id: string; experimentId: string } | null;
  token?: string;
  apiUrl?: string;
}

export class ClaimError extends Error {
  constructor(
    message: string,
    readonly status: number | null,
  ) {
    super(message);
  }
}

export async function claim(opts: Pick<RunnerOptions, "api" | "apiKey" | "name">): Promise<Claim> {
  let res: Response;
  try {
    res = await fetch(`${opts.api}/v1/runner/claim`, {
      method: "POST",
      headers: { authorization: `Bearer ${opts.apiKey}`, "content-type": "application/json" },
      body: JSON.stringify({ runner: opts.name }),
    });
  } catch (e) {
    throw new ClaimError(`cannot reach ${opts.api}: ${(e as Error).message}`, null);
  }
  const text = await res.text();
  if (!res.ok) throw new ClaimError(`claim: HTTP ${res.status} ${text.slice(0, 300)}`, res.status);
  return JSON.parse(text) as Claim;
}

type Log = (line: string) => void;

/** Starts the trainer for a claimed run; its output goes to `out`/`err` a line at a time, prefixed. */
export function startTrainer(
  opts: Pick<RunnerOptions, "python" | "trainer" | "api" | "containerApiUrl">,
  run: { id: string },
  token: string,
  out: Log,
  err: Log,
): ChildProcess {
  const child = spawn(opts.python, ["-u", opts.trainer], {
    cwd: ROOT,
    env: {
      ...process.env,
      ASSAY_API_URL: opts.containerApiUrl ?? opts.api,
      ASSAY_RUN_ID: run.id,
      ASSAY_RUN_TOKEN: token,
      PYTHONUNBUFFERED: "1",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const prefix = `[${run.id}]`;
  createInterface({ input: child.stdout! }).on("line", (l) => out(`${prefix} ${l}`));
  createInterface({ input: child.stderr! }).on("line", (l) => err(`${prefix} ${l}`));
  return child;
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((ok) => {
    const t = setTimeout(ok, ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(t);
        ok();
      },
      { once: true },
    );
  });

/**
 * The claim loop. Resolves with the exit code: with `--once`, the trainer's; otherwise 0 after a stop signal
 * or `--max-idle`. Claim errors that may pass (network, 5xx) are retried with backoff; 401/403 end the runner.
 */
export async function runLoop(
  opts: RunnerOptions,
  io: { out: Log; err: Log } = { out: console.log, err: console.error },
): Promise<number> {
  const children = new Map<string, ChildProcess>();
  const stopping = new AbortController();
  let signals = 0;
  let exitCode = 0;
  let claimedAny = false;
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    if (signals === 1) {
      io.err(`[runner] ${sig}: no more claims; asking ${children.size} trainer(s) to finish their step`);
      stopping.abort();
      for (const c of children.values()) c.kill("SIGTERM");
      if (children.size) {
        setTimeout(() => {
          for (const c of children.values()) c.kill("SIGKILL");
        }, opts.grace * 1000).unref();
      }
    } else {
      io.err(`[runner] ${sig} again: killing ${children.size} trainer(s)`);
      for (const c of children.values()) c.kill("SIGKILL");
    }
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  io.out(`[runner] ${opts.name} claiming local runs from ${opts.api} (up to ${opts.concurrency} at once)`);
  let idleSince = Date.now();
  let backoff = opts.poll;
  const finished: Promise<void>[] = [];
  try {
    while (!stopping.signal.aborted) {
      if (opts.once && claimedAny) break;
      if (children.size >= opts.concurrency) {
        await Promise.race([...finished, sleep(opts.poll * 1000, stopping.signal)]);
        continue;
      }
      let got: Claim;
      try {
        got = await claim(opts);
        backoff = opts.poll;
      } catch (e) {
        const status = (e as ClaimError).status;
        if (status === 401 || status === 403 || status === 404) {
          io.err(`[runner] ${(e as Error).message}`);
          exitCode = 2;
          break;
        }
        io.err(`[runner] ${(e as Error).message}; retrying in ${backoff.toFixed(1)} s`);
        await sleep(backoff * 1000, stopping.signal);
        backoff = Math.min(backoff * 2, 30);
        continue;
      }
      if (!got.run || !got.token) {
        if (opts.maxIdle > 0 && children.size === 0 && Date.now() - idleSince >= opts.maxIdle * 1000) {
          io.out(`[runner] nothing queued for ${opts.maxIdle} s: exiting`);
          break;
        }
        await sleep(opts.poll * 1000, stopping.signal);
        continue;
      }
      claimedAny = true;
      const run = got.run;
      io.out(`[runner] claimed ${run.id} (experiment ${run.experimentId})`);
      const child = startTrainer(opts, run, got.token, io.out, io.err);
      children.set(run.id, child);
      const done = new Promise<void>((ok) => {
        let failed = false;
        child.on("error", (e) => {
          failed = true;
          io.err(`[runner] ${run.id}: could not start ${opts.python}: ${e.message}`);
          exitCode = 1;
          children.delete(run.id);
          ok();
        });
        // "close", not "exit": the trainer's last lines are printed before the runner says it ended.
        child.on("close", (code, signal) => {
          if (failed) return;
          io.out(`[runner] ${run.id} exited with ${signal ?? code}`);
          if (opts.once) exitCode = code ?? 1;
          children.delete(run.id);
          idleSince = Date.now();
          ok();
        });
      });
      finished.push(done);
      done.then(() => finished.splice(finished.indexOf(done), 1));
    }
    await Promise.all(finished);
    return exitCode;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

async function main() {
  let opts: RunnerOptions;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error((e as Error).message);
    process.exit(e instanceof UsageError ? 2 : 1);
  }
  process.exitCode = await runLoop(opts);
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) await main();
