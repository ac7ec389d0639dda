import { env } from "cloudflare:workers";
import { eq } from "drizzle-orm";
import { afterEach, describe, expect, it } from "vitest";
import { createDb } from "../../db/client";
import { nightlyEvaluations } from "../../db/schema";
import { NIGHTLY, type NightlyJob, nightOf, runNightlyEvaluations } from "../../functions/lib/nightly";
import { call, expectStatus } from "./helpers";

const db = createDb(env.DB);
const DAY = 86_400_000;
const midnight = Math.floor(Date.now() / DAY) * DAY;
const original = NIGHTLY.evaluate;
afterEach(() => {
  NIGHTLY.evaluate = original;
});

async function monitoredExperiment(nightlyAtUtc: string) {
  const exp = await call("POST", "/v1/experiments", { body: { name: `nightly-${nightlyAtUtc}` } });
  expectStatus(exp, 201);
  expectStatus(await call("PUT", `/v1/experiments/${exp.json.id}/monitoring`, { body: { nightlyAtUtc } }), 200);
  return exp.json.id as string;
}

const nightsOf = (experimentId: string) =>
  db.select().from(nightlyEvaluations).where(eq(nightlyEvaluations.experimentId, experimentId));

describe("nightly evaluation scaffolding", () => {
  it("places a time in its UTC night and says whether the configured time has passed", () => {
    expect(nightOf(Date.UTC(2026, 11, 3, 1, 59), "02:00")).toEqual({ night: "2026-12-03", due: false });
    expect(nightOf(Date.UTC(2026, 11, 3, 2, 0), "02:00")).toEqual({ night: "2026-12-03", due: true });
    expect(nightOf(Date.UTC(2026, 11, 3, 23, 59), "02:00")).toEqual({ night: "2026-12-03", due: true });
  });

  it("hands each experiment to the evaluator once per night, however often and concurrently the cron runs", async () => {
    const early = await monitoredExperiment("01:00");
    const late = await monitoredExperiment("04:00");
    const jobs: NightlyJob[] = [];
    NIGHTLY.evaluate = async (_db, _env, job) => {
      jobs.push(job);
      return {
        status: "dispatched",
        championRunId: `run_champion_${job.experimentId}`,
        evalRunId: `run_eval_${job.night}`,
        graderVersion: "g@1",
      };
    };
    const at = midnight + 2 * 3_600_000;
    await Promise.all([runNightlyEvaluations(env, db, at), runNightlyEvaluations(env, db, at + 1000)]);
    await runNightlyEvaluations(env, db, at + 60_000);
    const night = new Date(at).toISOString().slice(0, 10);
    expect(jobs.filter((j) => j.experimentId === early).map((j) => j.night)).toEqual([night]);
    expect(jobs.filter((j) => j.experimentId === late)).toEqual([]);
    expect(await nightsOf(early)).toEqual([
      expect.objectContaining({
        night,
        status: "dispatched",
        reason: null,
        championRunId: `run_champion_${early}`,
        evalRunId: `run_eval_${night}`,
        graderVersion: "g@1",
      }),
    ]);
    // After 04:00 the late experiment's night is due; the next night both run again.
    await runNightlyEvaluations(env, db, midnight + 5 * 3_600_000);
    await runNightlyEvaluations(env, db, midnight + DAY + 5 * 3_600_000);
    expect((await nightsOf(late)).map((n) => n.night).sort()).toEqual([
      night,
      new Date(midnight + DAY).toISOString().slice(0, 10),
    ]);
    expect((await nightsOf(early)).length).toBe(2);
  });

  it("records a night as skipped, with the reason, while no evaluator is registered", async () => {
    const exp = await monitoredExperiment("00:00");
    await runNightlyEvaluations(env, db, midnight + 10 * 3_600_000 + 2 * DAY);
    const [row] = (await nightsOf(exp)).filter(
      (n) => n.night === new Date(midnight + 2 * DAY).toISOString().slice(0, 10),
    );
    expect(row).toMatchObject({
      status: "skipped",
      reason: "no champion evaluator is registered (NIGHTLY.evaluate)",
      evalRunId: null,
      kpis: null,
    });
  });
});
