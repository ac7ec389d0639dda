import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { and, asc, eq, isNotNull } from "drizzle-orm";
import { updateRun } from "../../db/queries/runs";
import { runs } from "../../db/schema";
import type { AppEnv } from "../env";
import { bearer, errors, json, jsonBody } from "../lib/openapi";
import { projectOf } from "../lib/project";
import { issueRunToken } from "../lib/training";
import { requireAuth } from "../middleware/auth";

const claimRoute = createRoute({
  method: "post",
  path: "/v1/runner/claim",
  tags: ["runs"],
  summary: "Claim the oldest queued run of the local backend (the local runner calls this)",
  security: bearer,
  middleware: [requireAuth("key")] as const,
  request: {
    body: jsonBody(
      z
        .object({ runner: z.string().max(200).optional() })
        .strict()
        .openapi("ClaimRequest"),
    ),
  },
  responses: {
    200: json(
      z
        .object({
          run: z.object({ id: z.string(), experimentId: z.string() }).nullable(),
          token: z.string().optional().openapi({ description: "The run token (ASSAY_RUN_TOKEN); shown once" }),
          apiUrl: z.string().optional(),
        })
        .openapi("Claim"),
      "A claimed run with its token, or run: null when nothing is queued",
    ),
    ...errors(400, 401),
  },
});

/** The route a local runner polls for queued local-backend runs. */
export function runnerRoutes(app: OpenAPIHono<AppEnv>) {
  app.openapi(claimRoute, async (c) => {
    const db = c.var.db;
    const candidates = await db
      .select({ id: runs.id, experimentId: runs.experimentId })
      .from(runs)
      .where(
        and(
          eq(runs.projectId, projectOf(c)),
          eq(runs.backend, "local"),
          eq(runs.status, "queued"),
          isNotNull(runs.spec),
        ),
      )
      .orderBy(asc(runs.id))
      .limit(5);
    for (const cand of candidates) {
      const { token, hash } = await issueRunToken();
      const runner = c.req.valid("json").runner;
      const ok = await updateRun(
        db,
        cand.id,
        {
          status: "dispatching",
          reason: `claimed by local runner${runner ? ` ${runner}` : ""}`,
          fields: { tokenHash: hash, jobId: `local:${cand.id}` },
        },
        ["queued"],
      );
      if (ok) return c.json({ run: cand, token, apiUrl: c.env.ASSAY_API_URL }, 200);
    }
    return c.json({ run: null }, 200);
  });
}
