/** What the curation job reads from stored datasets: JSONL splits and the contamination guard's holdout index. */
import { hasherFor } from "./curate";
import { rowPromptText } from "./formats";
import { exactKey, jaccard, lshKeys, type NearConfig, normalizeText, shingleSet } from "./minhash";

/** A curation's failure that retrying cannot fix (a missing dataset object, a holdout too large). */
export class PermanentCurationError extends Error {}

/** At most this many holdout prompts are indexed for the contamination guard. */
export const MAX_HOLDOUT_PROMPTS = 100_000;

export const datasetKeys = (id: string) => ({
  original: `datasets/${id}/original.jsonl`,
  train: `datasets/${id}/train.jsonl`,
  holdout: `datasets/${id}/holdout.jsonl`,
});

// ---------------------------------------------------------------- contamination guard

export interface HoldoutIndex {
  prompts: number;
  /** "exact" or "near" when the prompt duplicates a holdout prompt, else null. */
  check(prompt: string): "exact" | "near" | null;
}

/** Index of a frozen holdout's prompts. Datasets are immutable, so an isolate may keep it. */
const holdoutCache = new Map<string, Promise<HoldoutIndex>>();

export async function holdoutIndex(env: Pick<Env, "BLOBS">, datasetId: string, cfg: NearConfig): Promise<HoldoutIndex> {
  const key = `${datasetId}:${cfg.threshold}:${cfg.ngram}:${cfg.permutations}`;
  let p = holdoutCache.get(key);
  if (!p) {
    p = buildHoldoutIndex(env, datasetId, cfg);
    holdoutCache.set(key, p);
    p.catch(() => holdoutCache.delete(key));
  }
  return p;
}

export async function readJsonl(bucket: R2Bucket, key: string, what: string): Promise<Record<string, unknown>[]> {
  const obj = await bucket.get(key);
  if (!obj) throw new PermanentCurationError(`the ${what} is missing from storage (${key})`);
  const out: Record<string, unknown>[] = [];
  for (const line of (await obj.text()).split("\n")) {
    if (line.trim()) out.push(JSON.parse(line) as Record<string, unknown>);
  }
  return out;
}

async function buildHoldoutIndex(env: Pick<Env, "BLOBS">, datasetId: string, cfg: NearConfig): Promise<HoldoutIndex> {
  // The route checked the dataset exists; its row is not needed here, only its holdout object.
  const rows = await readJsonl(env.BLOBS, datasetKeys(datasetId).holdout, `holdout of ${datasetId}`);
  if (rows.length > MAX_HOLDOUT_PROMPTS) {
    throw new PermanentCurationError(`the holdout of ${datasetId} has more than ${MAX_HOLDOUT_PROMPTS} rows`);
  }
  const hasher = hasherFor(cfg);
  const exact = new Set<string>();
  const shingles: Uint32Array[] = [];
  const buckets: Map<number, number[]>[] = Array.from({ length: cfg.bands }, () => new Map());
  for (const row of rows) {
    const p = rowPromptText(row);
    if (p === null) continue;
    const text = normalizeText(p);
    if (!text) continue;
    exact.add(exactKey(text));
    const s = shingleSet(text, cfg.ngram);
    const idx = shingles.push(s) - 1;
    const keys = lshKeys(s, hasher, cfg);
    for (let b = 0; b < keys.length; b++) {
      const m = buckets[b]!;
      const list = m.get(keys[b]!);
      if (list) list.push(idx);
      else m.set(keys[b]!, [idx]);
    }
  }
  return {
    prompts: shingles.length,
    check(prompt: string) {
      const text = normalizeText(prompt);
      if (!text) return null;
      if (exact.has(exactKey(text))) return "exact";
      if (shingles.length === 0) return null;
      const s = shingleSet(text, cfg.ngram);
      const keys = lshKeys(s, hasher, cfg);
      const seen = new Set<number>();
      for (let b = 0; b < keys.length; b++) {
        for (const i of buckets[b]!.get(keys[b]!) ?? []) {
          if (seen.has(i)) continue;
          seen.add(i);
          if (jaccard(s, shingles[i]!) >= cfg.threshold) return "near";
        }
      }
      return null;
    },
  };
}

// ---------------------------------------------------------------- finish
