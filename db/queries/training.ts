import { and, asc, desc, eq, inArray, isNotNull, sql } from "drizzle-orm";
import type { Db } from "../client";
import { certificates, metrics, rewardBatches, runs } from "../schema";

export async function latestCertificate(db: Db, projectId: string, graderHash: string) {
  const [row] = await db
    .select()
    .from(certificates)
    .where(and(eq(certificates.projectId, projectId), eq(certificates.graderHash, graderHash)))
    .orderBy(desc(certificates.createdAt))
    .limit(1);
  return row ?? null;
}

export async function series(db: Db, runId: string, name: string) {
  return db
    .select({ step: metrics.step, value: metrics.value })
    .from(metrics)
    .where(and(eq(metrics.runId, runId), eq(metrics.name, name)))
    .orderBy(asc(metrics.step));
}

export async function runProgress(db: Db, runId: string) {
  const [steps, samples] = await db.batch([
    db
      .select({ maxStep: sql<number | null>`max(${metrics.step})` })
      .from(metrics)
      .where(eq(metrics.runId, runId)),
    db
      .select({ n: sql<number | null>`sum(${rewardBatches.samples})` })
      .from(rewardBatches)
      .where(eq(rewardBatches.runId, runId)),
  ]);
  return { maxStep: steps[0]?.maxStep ?? null, rewardSamples: samples[0]?.n ?? 0 };
}

export type RewardBatchRow = typeof rewardBatches.$inferInsert;

/**
 * Records one scored batch and refreshes the step's reward telemetry from every batch of that step, in one
 * transaction. A batch already recorded (a retry) changes nothing. Telemetry follows TRL's names where
 * they exist (`frac_reward_zero_std`, `rewards/<name>/mean`); `reward/mean` and `reward/std` are over all
 * valid samples of the step. Returns whether the batch was new.
 */
export async function recordRewardBatch(db: Db, row: RewardBatchRow): Promise<boolean> {
  const d1 = db.$client;
  const now = row.createdAt;
  const q = (name: string, expr: string, where = "valid > 0") =>
    d1
      .prepare(
        `insert into metrics (run_id, name, step, value, ts)
         select ?1, '${name}', ?2, ${expr}, ?3 from reward_batches where run_id = ?1 and step = ?2 and ${where}
         having count(*) > 0
         on conflict (run_id, name, step) do update set value = excluded.value, ts = excluded.ts`,
      )
      .bind(row.runId, row.step, now);
  const [ins] = await d1.batch([
    d1
      .prepare(
        `insert into reward_batches (run_id, step, batch_key, samples, valid, score_sum, score_sum_sq, groups,
           zero_std_groups, sub_scores, latency_p50, latency_p99, created_at)
         values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) on conflict do nothing`,
      )
      .bind(
        row.runId,
        row.step,
        row.batchKey,
        row.samples,
        row.valid,
        row.scoreSum,
        row.scoreSumSq,
        row.groups,
        row.zeroStdGroups,
        JSON.stringify(row.subScores),
        row.latencyP50,
        row.latencyP99,
        now,
      ),
    q("reward/mean", "sum(score_sum) / sum(valid)"),
    q(
      "reward/std",
      "sqrt(max(0, sum(score_sum_sq) / sum(valid) - (sum(score_sum) / sum(valid)) * (sum(score_sum) / sum(valid))))",
    ),
    q("reward/invalid_rate", "1.0 * (sum(samples) - sum(valid)) / sum(samples)", "samples > 0"),
    q("reward/samples", "sum(samples)", "1"),
    q("frac_reward_zero_std", "1.0 * sum(zero_std_groups) / sum(groups)", "groups > 0"),
    q("verifier/latency_p50_ms", "sum(latency_p50 * samples) / sum(samples)", "samples > 0"),
    q("verifier/latency_p99_ms", "max(latency_p99)", "samples > 0"),
    d1
      .prepare(
        `insert into metrics (run_id, name, step, value, ts)
         select ?1, 'rewards/' || s.key || '/mean', ?2, 1.0 * sum(json_extract(s.value, '$[0]')) / sum(json_extract(s.value, '$[1]')), ?3
         from reward_batches b, json_each(b.sub_scores) s
         where b.run_id = ?1 and b.step = ?2
         group by s.key having sum(json_extract(s.value, '$[1]')) > 0
         on conflict (run_id, name, step) do update set value = excluded.value, ts = excluded.ts`,
      )
      .bind(row.runId, row.step, now),
  ]);
  return (ins?.meta.changes ?? 0) > 0;
}

/** Runs that claim to be live but have not sent a heartbeat since `before` (or never, and were created before it). */
export async function staleRuns(db: Db, before: number) {
  return db
    .select()
    .from(runs)
    .where(
      and(
        inArray(runs.status, ["dispatching", "running"]),
        sql`coalesce(${runs.heartbeatAt}, ${runs.updatedAt}) < ${before}`,
      ),
    )
    .limit(100);
}

export async function liveBatchRuns(db: Db) {
  return db
    .select()
    .from(runs)
    .where(and(eq(runs.backend, "aws-batch"), inArray(runs.status, ["dispatching", "running"]), isNotNull(runs.jobId)))
    .limit(500);
}
