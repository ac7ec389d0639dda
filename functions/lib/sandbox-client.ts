// The main Worker's side of a sandbox Worker (sandbox/handler.ts): the code runner and the python graders'
// service, sending their runs over its service binding (SANDBOX_JS or SANDBOX_PYTHON) instead of running model code in this isolate.

import type { CodeRunInput, CodeRunner } from "../../rewards/core/services";
import { invalid, type RewardResult } from "../../rewards/core/types";
import type { PythonGradeInput, PythonGraderService } from "../../rewards/verifiers/code/python/grade";
import {
  MAX_RUNS_PER_CALL,
  SANDBOX_CHECK_PATH,
  SANDBOX_RUN_PATH,
  type SandboxCheckResponse,
  type SandboxRunResponse,
  type WireRun,
} from "../../sandbox/protocol";

/** What the runner needs of the binding (a Fetcher; tests wrap it to abort calls). */
export interface SandboxTransport {
  fetch(input: string, init?: RequestInit): Promise<Response>;
}

export interface RemoteRunnerOptions {
  /**
   * Runs per call. Small enough that a batch is many calls in flight at once (the platform may serve them
   * from several sandbox isolates: a 1,024-sample batch is 64 calls) and a killed isolate loses few runs;
   * large enough to pay for a call. Measured on a GRPO step under `wrangler dev` (tests/bench/grpo-step):
   * every call is a subrequest that wrangler's inspector proxy reports to its Node process (four events
   * each, ~1 ms of its CPU per call), so 4 runs per call spent ~1 s of that process's CPU per 1,024
   * HumanEval-X samples, 16 runs per call ~0.5 s.
   */
  runsPerCall?: number;
}

const DEFAULT_RUNS_PER_CALL = 16;
/** How long a sandbox copy that could not be reached is passed over while another one is up. */
const SHARD_DOWN_MS = 10_000;
/** Wall time allowed per run beyond its own time limit (set-up, a rebuilt interpreter after a crash). */
const PER_RUN_SLACK_MS = 5_000;

/** One copy of the sandbox Worker, as the client sees it. */
interface Shard {
  transport: SandboxTransport;
  /** Runs sent to it and not yet answered. */
  inFlight: number;
  /** Until when (epoch ms) it is passed over: it could not be reached. */
  downUntil: number;
  /** Its health check in flight, shared by the runs that ask at the same time. */
  checking?: Promise<boolean>;
}

const messageOf = (err: unknown) => (err instanceof Error ? err.message : String(err));

interface Pending {
  run: WireRun;
  resolve: (r: RewardResult) => void;
}

class CallFailed extends Error {}

function toWire(run: ({ op: "code" } & CodeRunInput) | ({ op: "grade" } & PythonGradeInput)): WireRun {
  const { deadline, ...rest } = run;
  return (deadline === undefined ? rest : { ...rest, budgetMs: deadline - Date.now() }) as WireRun;
}

/** A call's own time limit: its runs one after another, each at most its time limit plus slack, twice over. */
function callTimeoutMs(runs: WireRun[]): number {
  return runs.reduce((s, r) => s + 2 * (Math.max(1, r.timeoutMs) + PER_RUN_SLACK_MS), 0);
}

export interface SandboxClient {
  code: CodeRunner;
  python: PythonGraderService;
}

/**
 * The code runner and python graders' service backed by the sandbox Worker. Runs issued in the same turn of the event loop (a batch's
 * concurrent samples) are grouped into calls of at most `runsPerCall`, sent concurrently.
 *
 * When a call fails (its isolate was killed at a CPU or memory limit, or the call was aborted), only that
 * call's runs are affected: each is sent again on its own, so the innocent ones score normally. A run that
 * fails on its own as well, while the sandbox Worker still answers its health check, caused the failure
 * itself: it scores 0 (`valid: true`) with the limit named, so a model cannot earn a skip by killing the
 * sandbox. If the sandbox Worker does not answer at all, the failure is the platform's: `valid: false`.
 */
export function sandboxClient(
  transports: SandboxTransport | SandboxTransport[],
  opts: RemoteRunnerOptions = {},
): SandboxClient {
  const perCall = Math.max(1, Math.min(opts.runsPerCall ?? DEFAULT_RUNS_PER_CALL, MAX_RUNS_PER_CALL));
  const shards: Shard[] = (Array.isArray(transports) ? transports : [transports]).map((transport) => ({
    transport,
    inFlight: 0,
    downUntil: 0,
  }));
  if (shards.length === 0) throw new Error("sandboxClient needs at least one transport");
  let queue: Pending[] = [];
  let scheduled = false;

  let turn = 0;
  /**
   * The shard with the fewest runs in flight, ties taken in turn: calls spread over the isolates. Shards
   * whose health check failed lately are passed over while another one is up (`skip`: shards not to use).
   */
  function pick(skip?: ReadonlySet<Shard>) {
    const now = Date.now();
    let best: Shard | undefined;
    for (let k = 0; k < shards.length; k++) {
      const s = shards[(turn + k) % shards.length]!;
      if (skip?.has(s) || s.downUntil > now) continue;
      if (!best || s.inFlight < best.inFlight) best = s;
    }
    best ??= shards.find((s) => !skip?.has(s)) ?? shards[0]!;
    turn = (shards.indexOf(best) + 1) % shards.length;
    return best;
  }

  async function call(runs: WireRun[], shard = pick()): Promise<RewardResult[]> {
    shard.inFlight += runs.length;
    try {
      return await callOn(shard.transport, runs);
    } finally {
      shard.inFlight -= runs.length;
    }
  }

  async function callOn(transport: SandboxTransport, runs: WireRun[]): Promise<RewardResult[]> {
    let res: Response;
    try {
      res = await transport.fetch(`https://sandbox${SANDBOX_RUN_PATH}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ runs }),
        signal: AbortSignal.timeout(callTimeoutMs(runs)),
      });
    } catch (err) {
      throw new CallFailed(messageOf(err));
    }
    const text = await res.text().catch(() => "");
    if (!res.ok) throw new CallFailed(`HTTP ${res.status}: ${text.slice(0, 300)}`);
    let body: SandboxRunResponse;
    try {
      body = JSON.parse(text);
    } catch {
      throw new CallFailed("the sandbox answered something that is not JSON");
    }
    if (!Array.isArray(body.results) || body.results.length !== runs.length)
      throw new CallFailed(`the sandbox answered ${body.results?.length ?? "no"} results for ${runs.length} runs`);
    return body.results;
  }

  async function sandboxAnswers(transport: SandboxTransport): Promise<boolean> {
    try {
      const res = await transport.fetch("https://sandbox/healthz", { signal: AbortSignal.timeout(5_000) });
      await res.body?.cancel();
      return res.ok;
    } catch {
      return false;
    }
  }

  /** Whether the shard answers its health check; the runs of one dead call that ask together share one check. */
  function answers(shard: Shard): Promise<boolean> {
    shard.checking ??= sandboxAnswers(shard.transport).finally(() => {
      shard.checking = undefined;
    });
    return shard.checking;
  }

  /**
   * `attempt` on one shard after another (in pick order, each at most once) until one gives an answer; a
   * shard whose attempt gives none (undefined: it could not be reached) is passed over for SHARD_DOWN_MS.
   * Undefined when no shard answered.
   */
  async function failover<T>(attempt: (shard: Shard) => Promise<T | undefined>): Promise<T | undefined> {
    const tried = new Set<Shard>();
    while (tried.size < shards.length) {
      const shard = pick(tried);
      tried.add(shard);
      const answer = await attempt(shard);
      if (answer !== undefined) return answer;
      shard.downUntil = Date.now() + SHARD_DOWN_MS;
    }
    return undefined;
  }

  /**
   * One run in a call of its own. If its call fails and that sandbox does not answer its health check, the
   * run goes to another copy (when there is one) before it is marked the platform's failure; if the sandbox
   * answers, the run itself stopped it.
   */
  async function runAlone(run: WireRun): Promise<RewardResult> {
    let detail = "";
    const result = await failover(async (shard): Promise<RewardResult | undefined> => {
      try {
        return (await call([run], shard))[0]!;
      } catch (err) {
        detail = messageOf(err);
        if (!(await answers(shard))) return undefined;
        const limit = /memory/i.test(detail) ? "memory" : "time";
        return {
          score: 0,
          valid: true,
          reason: `${limit} limit exceeded (the sandbox isolate running this sample was stopped: ${detail})`,
        };
      }
    });
    return result ?? invalid("SANDBOX_FAILED", `the sandbox Worker is not reachable: ${detail}`);
  }

  async function send(batch: Pending[]) {
    const runs = batch.map((p) => p.run);
    try {
      const results = await call(runs);
      for (const [i, p] of batch.entries()) p.resolve(results[i]!);
    } catch {
      // Which run killed the call is unknown: each goes again in a call of its own.
      await Promise.all(batch.map(async (p) => p.resolve(await runAlone(p.run))));
    }
  }

  function flush() {
    scheduled = false;
    const taken = queue;
    queue = [];
    for (let i = 0; i < taken.length; i += perCall) void send(taken.slice(i, i + perCall));
  }

  function enqueue(run: WireRun): Promise<RewardResult> {
    return new Promise((resolve) => {
      queue.push({ run, resolve });
      if (queue.length >= perCall) {
        const full = queue.splice(0, perCall);
        void send(full);
      } else if (!scheduled) {
        scheduled = true;
        setTimeout(flush, 0);
      }
    });
  }

  return {
    code: { run: (input) => enqueue(toWire({ op: "code", ...input })) },
    python: {
      grade: (input) => enqueue(toWire({ op: "grade", ...input })),
      async check(source) {
        // Validation, not scoring: a failure here is the platform's, and says so. A copy that cannot be
        // reached is passed over for the next one.
        let detail = "";
        const res = await failover(async (shard) => {
          try {
            return await shard.transport.fetch(`https://sandbox${SANDBOX_CHECK_PATH}`, {
              method: "POST",
              headers: { "content-type": "application/json" },
              body: JSON.stringify({ source }),
              signal: AbortSignal.timeout(30_000),
            });
          } catch (err) {
            detail = messageOf(err);
            return undefined;
          }
        });
        if (!res) throw new Error(`the sandbox Worker could not check the source: ${detail}`);
        if (!res.ok)
          throw new Error(`the sandbox Worker could not check the source: HTTP ${res.status} ${await res.text()}`);
        return ((await res.json()) as SandboxCheckResponse).problem;
      },
    },
  };
}

/** The code runner alone (see sandboxClient). */
export function remoteCodeRunner(
  transport: SandboxTransport | SandboxTransport[],
  opts: RemoteRunnerOptions = {},
): CodeRunner {
  return sandboxClient(transport, opts).code;
}
