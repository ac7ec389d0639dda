import type { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../env";
import { apiKeyRoutes } from "./api-keys";
import { datasetRoutes } from "./datasets";
import { experimentRoutes } from "./experiments";
import { fixtureRoutes } from "./fixtures";
import { healthRoutes } from "./health";
import { metricRoutes } from "./metrics";
import { runRoutes } from "./runs";
import { schemaRoutes } from "./schemas";
import { scoringRoutes } from "./scoring";
import { stepSampleRoutes } from "./step-samples";
import { sweepRoutes } from "./sweeps";
import { trainingRoutes } from "./training";

export function registerRoutes(app: OpenAPIHono<AppEnv>) {
  healthRoutes(app);
  apiKeyRoutes(app);
  datasetRoutes(app);
  experimentRoutes(app);
  runRoutes(app);
  metricRoutes(app);
  scoringRoutes(app);
  trainingRoutes(app);
  stepSampleRoutes(app);
  sweepRoutes(app);
  schemaRoutes(app);
  fixtureRoutes(app);
}
