import { and, desc, eq, gte, inArray, lt, or } from "drizzle-orm";
import type { Db } from "../../db/client";
import { currentChampion } from "../../db/queries/champions";
import { getDataset } from "../../db/queries/datasets";
import { getRun } from "../../db/queries/runs";
import { driftChecks, experimentMonitoring, feedbackEvents, feedbackSources } from "../../db/schema";
import { fireOnDrift } from "./cycle-triggers";
import { readRows } from "./datasets-rows";
import { compareDrift, type DriftInput, type DriftReport } from "./drift";
import { ApiError } from "./errors";
import { emitEventSafely } from "./events";
import { newId } from "./ids";

/** Inputs read per side at most: the newest events of the window, the first rows of the train split. */
export const MAX_DRIFT_INPUTS = 50_000;
/** Events read from D1 per query (the rows carry whole inputs). */
const EVENT_PAGE = 2_000;

export type MonitoringConfig = typeof experimentMonitoring.$inferSelect;

/** "30m", "24h", "7d" → ms; between 5 minutes and 30 days. */
export function parseWindow(w: string): number | null {
  const m = /^(\d{1,5})(m|h|d)$/.exec(w);
  if (!m) return null;
  const ms = Number(m[1]) * { m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as "m" | "h" | "d"];
  return ms >= 300_000 && ms <= 30 * 86_400_000 ? ms : null;
}

/** The champion's training dataset: the default drift reference once an experiment has a champion. */
export async function championTrainingDataset(db: Db, projectId: string, experimentId: string): Promise<string | null> {
  const champion = await currentChampion(db, projectId, experimentId);
  if (!champion) return null;
  const run = await getRun(db, projectId, champion.runId);
  return run?.datasetId ?? null;
}

/** The text a dataset row asks the model about: input, prompt, messages, question, query, instruction, text. */
export function rowInputText(row: Record<string, unknown>): string | null {
  for (const field of ["input", "prompt", "messages", "question", "query", "instruction", "text"]) {
    const v = row[field];
    if (typeof v === "string") return v;
    if (Array.isArray(v)) {
      const parts = v
        .map((m) =>
          m && typeof m === "object" && typeof (m as { content?: unknown }).content === "string"
            ? (m as { content: string }).content
            : null,
        )
        .filter((s): s is string => s !== null);
      if (parts.length > 0) return parts.join("\n");
    }
  }
  return null;
}

const numberArray = (v: unknown): number[] | null =>
  Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === "number" && Number.isFinite(x)) ? v : null;

export async function referenceInputs(env: Env, db: Db, projectId: string, datasetId: string): Promise<DriftInput[]> {
  const ds = await getDataset(db, projectId, datasetId);
  if (!ds) throw new ApiError("CONFLICT", `the drift reference dataset ${datasetId} no longer exists`);
  const out: DriftInput[] = [];
  let cursor: string | undefined;
  do {
    const page = await readRows(env.BLOBS, ds.trainKey, "train", { cursor, limit: 1000 });
    if (!page) throw new ApiError("UPSTREAM_FAILED", `the train split of ${datasetId} is missing from storage`);
    for (const row of page.data) {
      const text = rowInputText(row);
      if (text === null) continue;
      out.push({
        text,
        rating: typeof row.rating === "string" || typeof row.rating === "number" ? row.rating : null,
        labels: Array.isArray(row.labels) ? row.labels.filter((l): l is string => typeof l === "string") : null,
        embedding: numberArray(row.embedding),
      });
      if (out.length >= MAX_DRIFT_INPUTS) return out;
    }
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return out;
}

/** The feedback sources whose events are an experiment's production inputs. */
export async function monitoredSources(
  db: Db,
  projectId: string,
  experimentId: string,
  config: MonitoringConfig | null,
) {
  if (config?.sources?.length) return config.sources;
  const rows = await db
    .select({ id: feedbackSources.id })
    .from(feedbackSources)
    .where(and(eq(feedbackSources.projectId, projectId), eq(feedbackSources.experimentId, experimentId)));
  return rows.map((r) => r.id);
}

export async function currentInputs(db: Db, projectId: string, sources: string[], from: number, to: number) {
  const out: DriftInput[] = [];
  if (sources.length === 0) return out;
  // Newest first, keyset-paged by (occurredAt, id), so the cap keeps the most recent inputs of the window.
  let after: { at: number; id: string } | null = null;
  while (out.length < MAX_DRIFT_INPUTS) {
    const rows: {
      id: string;
      inputText: string;
      rating: string | null;
      ratingValue: number | null;
      labels: string[] | null;
      embedding: number[] | null;
      occurredAt: number;
    }[] = await db
      .select({
        id: feedbackEvents.id,
        inputText: feedbackEvents.inputText,
        rating: feedbackEvents.rating,
        ratingValue: feedbackEvents.ratingValue,
        labels: feedbackEvents.labels,
        embedding: feedbackEvents.embedding,
        occurredAt: feedbackEvents.occurredAt,
      })
      .from(feedbackEvents)
      .where(
        and(
          eq(feedbackEvents.projectId, projectId),
          inArray(feedbackEvents.sourceId, sources),
          gte(feedbackEvents.occurredAt, from),
          after
            ? or(
                lt(feedbackEvents.occurredAt, after.at),
                and(eq(feedbackEvents.occurredAt, after.at), lt(feedbackEvents.id, after.id)),
              )
            : lt(feedbackEvents.occurredAt, to),
        ),
      )
      .orderBy(desc(feedbackEvents.occurredAt), desc(feedbackEvents.id))
      .limit(Math.min(EVENT_PAGE, MAX_DRIFT_INPUTS - out.length));
    for (const r of rows) {
      out.push({
        text: r.inputText,
        rating: r.rating === "up" || r.rating === "down" ? r.rating : r.ratingValue,
        labels: r.labels,
        embedding: numberArray(r.embedding),
      });
    }
    const last = rows[rows.length - 1];
    if (!last || rows.length < EVENT_PAGE) break;
    after = { at: last.occurredAt, id: last.id };
  }
  return out;
}

export interface DriftResult {
  experimentId: string;
  reference: { dataset: string; n: number };
  current: { from: string; to: string; n: number; sources: string[] };
  window: string;
  features: DriftReport["features"];
  drifted: boolean;
  method: string;
  skipped: DriftReport["skipped"];
  embedding: DriftReport["embedding"];
  alpha: number;
}

export async function getMonitoring(db: Db, projectId: string, experimentId: string) {
  const [row] = await db
    .select()
    .from(experimentMonitoring)
    .where(and(eq(experimentMonitoring.experimentId, experimentId), eq(experimentMonitoring.projectId, projectId)))
    .limit(1);
  return row ?? null;
}

/** Computes the drift report of one window. Throws CONFLICT when the experiment has no reference. */
export async function computeDrift(
  env: Env,
  db: Db,
  projectId: string,
  experimentId: string,
  opts: { window: string; windowMs: number; to: number; config: MonitoringConfig | null; seed?: number },
): Promise<DriftResult> {
  const dataset = opts.config?.referenceDataset ?? (await championTrainingDataset(db, projectId, experimentId));
  if (!dataset) {
    throw new ApiError(
      "CONFLICT",
      `experiment ${experimentId} has no drift reference: name one with PUT /v1/experiments/${experimentId}/monitoring { referenceDataset }`,
    );
  }
  const from = opts.to - opts.windowMs;
  const sources = await monitoredSources(db, projectId, experimentId, opts.config);
  const [ref, cur] = await Promise.all([
    referenceInputs(env, db, projectId, dataset),
    currentInputs(db, projectId, sources, from, opts.to),
  ]);
  // The seed is fixed per window, so the same window always gives the same report.
  const report = compareDrift(ref, cur, { seed: opts.seed ?? Math.floor(opts.to / 1000) >>> 0 });
  return {
    experimentId,
    reference: { dataset, n: ref.length },
    current: { from: new Date(from).toISOString(), to: new Date(opts.to).toISOString(), n: cur.length, sources },
    window: opts.window,
    features: report.features,
    drifted: report.drifted,
    method: report.method,
    skipped: report.skipped,
    embedding: report.embedding,
    alpha: report.alpha,
  };
}

export interface DriftDetected {
  projectId: string;
  experimentId: string;
  checkId: string;
  result: DriftResult;
}

/** Something to do when a stored drift check finds drift (once per check). */
export type DriftListener = (db: Db, env: Env, event: DriftDetected) => Promise<void>;

/**
 * Subscribers to stored drift checks that found drift. The retraining policies' `onDrift` trigger adds
 * itself here (as capabilities add their cron tasks to CRON_TASKS).
 */
export const DRIFT_LISTENERS: DriftListener[] = [
  // Retraining policies with `trigger.onDrift` start a cycle (cooldown permitting).
  async (_db, env, event) =>
    void (await fireOnDrift(env, event.experimentId, { driftCheck: event.checkId, source: "drift check" })),
];

/**
 * Called once per stored drift check that found drift: emits `drift.detected` to event subscribers and
 * runs every listener. A listener that throws is logged; the others still run.
 */
export async function onDriftDetected(db: Db, env: Env, event: DriftDetected, listeners = DRIFT_LISTENERS) {
  const drifted = event.result.features.filter((f) => f.drifted);
  await emitEventSafely(db, env, event.projectId, "drift.detected", {
    experimentId: event.experimentId,
    checkId: event.checkId,
    reference: event.result.reference,
    current: event.result.current,
    features: drifted,
  });
  for (const listener of listeners) {
    try {
      await listener(db, env, event);
    } catch (err) {
      console.error(
        JSON.stringify({ level: "error", msg: "drift listener failed", checkId: event.checkId, error: String(err) }),
      );
    }
  }
}

/**
 * Stores the drift check of one window. The unique (experiment, trigger, window) index makes it
 * idempotent: a second call for the same window stores nothing and returns null, and only the call
 * that stored the check fires onDriftDetected.
 */
export async function storeDriftCheck(
  env: Env,
  db: Db,
  config: MonitoringConfig,
  windowEnd: number,
  trigger: "cron" | "api",
  now = Date.now(),
) {
  const windowStart = windowEnd - config.windowMs;
  const [exists] = await db
    .select({ id: driftChecks.id })
    .from(driftChecks)
    .where(
      and(
        eq(driftChecks.experimentId, config.experimentId),
        eq(driftChecks.trigger, trigger),
        eq(driftChecks.windowStart, windowStart),
        eq(driftChecks.windowEnd, windowEnd),
      ),
    )
    .limit(1);
  if (exists) return null;
  const result = await computeDrift(env, db, config.projectId, config.experimentId, {
    window: config.window,
    windowMs: config.windowMs,
    to: windowEnd,
    config,
  });
  const id = newId("drf", now);
  const inserted = await db
    .insert(driftChecks)
    .values({
      id,
      projectId: config.projectId,
      experimentId: config.experimentId,
      windowStart,
      windowEnd,
      trigger,
      referenceDataset: result.reference.dataset,
      referenceN: result.reference.n,
      currentN: result.current.n,
      drifted: result.drifted,
      report: result as unknown as Record<string, unknown>,
      createdAt: now,
    })
    .onConflictDoNothing()
    .returning({ id: driftChecks.id });
  if (inserted.length === 0) return null;
  if (result.drifted)
    await onDriftDetected(db, env, {
      projectId: config.projectId,
      experimentId: config.experimentId,
      checkId: id,
      result,
    });
  return { id, result };
}

/**
 * Cron task: for each monitored experiment, the drift check of the last whole window (windows are
 * aligned to multiples of their length since the epoch). At most `maxChecks` checks per invocation, so
 * one invocation's CPU stays within one check; the next minute's cron takes the next experiment.
 */
export async function runDriftChecks(env: Env, db: Db, now = Date.now(), maxChecks = 1) {
  const configs = await db.select().from(experimentMonitoring);
  const done: string[] = [];
  for (const config of configs) {
    if (done.length >= maxChecks) break;
    const windowEnd = Math.floor(now / config.windowMs) * config.windowMs;
    // Nothing to compare with yet (no reference named, no champion): not an error every minute.
    if (!config.referenceDataset && !(await championTrainingDataset(db, config.projectId, config.experimentId)))
      continue;
    try {
      const stored = await storeDriftCheck(env, db, config, windowEnd, "cron", now);
      if (stored) done.push(stored.id);
    } catch (err) {
      // A missing reference is the config's problem, reported by GET …/drift; the cron just moves on.
      console.error(
        JSON.stringify({
          level: "error",
          msg: "drift check failed",
          experimentId: config.experimentId,
          error: String(err),
        }),
      );
    }
  }
  return done;
}
