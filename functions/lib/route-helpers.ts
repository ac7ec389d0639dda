import { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { getExperiment } from "../../db/queries/experiments";
import { getRun } from "../../db/queries/runs";
import type { AppEnv } from "../env";
import { notFound } from "./errors";
import { projectOf } from "./project";

/** The `{id}` path parameter of every resource route (ids are prefixed strings from newId()). */
export const IdParam = z.object({ id: z.string().min(1).max(64) });

/**
 * The row, or the 404 the API answers for it. Queries filter by the caller's project, so another
 * project's row arrives here as missing and reads the same as one that never existed.
 */
export function found<T>(row: T | null | undefined, what: string, id: string): T {
  if (row === null || row === undefined) throw notFound(what, id);
  return row;
}

/** The caller's project's run with this id, or 404. */
export async function runOf(c: Context<AppEnv>, id: string) {
  return found(await getRun(c.var.db, projectOf(c), id), "run", id);
}

/** The caller's project's experiment with this id, or 404. */
export async function experimentOf(c: Context<AppEnv>, id: string) {
  return found(await getExperiment(c.var.db, projectOf(c), id), "experiment", id);
}
