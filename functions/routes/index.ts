import type { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../env";
import { apiKeyRoutes } from "./api-keys";
import { curationRoutes } from "./curations";
import { datasetRoutes } from "./datasets";
import { experimentRoutes } from "./experiments";
import { feedbackRoutes } from "./feedback";
import { feedbackSourceRoutes } from "./feedback-sources";
import { fixtureRoutes } from "./fixtures";
import { healthRoutes } from "./health";
import { metricRoutes } from "./metrics";
import { projectRoutes } from "./projects";
import { retrainingRoutes } from "./retraining";
import { runRoutes } from "./runs";
import { schemaRoutes } from "./schemas";
import { scoringRoutes } from "./scoring";
import { sweepRoutes } from "./sweeps";
import { trainingRoutes } from "./training";

export function registerRoutes(app: OpenAPIHono<AppEnv>) {
  healthRoutes(app);
  projectRoutes(app);
  apiKeyRoutes(app);
  datasetRoutes(app);
  curationRoutes(app);
  experimentRoutes(app);
  runRoutes(app);
  metricRoutes(app);
  scoringRoutes(app);
  trainingRoutes(app);
  sweepRoutes(app);
  retrainingRoutes(app);
  schemaRoutes(app);
  fixtureRoutes(app);
  feedbackSourceRoutes(app);
  feedbackRoutes(app);
}
