import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv } from "../env";
import { json } from "../lib/openapi";

const healthz = createRoute({
  method: "get",
  path: "/healthz",
  tags: ["meta"],
  summary: "Liveness check",
  responses: { 200: json(z.object({ ok: z.literal(true) }), "The Worker is serving") },
});

export function healthRoutes(app: OpenAPIHono<AppEnv>) {
  app.openapi(healthz, (c) => c.json({ ok: true as const }, 200));
}
