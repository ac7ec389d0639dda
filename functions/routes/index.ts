import type { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../env";
import { apiKeyRoutes } from "./api-keys";
import { healthRoutes } from "./health";

export function registerRoutes(app: OpenAPIHono<AppEnv>) {
  healthRoutes(app);
  apiKeyRoutes(app);
}
