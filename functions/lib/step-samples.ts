import type { RewardResult, Sample } from "../../rewards/core/types";
import { ApiError } from "./errors";

/** The most samples a step keeps, whatever ASSAY_SAMPLES_PER_STEP or a batch's keepSamples asks. */
export const MAX_SAMPLES_PER_STEP = 1024;
/** A kept completion is cut to this many characters (its full length is recorded). */
export const MAX_COMPLETION_CHARS = 4096;
/** A kept item (prompt, reference...) whose canonical JSON is longer is replaced by a cut preview. */
export const MAX_ITEM_CHARS = 8192;
const MAX_REASON_CHARS = 2000;
const MAX_METRICS = 32;

/** One kept sample of a training step, as stored (one JSON line) and as the samples API returns it. */
export interface StepSample {
  batch: string;
  index: number;
  completion: string;
  completionChars: number;
  truncated: boolean;
  item: Record<string, unknown>;
  group: string | number | null;
  score: number;
  valid: boolean;
  reason: string | null;
  metrics: Record<string, { score: number; reason?: string }>;
  error: { code: string; message: string } | null;
}

const cut = (s: string, n: number) => (s.length > n ? `${s.slice(0, n)}…` : s);

function keptItem(item: Record<string, unknown>): Record<string, unknown> {
  const text = JSON.stringify(item);
  return text.length <= MAX_ITEM_CHARS ? item : { _truncated: true, preview: text.slice(0, MAX_ITEM_CHARS) };
}

export function toStepSample(batch: string, index: number, sample: Sample, result: RewardResult): StepSample {
  const metrics: StepSample["metrics"] = {};
  for (const [name, m] of Object.entries(result.metrics ?? {}).slice(0, MAX_METRICS)) {
    metrics[name] = { score: m.score, ...(m.reason ? { reason: cut(m.reason, 500) } : {}) };
  }
  return {
    batch,
    index,
    completion: cut(sample.completion, MAX_COMPLETION_CHARS),
    completionChars: sample.completion.length,
    truncated: sample.completion.length > MAX_COMPLETION_CHARS,
    item: keptItem(sample.item ?? {}),
    group: sample.group ?? null,
    score: result.score,
    valid: result.valid,
    reason: result.reason ? cut(result.reason, MAX_REASON_CHARS) : null,
    metrics,
    error: result.error ? { code: result.error.code, message: cut(result.error.message, 500) } : null,
  };
}

const prefix = (runId: string, step: number) => `samples/${runId}/${step}/`;

/** How many samples a step may keep: ASSAY_SAMPLES_PER_STEP (default and ceiling 1024), lowered per batch. */
export function stepBudget(env: Env, keepSamples?: number): number {
  const configured = Number.parseInt((env as { ASSAY_SAMPLES_PER_STEP?: string }).ASSAY_SAMPLES_PER_STEP ?? "", 10);
  const base = Number.isFinite(configured) && configured >= 0 ? configured : MAX_SAMPLES_PER_STEP;
  return Math.min(MAX_SAMPLES_PER_STEP, base, keepSamples ?? MAX_SAMPLES_PER_STEP);
}

async function keptSoFar(bucket: R2Bucket, runId: string, step: number): Promise<number> {
  let n = 0;
  let cursor: string | undefined;
  do {
    const page = await bucket.list({ prefix: prefix(runId, step), cursor, include: ["customMetadata"] });
    for (const o of page.objects) n += Number(o.customMetadata?.kept ?? 0);
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
  return n;
}

/**
 * Keeps a scored batch's samples, in batch order, up to what is left of the step's budget: one JSONL object
 * per (run, step, batch) in R2, so a retried batch overwrites itself. Two batches of one step racing may
 * together pass the budget by at most one batch; reads still return at most the budget.
 */
export async function keepStepSamples(
  bucket: R2Bucket,
  runId: string,
  step: number,
  batch: string,
  samples: Sample[],
  results: RewardResult[],
  budget: number,
): Promise<number> {
  const left = budget - (await keptSoFar(bucket, runId, step));
  const n = Math.max(0, Math.min(left, samples.length));
  if (n === 0) return 0;
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const s = samples[i];
    const r = results[i];
    if (s && r) lines.push(JSON.stringify(toStepSample(batch, i, s, r)));
  }
  await bucket.put(`${prefix(runId, step)}${batch}.jsonl`, `${lines.join("\n")}\n`, {
    httpMetadata: { contentType: "application/x-ndjson" },
    customMetadata: { kept: String(lines.length) },
  });
  return lines.length;
}

/** Every kept sample of a step, batches in key order, capped at the step budget's ceiling. */
export async function readStepSamples(bucket: R2Bucket, runId: string, step: number): Promise<StepSample[]> {
  const keys: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await bucket.list({ prefix: prefix(runId, step), cursor });
    keys.push(...page.objects.map((o) => o.key));
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
  const out: StepSample[] = [];
  for (const key of keys.sort()) {
    const obj = await bucket.get(key);
    if (!obj) continue;
    for (const line of (await obj.text()).split("\n")) {
      if (line && out.length < MAX_SAMPLES_PER_STEP) out.push(JSON.parse(line) as StepSample);
    }
  }
  return out;
}

export type SampleFilter = "all" | "best" | "worst" | "invalid" | "zero-variance";
export type GroupOutcome = "all-pass" | "all-fail" | "all-equal";

export interface ZeroVarianceGroup {
  group: string | number;
  outcome: GroupOutcome;
  score: number;
  size: number;
}

/** GRPO groups (two or more valid samples) whose rewards are all equal: no learning signal. */
export function zeroVarianceGroups(samples: StepSample[]): ZeroVarianceGroup[] {
  const groups = new Map<string, { group: string | number; scores: number[]; invalid: boolean }>();
  for (const s of samples) {
    if (s.group === null) continue;
    const key = `${typeof s.group}:${s.group}`;
    const g = groups.get(key) ?? { group: s.group, scores: [], invalid: false };
    if (s.valid) g.scores.push(s.score);
    else g.invalid = true;
    groups.set(key, g);
  }
  const out: ZeroVarianceGroup[] = [];
  for (const g of groups.values()) {
    const first = g.scores[0];
    if (first === undefined || g.scores.length < 2 || !g.scores.every((x) => Math.abs(x - first) <= 1e-12)) continue;
    const outcome: GroupOutcome = first >= 1 - 1e-9 ? "all-pass" : first <= 1e-9 ? "all-fail" : "all-equal";
    out.push({ group: g.group, outcome, score: first, size: g.scores.length });
  }
  return out;
}

/** The step's samples chosen and ordered by the filter; ties keep batch order. */
export function filterSamples(samples: StepSample[], filter: SampleFilter): StepSample[] {
  switch (filter) {
    case "all":
      return samples;
    case "best":
      return samples.filter((s) => s.valid).sort((a, b) => b.score - a.score);
    case "worst":
      return samples.filter((s) => s.valid).sort((a, b) => a.score - b.score);
    case "invalid":
      return samples.filter((s) => !s.valid).sort((a, b) => (a.error?.code ?? "").localeCompare(b.error?.code ?? ""));
    case "zero-variance": {
      const zero = new Map(zeroVarianceGroups(samples).map((g) => [`${typeof g.group}:${g.group}`, g.outcome]));
      const rank: Record<GroupOutcome, number> = { "all-pass": 0, "all-fail": 1, "all-equal": 2 };
      return samples
        .filter((s) => s.valid && s.group !== null && zero.has(`${typeof s.group}:${s.group}`))
        .sort((a, b) => {
          const ka = `${typeof a.group}:${a.group}`;
          const kb = `${typeof b.group}:${b.group}`;
          return rank[zero.get(ka)!] - rank[zero.get(kb)!] || ka.localeCompare(kb);
        });
    }
  }
}

export function encodeOffset(offset: number): string {
  return btoa(`o:${offset}`).replaceAll("=", "");
}

export function decodeOffset(cursor: string): number {
  try {
    const m = /^o:(\d{1,7})$/.exec(atob(cursor));
    if (m) return Number(m[1]);
  } catch {}
  throw new ApiError("BAD_REQUEST", "malformed cursor", [{ path: ["cursor"], message: "not a cursor from this API" }]);
}
