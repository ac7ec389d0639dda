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
  type ChunkFile,
  type ChunkRecord,
  type CurationReport,
  curate,
  guardConfig,
  hasherFor,
  nearOf,
} from "./curate";
import { type CurationEvent, dedupText, hasSignal } from "./formats";
import { datasetKeys, holdoutIndex, PermanentCurationError, readJsonl } from "./holdout";
import { encodeKeys, exactKey, lshKeys, normalizeText, shingleSet } from "./minhash";
import { type CurationRequest, CurationSpec } from "./spec";

export type { CurationReport } from "./curate";

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

export const STALL_MS = 5 * 60_000;
export const MAX_RESUMES = 5;

const chunkKey = (id: string, k: number) => `curations/${id}/chunks/${k}.json`;
const toMs = (t: string | number | undefined): number | null =>
  t === undefined ? null : typeof t === "number" ? t : Date.parse(t);

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
