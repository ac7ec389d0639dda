import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { itemPage } from "../../db/queries/eval-items";
import { updateRun } from "../../db/queries/runs";
import { ACTIVE_STATUSES, isTerminal } from "../../db/run-lifecycle";
import type { AppEnv } from "../env";
import { conflict } from "../lib/errors";
import { bearer, Cursor, errors, json, jsonBody } from "../lib/openapi";
import { projectOf } from "../lib/project";
import { IdParam, runOf } from "../lib/route-helpers";
import { announceRunFinished } from "../lib/run-events";
import { type JobMessage, requestStop } from "../lib/training";
import { requireAuth } from "../middleware/auth";
import { Run, runDetailView } from "./runs";

const ItemView = z
  .object({
    itemId: z.string(),
    scores: z.array(z.number()).openapi({ description: "The item's valid scores, in the order they were stored" }),
    mean: z.number().nullable(),
    invalid: z.number().int().openapi({ description: "Samples of the item whose evaluation failed (valid: false)" }),
  })
  .openapi("EvalItem");

const itemsRoute = createRoute({
  method: "get",
  path: "/v1/runs/{id}/items",
  tags: ["runs"],
  summary: "Per-item scores of an eval run, in item-id order",
  security: bearer,
  middleware: [requireAuth("key")] as const,
  request: {
    params: IdParam,
    query: z.object({ cursor: Cursor, limit: z.coerce.number().int().min(1).max(1000).default(100) }),
  },
  responses: {
    200: json(z.object({ data: z.array(ItemView), nextCursor: z.string().nullable() }), "A page of items"),
    ...errors(400, 401, 404),
  },
});

const cancelRoute = createRoute({
  method: "post",
  path: "/v1/runs/{id}/cancel",
  tags: ["runs"],
  summary: "Cancel a run; a running container is told to stop and an aws-batch job is terminated",
  security: bearer,
  middleware: [requireAuth("key")] as const,
  request: {
    params: IdParam,
    body: jsonBody(
      z
        .object({ reason: z.string().max(2000).optional() })
        .strict()
        .openapi("CancelRun"),
    ),
  },
  responses: { 200: json(Run, "The cancelled run"), ...errors(400, 401, 404, 409) },
});

/** The key-authenticated routes about a dispatched run: its eval items and cancelling it. */
export function trainingRunRoutes(app: OpenAPIHono<AppEnv>) {
  app.openapi(itemsRoute, async (c) => {
    const run = await runOf(c, c.req.valid("param").id);
    const { cursor, limit } = c.req.valid("query");
    const page = await itemPage(c.var.db, run.id, { cursor, limit });
    return c.json({ data: page.data.map(({ cluster: _, ...it }) => it), nextCursor: page.nextCursor }, 200);
  });

  app.openapi(cancelRoute, async (c) => {
    const db = c.var.db;
    const run = await runOf(c, c.req.valid("param").id);
    const reason = c.req.valid("json").reason ?? "cancelled by user";
    if (run.status === "cancelled") return c.json(await runDetailView(db, run.projectId, run.id), 200);
    if (isTerminal(run.status))
      throw conflict(`run ${run.id} has already ended (${run.status})`, { status: run.status });
    await requestStop(db, c.env, run, reason);
    if (await updateRun(db, run.id, { status: "cancelled", reason }, ACTIVE_STATUSES)) {
      await announceRunFinished(db, c.env, run.id, projectOf(c));
    }
    if (run.backend === "aws-batch" && run.jobId) {
      await c.env.JOBS.send({ type: "terminate", runId: run.id, reason } satisfies JobMessage);
    }
    return c.json(await runDetailView(db, run.projectId, run.id), 200);
  });
}
