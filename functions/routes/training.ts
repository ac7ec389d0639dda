import type { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../env";
import { runnerRoutes } from "./runner";
import { containerRoutes } from "./training-container";
import { trainingRunRoutes } from "./training-runs";

/**
 * Training: the container's run-token routes (training-container.ts), the key-authenticated routes about a
 * dispatched run (training-runs.ts) and the local runner's claim (runner.ts).
 */
export function trainingRoutes(app: OpenAPIHono<AppEnv>) {
  containerRoutes(app);
  trainingRunRoutes(app);
  runnerRoutes(app);
}
