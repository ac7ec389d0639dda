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
  const p = c.var.principal;
  return p && "projectId" in p && p.projectId ? p.projectId : DEFAULT_PROJECT_ID;
}
