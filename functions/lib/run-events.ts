import type { Db } from "../../db/client";
import { getRun } from "../../db/queries/runs";
import { emitEventSafely } from "./events";
import { notifyNightlyOfRun } from "./nightly";
import { DEFAULT_PROJECT_ID } from "./project";

/**
 * Emits `run.finished` for a run that has just reached a terminal status. Call it only after the
 * guarded status update succeeded, so a run finishes (and is announced) once. Every path that ends a run
 * comes through here, so a nightly evaluation waiting for this run is told here too.
 */
export async function announceRunFinished(db: Db, env: Env, runId: string, projectId?: string) {
  const run = await getRun(db, projectId ?? null, runId);
  if (!run) return;
  const owner = run.projectId ?? DEFAULT_PROJECT_ID;
  if (run.kind === "eval") await notifyNightlyOfRun(db, env, run.id);
  await emitEventSafely(db, env, owner, "run.finished", {
    run: {
      id: run.id,
      experimentId: run.experimentId,
      kind: run.kind,
      status: run.status,
      error: run.error,
      summary: run.summary,
      finishedAt: new Date(run.updatedAt).toISOString(),
    },
  });
}
