/**
 * The curation job: a slice of feedback → a new immutable dataset version, run through the Queue.
 *
 * Phase "scan", one Queue message per chunk of events (in id order, after a cursor): each event is turned
 * into a compact record (what the row needs, the exact-dedup key, the LSH band keys of its text, and
 * whether its prompt is in the guarded holdout) and the chunk's records are written to R2 under the
 * chunk's index. The curation's state then advances with a compare-and-set on (chunk index, progress):
 * a redelivered or concurrent message for a chunk that already advanced changes nothing, and a crash
 * between the R2 write and the state update reprocesses the chunk into the same R2 key, so no record is
 * ever counted twice. Phase "finish", one message: all records are read back, deduplicated (exact, then
 * MinHash/LSH + exact Jaccard, union-find, earliest event kept), turned into rows, and written through the
 * dataset store with a dataset id fixed in the state before any write, so a retried finish rewrites the
 * same objects and inserts the dataset row once.
 */
import { and, asc, count, eq, gt, gte, inArray, lt, lte, sql } from "drizzle-orm";
import type { Db } from "../../../db/client";
import { type DatasetRow, getDataset } from "../../../db/queries/datasets";
import { curations, datasets, feedbackEvents, feedbackSources } from "../../../db/schema";
import { canonicalJson } from "../../../rewards/core/canonical";
import { type RowToStore, storeRows } from "../datasets-ingest";
import { ApiError, notFound, zodIssues } from "../errors";
import { newId } from "../ids";
import type { JobMessage } from "../training";
import {
  buildRows,
  type CurationEvent,
  decideFormat,
  dedupText,
  type Format,
  type FormatDecision,
  hasSignal,
  type KeptEvent,
  rowPromptText,
} from "./formats";
import {
  candidateProbability,
  clusterNear,
  decodeKeys,
  encodeKeys,
  exactKey,
  groups,
  jaccard,
  lshKeys,
  MinHasher,
  type NearConfig,
  nearConfig,
  normalizeText,
  shingleSet,
} from "./minhash";
import { type CurationRequest, CurationSpec } from "./spec";

export type CurationRow = typeof curations.$inferSelect;

/** The resumable position of a curation, in `curations.state`. */
export interface CurationState {
  phase: "scan" | "finish";
  /** Index of the next chunk to scan (in "finish": how many chunks there are). */
  chunk: number;
  /** Id of the last event of the previous chunk. */
  cursor: string | null;
  /** Received-at bounds of the slice, frozen at creation so the slice cannot grow while it is read. */
  since: number | null;
  until: number;
  /** The output dataset's id, fixed when the finish phase starts. */
  datasetId?: string;
  /** How often the cron had to restart a stalled job. */
  resumes?: number;
}

/** One scanned event, as stored in a chunk file. */
interface ChunkRecord extends CurationEvent {
  /** Exact-dedup key of the normalised dedup text. */
  x: string;
  /** LSH band keys (base64 uint32s); absent when near dedup is off. */
  k?: string;
  /** Why the prompt is contaminated, when it is. */
  c?: "exact" | "near";
}

interface ChunkFile {
  chunk: number;
  events: number;
  noSignal: number;
  redacted: Record<string, number>;
  records: ChunkRecord[];
}

export interface CurationReport {
  input: number;
  output: number;
  dropped: { duplicate: number; nearDuplicate: number; contaminated: number; invalid: number; noSignal: number };
  invalidReasons: Record<string, number>;
  contamination: { exact: number; near: number; holdoutOf: string | null; holdoutPrompts: number };
  redacted: Record<string, number>;
  format: Format;
  reason: string;
  recommendation?: FormatDecision["recommendation"];
  baseRows: number;
  dedup: {
    exact: boolean;
    near:
      | false
      | {
          threshold: number;
          ngram: number;
          permutations: number;
          bands: number;
          rows: number;
          candidateProbabilityAtThreshold: number;
          candidatePairs: number;
        };
  };
  lineage: { feedbackCount: number; sources: Record<string, number> };
}

/** A curation's failure that retrying cannot fix (a missing dataset object, a holdout too large). */
export class PermanentCurationError extends Error {}

/** At most this many holdout prompts are indexed for the contamination guard. */
export const MAX_HOLDOUT_PROMPTS = 100_000;
/** A job not advanced for this long is restarted by the cron; after MAX_RESUMES restarts it fails. */
export const STALL_MS = 5 * 60_000;
export const MAX_RESUMES = 5;

const chunkKey = (id: string, k: number) => `curations/${id}/chunks/${k}.json`;
const datasetKeys = (id: string) => ({
  original: `datasets/${id}/original.jsonl`,
  train: `datasets/${id}/train.jsonl`,
  holdout: `datasets/${id}/holdout.jsonl`,
});

const toMs = (t: string | number | undefined): number | null =>
  t === undefined ? null : typeof t === "number" ? t : Date.parse(t);

function nearOf(spec: CurationSpec): NearConfig | null {
  return spec.dedup.near === false ? null : nearConfig(spec.dedup.near);
}

/** The contamination guard compares prompts with the dedup settings, or the defaults when near dedup is off. */
function guardConfig(spec: CurationSpec): NearConfig {
  return nearOf(spec) ?? nearConfig();
}

/**
 * Validates a curation request and stores it as a queued job, without enqueueing it. Throws ApiError 400
 * for an invalid spec and 404 for an unknown `base` or `holdoutOf`.
 */
export async function prepareCuration(
  db: Db,
  projectId: string,
  request: CurationRequest | unknown,
  now = Date.now(),
  opts: { id?: string } = {},
): Promise<CurationRow> {
  const parsed = CurationSpec.safeParse(request);
  if (!parsed.success)
    throw new ApiError("BAD_REQUEST", "curation spec failed validation", zodIssues(parsed.error.issues));
  const spec = parsed.data;
  for (const id of [spec.base, spec.holdoutOf]) {
    if (id && !(await getDataset(db, projectId, id))) throw notFound("dataset", id);
  }
  const since = toMs(spec.feedback.since);
  const until = toMs(spec.feedback.until) ?? now;
  const filter = sliceFilter(projectId, spec, { since, until });
  const [{ n } = { n: 0 }] = await db.select({ n: count() }).from(feedbackEvents).where(filter);
  const state: CurationState = { phase: "scan", chunk: 0, cursor: null, since, until };
  const row: CurationRow = {
    id: opts.id ?? newId("cur", now),
    projectId,
    name: spec.name ?? null,
    spec: spec as unknown as Record<string, unknown>,
    status: "queued",
    progressDone: 0,
    progressTotal: n,
    state: state as unknown as Record<string, unknown>,
    datasetId: null,
    report: null,
    error: null,
    createdAt: now,
    updatedAt: now,
  };
  // A caller that reserved the id (a retraining cycle) may prepare twice: the second insert is a no-op.
  await db.insert(curations).values(row).onConflictDoNothing();
  return row;
}

/**
 * Starts a curation: validates the spec, records the job and enqueues its first chunk. The retraining
 * cycle calls this with its policy's curation settings and the feedback slice since the last cycle.
 *
 * @example
 * const { id } = await createCuration(db, env, "prj_default", {
 *   feedback: { source: "fs_…", since: lastCycleAt },
 *   into: "auto",
 *   base: champion.datasetId, // keeps the champion's holdout frozen and guards against it
 * });
 */
export async function createCuration(
  db: Db,
  env: Pick<Env, "JOBS">,
  projectId: string,
  request: CurationRequest,
): Promise<{ id: string; status: "queued" }> {
  const row = await prepareCuration(db, projectId, request);
  await env.JOBS.send({ type: "curate", curationId: row.id, chunk: 0 } satisfies JobMessage);
  return { id: row.id, status: "queued" };
}

/** The sources a curation reads: `source` and `sources` together; none means every source. */
function sourcesOf(spec: CurationSpec): string[] {
  return [...new Set([...(spec.feedback.source ? [spec.feedback.source] : []), ...(spec.feedback.sources ?? [])])];
}

function sliceFilter(projectId: string, spec: CurationSpec, bounds: { since: number | null; until: number }) {
  return and(
    eq(feedbackEvents.projectId, projectId),
    sourcesOf(spec).length ? inArray(feedbackEvents.sourceId, sourcesOf(spec)) : undefined,
    spec.feedback.model ? eq(feedbackEvents.model, spec.feedback.model) : undefined,
    bounds.since !== null ? gte(feedbackEvents.receivedAt, bounds.since) : undefined,
    lte(feedbackEvents.receivedAt, bounds.until),
  );
}

export async function getCuration(db: Db, projectId: string, id: string): Promise<CurationRow | null> {
  const [row] = await db
    .select()
    .from(curations)
    .where(and(eq(curations.id, id), eq(curations.projectId, projectId)))
    .limit(1);
  return row ?? null;
}

/** Moves the job forward only if nobody else did since `from` was read (same chunk, same progress). */
async function advance(db: Db, from: CurationRow, set: Partial<CurationRow>): Promise<boolean> {
  const st = from.state as unknown as CurationState;
  const res = await db
    .update(curations)
    .set({ ...set, updatedAt: Date.now() })
    .where(
      and(
        eq(curations.id, from.id),
        eq(curations.progressDone, from.progressDone),
        sql`json_extract(${curations.state}, '$.chunk') = ${st.chunk}`,
        sql`json_extract(${curations.state}, '$.phase') = ${st.phase}`,
        inArray(curations.status, ["queued", "running"]),
      ),
    )
    .returning({ id: curations.id });
  return res.length === 1;
}

async function fail(db: Db, id: string, message: string) {
  await db
    .update(curations)
    .set({ status: "failed", error: message, updatedAt: Date.now() })
    .where(and(eq(curations.id, id), inArray(curations.status, ["queued", "running"])));
}

/**
 * One Queue delivery of `{ type: "curate", curationId, chunk? }`: scans the next chunk, or finishes.
 * Returns the message for the next step (the caller sends it), or null when there is none: the job
 * ended, or this delivery was stale (its chunk already advanced) or lost the race to a concurrent one.
 */
export async function runCurationStep(
  db: Db,
  env: Pick<Env, "BLOBS">,
  id: string,
  chunk?: number,
): Promise<JobMessage | null> {
  const [cur] = await db.select().from(curations).where(eq(curations.id, id)).limit(1);
  if (!cur || (cur.status !== "queued" && cur.status !== "running")) return null;
  const state = cur.state as unknown as CurationState;
  // A message sent for an earlier chunk was already handled (a redelivery): only the current step runs.
  if (chunk !== undefined && chunk < state.chunk) return null;
  const spec = CurationSpec.parse(cur.spec);
  try {
    if (state.phase === "scan") return await scanChunk(db, env, cur, spec, state);
    await finish(db, env, cur, spec, state);
    return null;
  } catch (err) {
    if (err instanceof PermanentCurationError) {
      await fail(db, id, err.message);
      return null;
    }
    throw err;
  }
}

async function scanChunk(
  db: Db,
  env: Pick<Env, "BLOBS">,
  cur: CurationRow,
  spec: CurationSpec,
  state: CurationState,
): Promise<JobMessage | null> {
  const events = await db
    .select()
    .from(feedbackEvents)
    .where(and(sliceFilter(cur.projectId, spec, state), state.cursor ? gt(feedbackEvents.id, state.cursor) : undefined))
    .orderBy(asc(feedbackEvents.id))
    .limit(spec.chunkSize);

  if (events.length > 0) {
    const file = await scanEvents(env, spec, state.chunk, events);
    await env.BLOBS.put(chunkKey(cur.id, state.chunk), JSON.stringify(file), {
      httpMetadata: { contentType: "application/json" },
    });
  }
  const last = events.length < spec.chunkSize;
  const next: CurationState = last
    ? { ...state, phase: "finish", chunk: state.chunk + (events.length > 0 ? 1 : 0), datasetId: newId("ds") }
    : { ...state, chunk: state.chunk + 1, cursor: events.at(-1)!.id };
  const won = await advance(db, cur, {
    status: "running",
    progressDone: cur.progressDone + events.length,
    progressTotal: Math.max(cur.progressTotal, cur.progressDone + events.length),
    state: next as unknown as Record<string, unknown>,
  });
  return won ? { type: "curate", curationId: cur.id, chunk: next.chunk } : null;
}

type EventRow = typeof feedbackEvents.$inferSelect;

function toCurationEvent(e: EventRow): CurationEvent {
  return {
    id: e.id,
    sourceId: e.sourceId,
    occurredAt: e.occurredAt,
    input: e.input,
    inputText: e.inputText,
    output: e.output,
    rating: e.rating,
    ratingValue: e.ratingValue,
    correction: e.correction,
    reference: e.reference ?? null,
    redactions: e.redactions ?? {},
  };
}

async function scanEvents(
  env: Pick<Env, "BLOBS">,
  spec: CurationSpec,
  chunk: number,
  rows: EventRow[],
): Promise<ChunkFile> {
  const near = nearOf(spec);
  const hasher = near ? hasherFor(near) : null;
  const guardId = spec.holdoutOf ?? spec.base;
  const guard = guardId ? await holdoutIndex(env, guardId, guardConfig(spec)) : null;
  const file: ChunkFile = { chunk, events: rows.length, noSignal: 0, redacted: {}, records: [] };
  for (const row of rows) {
    const e = toCurationEvent(row);
    for (const [kind, n] of Object.entries(e.redactions)) file.redacted[kind] = (file.redacted[kind] ?? 0) + n;
    if (!hasSignal(e)) {
      file.noSignal++;
      continue;
    }
    const text = normalizeText(dedupText(e));
    const rec: ChunkRecord = { ...e, x: exactKey(text) };
    if (near && hasher) rec.k = encodeKeys(lshKeys(shingleSet(text, near.ngram), hasher, near));
    const c = guard?.check(e.inputText);
    if (c) rec.c = c;
    file.records.push(rec);
  }
  return file;
}

const hashers = new Map<string, MinHasher>();
function hasherFor(cfg: NearConfig): MinHasher {
  const key = `${cfg.permutations}:${cfg.seed}`;
  let h = hashers.get(key);
  if (!h) {
    h = new MinHasher(cfg.permutations, cfg.seed);
    hashers.set(key, h);
  }
  return h;
}

// ---------------------------------------------------------------- contamination guard

export interface HoldoutIndex {
  prompts: number;
  /** "exact" or "near" when the prompt duplicates a holdout prompt, else null. */
  check(prompt: string): "exact" | "near" | null;
}

/** Index of a frozen holdout's prompts. Datasets are immutable, so an isolate may keep it. */
const holdoutCache = new Map<string, Promise<HoldoutIndex>>();

async function holdoutIndex(env: Pick<Env, "BLOBS">, datasetId: string, cfg: NearConfig): Promise<HoldoutIndex> {
  const key = `${datasetId}:${cfg.threshold}:${cfg.ngram}:${cfg.permutations}`;
  let p = holdoutCache.get(key);
  if (!p) {
    p = buildHoldoutIndex(env, datasetId, cfg);
    holdoutCache.set(key, p);
    p.catch(() => holdoutCache.delete(key));
  }
  return p;
}

async function readJsonl(bucket: R2Bucket, key: string, what: string): Promise<Record<string, unknown>[]> {
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

async function finish(db: Db, env: Pick<Env, "BLOBS">, cur: CurationRow, spec: CurationSpec, state: CurationState) {
  const datasetId = state.datasetId!;
  const files: ChunkFile[] = [];
  for (let k = 0; k < state.chunk; k++) {
    const obj = await env.BLOBS.get(chunkKey(cur.id, k));
    if (!obj) throw new PermanentCurationError(`chunk ${k} of ${cur.id} is missing from storage`);
    files.push((await obj.json()) as ChunkFile);
  }
  const base = spec.base ? await getDataset(db, cur.projectId, spec.base) : null;
  if (spec.base && !base) throw new PermanentCurationError(`base dataset ${spec.base} no longer exists`);
  const guardId = spec.holdoutOf ?? spec.base ?? null;
  const guard = guardId ? await holdoutIndex(env, guardId, guardConfig(spec)) : null;

  const result = curate(files, spec);
  const baseRows = base ? await baseRowsOf(env, base) : [];
  const baseKeys = new Set(baseRows.map((r) => contentKey(r.row)));
  const fresh = result.rows.filter((r) => !baseKeys.has(contentKey(r.row)));
  result.report.dropped.duplicate += result.rows.length - fresh.length;
  result.report.output = fresh.length;
  result.report.baseRows = baseRows.length;
  result.report.contamination.holdoutOf = guardId;
  result.report.contamination.holdoutPrompts = guard?.prompts ?? 0;

  const ids = new Set<string>();
  const sources: Record<string, number> = {};
  for (const r of baseRows) {
    const fb = (r.row.meta as { feedback?: unknown } | undefined)?.feedback;
    if (Array.isArray(fb)) for (const f of fb) if (typeof f === "string") ids.add(f);
  }
  if (base?.curationId) {
    const [bc] = await db.select({ report: curations.report }).from(curations).where(eq(curations.id, base.curationId));
    const prev = (bc?.report as CurationReport | null)?.lineage?.sources ?? {};
    for (const [s, n] of Object.entries(prev)) sources[s] = (sources[s] ?? 0) + n;
  }
  for (const r of fresh) {
    for (const f of r.feedback) ids.add(f);
    for (const s of r.sources) sources[s] = (sources[s] ?? 0) + 1;
  }
  result.report.lineage = { feedbackCount: ids.size, sources };

  if (baseRows.length + fresh.length === 0) {
    await db
      .update(curations)
      .set({
        status: "failed",
        error: "the feedback slice gave no rows for this format; see the report for what was dropped",
        report: result.report as unknown as Record<string, unknown>,
        updatedAt: Date.now(),
      })
      .where(and(eq(curations.id, cur.id), inArray(curations.status, ["queued", "running"])));
    await env.BLOBS.delete(files.map((_, k) => chunkKey(cur.id, k))).catch(() => {});
    return;
  }
  const rows: RowToStore[] = [
    ...baseRows,
    ...fresh.map((r) => ({ row: { ...r.row, meta: { feedback: r.feedback } } })),
  ];
  const keys = datasetKeys(datasetId);
  const holdoutFraction = base?.holdoutFraction ?? 0.1;
  const stored = await storeRows(rows, { bucket: env.BLOBS, keys, holdoutFraction });
  const dataset: DatasetRow = {
    id: datasetId,
    projectId: cur.projectId,
    name: spec.name ?? cur.name ?? `curation ${cur.id}`,
    sha256: stored.sha256,
    rows: stored.rows,
    bytes: stored.bytes,
    trainRows: stored.trainRows,
    holdoutRows: stored.holdoutRows,
    holdoutFraction,
    objectKey: keys.original,
    trainKey: keys.train,
    holdoutKey: keys.holdout,
    stats: stored.stats,
    parentId: base?.id ?? null,
    curationId: cur.id,
    createdAt: Date.now(),
  };
  await db.batch([
    db.insert(datasets).values(dataset).onConflictDoNothing(),
    db
      .update(curations)
      .set({
        status: "succeeded",
        datasetId,
        report: result.report as unknown as Record<string, unknown>,
        progressDone: cur.progressDone,
        updatedAt: Date.now(),
      })
      .where(and(eq(curations.id, cur.id), inArray(curations.status, ["queued", "running"]))),
  ]);
  // The chunk files were only the job's working state.
  await env.BLOBS.delete(files.map((_, k) => chunkKey(cur.id, k))).catch(() => {});
}

const contentKey = (row: Record<string, unknown>) => {
  const { meta: _meta, ...content } = row;
  return canonicalJson(content);
};

async function baseRowsOf(env: Pick<Env, "BLOBS">, base: DatasetRow): Promise<RowToStore[]> {
  const train = await readJsonl(env.BLOBS, base.trainKey, `train split of ${base.id}`);
  const holdout = await readJsonl(env.BLOBS, base.holdoutKey, `holdout split of ${base.id}`);
  return [
    ...train.map((row) => ({ row, split: "train" as const })),
    ...holdout.map((row) => ({ row, split: "holdout" as const })),
  ];
}

export interface CurateResult {
  rows: { row: Record<string, unknown>; feedback: string[]; sources: string[] }[];
  report: CurationReport;
}

/**
 * The in-memory half of the job, given every chunk's records: contamination, exact dedup, near dedup,
 * format choice and rows. Exported for the bench, which runs it at 100,000 events in one process.
 */
export function curate(files: ChunkFile[], spec: CurationSpec): CurateResult {
  const near = nearOf(spec);
  const report: CurationReport = {
    input: 0,
    output: 0,
    dropped: { duplicate: 0, nearDuplicate: 0, contaminated: 0, invalid: 0, noSignal: 0 },
    invalidReasons: {},
    contamination: { exact: 0, near: 0, holdoutOf: spec.holdoutOf ?? spec.base ?? null, holdoutPrompts: 0 },
    redacted: {},
    format: "sft",
    reason: "",
    baseRows: 0,
    dedup: { exact: spec.dedup.exact, near: false },
    lineage: { feedbackCount: 0, sources: {} },
  };
  let records: ChunkRecord[] = [];
  for (const f of files) {
    report.input += f.events;
    report.dropped.noSignal += f.noSignal;
    for (const [k, n] of Object.entries(f.redacted)) report.redacted[k] = (report.redacted[k] ?? 0) + n;
    for (const r of f.records) {
      if (r.c) {
        report.dropped.contaminated++;
        report.contamination[r.c]++;
      } else records.push(r);
    }
  }
  // Precedence: the earliest event of a cluster is the one kept.
  records.sort((a, b) => a.occurredAt - b.occurredAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));

  let kept: { rec: ChunkRecord; feedback: string[]; sources: string[] }[] = [];
  if (spec.dedup.exact) {
    const first = new Map<string, number>();
    for (const rec of records) {
      const at = first.get(rec.x);
      if (at === undefined) {
        first.set(rec.x, kept.length);
        kept.push({ rec, feedback: [rec.id], sources: [rec.sourceId] });
      } else {
        kept[at]!.feedback.push(rec.id);
        kept[at]!.sources.push(rec.sourceId);
        report.dropped.duplicate++;
      }
    }
  } else kept = records.map((rec) => ({ rec, feedback: [rec.id], sources: [rec.sourceId] }));
  records = [];

  if (near) {
    const keys = kept.map((k) => (k.rec.k ? decodeKeys(k.rec.k) : new Uint32Array(0)));
    const res = clusterNear(keys, (i) => shingleSet(normalizeText(dedupText(kept[i]!.rec)), near.ngram), near);
    const merged: typeof kept = [];
    for (const g of groups(res.clusters, kept.length)) {
      const head = kept[g[0]!]!;
      for (const i of g.slice(1)) {
        head.feedback.push(...kept[i]!.feedback);
        head.sources.push(...kept[i]!.sources);
        report.dropped.nearDuplicate += kept[i]!.feedback.length;
      }
      merged.push(head);
    }
    kept = merged;
    report.dedup.near = {
      threshold: near.threshold,
      ngram: near.ngram,
      permutations: near.permutations,
      bands: near.bands,
      rows: near.rows,
      candidateProbabilityAtThreshold: Number(candidateProbability(near.threshold, near.bands, near.rows).toFixed(4)),
      candidatePairs: res.candidates,
    };
  }

  const keptEvents: KeptEvent[] = kept.map((k) => ({ event: k.rec, feedback: k.feedback }));
  let format: Format;
  if (spec.into === "auto") {
    const d = decideFormat(keptEvents);
    format = d.format;
    report.reason = d.reason;
    report.recommendation = d.recommendation;
  } else {
    format = spec.into;
    report.reason = `requested: into "${spec.into}"`;
  }
  report.format = format;
  const built = buildRows(keptEvents, format);
  const sourcesById = new Map<string, string>();
  for (const k of kept) {
    for (let i = 0; i < k.feedback.length; i++) sourcesById.set(k.feedback[i]!, k.sources[i]!);
  }
  for (const [reason, n] of Object.entries(built.invalid)) {
    report.invalidReasons[reason] = n;
    report.dropped.invalid += n;
  }
  // A row's feedback lists each merged event once; a DPO pair lists both sides' events.
  const rows = built.rows.map((r) => ({
    row: r.row,
    feedback: r.feedback,
    sources: r.feedback.map((f) => sourcesById.get(f)!),
  }));
  report.output = rows.length;
  return { rows, report };
}

// ---------------------------------------------------------------- cron

/**
 * Restarts curations that stopped advancing (every Queue retry of a step failed, or a message was lost):
 * the step is idempotent, so sending its message again is safe. After MAX_RESUMES restarts the job fails.
 */
export async function resumeStalledCurations(db: Db, env: Pick<Env, "JOBS">, now = Date.now()) {
  const stalled = await db
    .select()
    .from(curations)
    .where(and(inArray(curations.status, ["queued", "running"]), lt(curations.updatedAt, now - STALL_MS)))
    .limit(50);
  for (const cur of stalled) {
    const state = cur.state as unknown as CurationState;
    const resumes = (state.resumes ?? 0) + 1;
    if (resumes > MAX_RESUMES) {
      await fail(db, cur.id, `the job stopped advancing ${MAX_RESUMES} times; the last step kept failing`);
      continue;
    }
    const updated = await db
      .update(curations)
      .set({ state: { ...state, resumes } as unknown as Record<string, unknown>, updatedAt: now })
      .where(and(eq(curations.id, cur.id), eq(curations.updatedAt, cur.updatedAt)))
      .returning({ id: curations.id });
    if (updated.length === 1) {
      await env.JOBS.send({ type: "curate", curationId: cur.id, chunk: state.chunk } satisfies JobMessage);
    }
  }
}

/** Names of feedback sources, for lineage. */
export async function sourceNames(db: Db, projectId: string, ids: string[]): Promise<Map<string, string>> {
  const real = ids.filter((i) => i !== "");
  if (real.length === 0) return new Map();
  const rows = await db
    .select({ id: feedbackSources.id, name: feedbackSources.name })
    .from(feedbackSources)
    .where(and(eq(feedbackSources.projectId, projectId), inArray(feedbackSources.id, real.slice(0, 90))));
  return new Map(rows.map((r) => [r.id, r.name]));
}
