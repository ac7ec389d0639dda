import type { Scorer } from "./grader";
import { ascending, percentile } from "./stats";
import { clamp01, invalid, type Logger, type RewardResult, type Sample, type ScoreContext } from "./types";

export interface BatchOptions {
  /** Per-sample deadline in ms (default 10 s). */
  deadlineMs?: number;
  /** Samples scored at once (default 8). */
  concurrency?: number;
  context: Omit<ScoreContext, "signal" | "deadline">;
}

export interface BatchSummary {
  count: number;
  validCount: number;
  /** Mean score over valid results (null when none is valid). */
  mean: number | null;
  /** Wall time of the whole batch. */
  latencyMs: number;
  latency: { p50: number; p99: number; max: number };
}

export interface BatchOutcome {
  results: RewardResult[];
  latencies: number[];
  summary: BatchSummary;
}

export const DEFAULT_DEADLINE_MS = 10_000;
export const MAX_DEADLINE_MS = 120_000;

class DeadlineExceeded extends Error {}

function isMetrics(m: unknown): m is Record<string, { score: number; reason?: string }> {
  if (m === undefined) return true;
  if (m === null || typeof m !== "object" || Array.isArray(m)) return false;
  return Object.values(m).every(
    (v) => v !== null && typeof v === "object" && typeof (v as { score: unknown }).score === "number",
  );
}

/**
 * Checks what a scorer returned. A score that is not a finite number in [0, 1] is the evaluator's fault:
 * `valid: false` with INVALID_SCORE, never a silent 0 or a clamp.
 */
export function normalizeResult(raw: unknown): RewardResult {
  if (typeof raw === "number") raw = { score: raw, valid: true };
  if (raw === null || typeof raw !== "object")
    return invalid("INVALID_SCORE", `scorer returned ${String(raw)}, not a result`);
  const r = raw as Partial<RewardResult>;
  if (r.valid === false) {
    const message = r.error?.message ?? r.reason ?? "evaluator failed";
    return {
      ...r,
      score: 0,
      valid: false,
      error: { code: r.error?.code ?? "EVALUATOR_ERROR", message },
    } as RewardResult;
  }
  if (typeof r.score !== "number" || !Number.isFinite(r.score)) {
    return invalid("INVALID_SCORE", `score must be a finite number, got ${String(r.score)}`);
  }
  if (r.score < 0 || r.score > 1) return invalid("INVALID_SCORE", `score ${r.score} is outside [0, 1]`);
  if (!isMetrics(r.metrics)) return invalid("INVALID_SCORE", "metrics must map names to { score, reason? }");
  const out: RewardResult = { score: r.score, valid: true };
  if (r.reason !== undefined) out.reason = String(r.reason);
  if (r.metrics) {
    out.metrics = {};
    for (const [k, v] of Object.entries(r.metrics)) {
      out.metrics[k] = {
        score: Number.isFinite(v.score) ? clamp01(v.score) : 0,
        ...(v.reason ? { reason: v.reason } : {}),
      };
    }
  }
  return out;
}

/** Scores one sample within its deadline; never throws. */
export async function scoreOne(
  scorer: Scorer,
  sample: Sample,
  context: BatchOptions["context"],
  deadlineMs = DEFAULT_DEADLINE_MS,
): Promise<RewardResult> {
  const controller = new AbortController();
  const deadline = Date.now() + deadlineMs;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const ctx: ScoreContext = { ...context, signal: controller.signal, deadline };
    const pending = scorer(sample, ctx);
    // A synchronous scorer has already finished (no timer could have fired during it): no race to set up.
    if (!isThenable(pending)) return normalizeResult(pending);
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        controller.abort(new DeadlineExceeded(`deadline of ${deadlineMs} ms exceeded`));
        reject(new DeadlineExceeded(`deadline of ${deadlineMs} ms exceeded`));
      }, deadlineMs);
    });
    const raw = await Promise.race([pending, expired]);
    return normalizeResult(raw);
  } catch (err) {
    if (err instanceof DeadlineExceeded) return invalid("DEADLINE_EXCEEDED", err.message);
    const message = err instanceof Error ? err.message : String(err);
    return invalid("EVALUATOR_ERROR", message || "evaluator threw");
  } finally {
    clearTimeout(timer);
  }
}

function isThenable(x: unknown): x is PromiseLike<unknown> {
  return typeof (x as { then?: unknown } | null)?.then === "function";
}

export function summarize(results: RewardResult[], latencies: number[], wallMs: number): BatchSummary {
  const valid = results.filter((r) => r.valid);
  const sorted = ascending(latencies);
  return {
    count: results.length,
    validCount: valid.length,
    mean: valid.length ? valid.reduce((s, r) => s + r.score, 0) / valid.length : null,
    latencyMs: round(wallMs),
    latency: { p50: round(percentile(sorted, 50)), p99: round(percentile(sorted, 99)), max: round(sorted.at(-1) ?? 0) },
  };
}

const round = (x: number) => Math.round(x * 1000) / 1000;

/** Scores a batch with bounded concurrency: exactly one result per sample, in order. */
export async function scoreBatch(scorer: Scorer, samples: Sample[], opts: BatchOptions): Promise<BatchOutcome> {
  const results: RewardResult[] = new Array(samples.length);
  const latencies: number[] = new Array(samples.length).fill(0);
  const concurrency = Math.max(1, Math.min(opts.concurrency ?? 8, samples.length || 1));
  const started = performance.now();
  let next = 0;
  async function worker() {
    while (next < samples.length) {
      const i = next++;
      const t0 = performance.now();
      results[i] = await scoreOne(scorer, samples[i]!, opts.context, opts.deadlineMs);
      latencies[i] = performance.now() - t0;
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { results, latencies, summary: summarize(results, latencies, performance.now() - started) };
}

export const consoleLogger: Logger = {
  debug: () => {},
  info: (msg, data) => console.log(JSON.stringify({ level: "info", msg, ...data })),
  warn: (msg, data) => console.warn(JSON.stringify({ level: "warn", msg, ...data })),
};
