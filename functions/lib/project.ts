import type { Context } from "hono";
import type { AppEnv } from "../env";

/**
 * The project that holds everything created without one, and every row written before projects existed.
 * New tables carry `project_id` defaulting to it, so one migration can backfill old rows the same way.
 */
export const DEFAULT_PROJECT_ID = "prj_default";

/**
 * The project a request acts in: the caller's key decides it (a run token acts in its run's project).
 * Every query of a project-owned table filters by this value, so another project's row reads as missing.
 */
export function projectOf(c: Context<AppEnv>): string {
  // Routes without a guard (health, signed webhooks) have no principal: they act in the default project
  // unless they set one themselves (a webhook acts in its source's project).
  return c.var.principal?.projectId ?? DEFAULT_PROJECT_ID;
}

/**
 * Where a project's R2 objects live: the default project keeps the keys of before projects existed
 * (`fixtures/…`, `schemas/…`), every other project gets its own prefix, so a listing of one never sees another's.
 */
export function projectBlobPrefix(projectId: string): string {
  return projectId === DEFAULT_PROJECT_ID ? "" : `projects/${projectId}/`;
}
