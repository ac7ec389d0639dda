import { OpenAPIHono } from "@hono/zod-openapi";
import { HTTPException } from "hono/http-exception";
import { createDb } from "../db/client";
import type { AppEnv } from "./env";
import { ApiError, errorBody, zodIssues } from "./lib/errors";
import { newId } from "./lib/ids";
import { errors } from "./lib/openapi";
import { bodyLimits } from "./middleware/limits";
import { documentPermissions } from "./middleware/permissions";
import { registerRoutes } from "./routes";
import { uiRoutes } from "./ui/routes";

export const API_VERSION = "0.1.0";

/** Builds the app. Routes validate with zod; failures of any kind leave through the one error envelope. */
export function createApp() {
  const app = new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) {
        throw new ApiError("BAD_REQUEST", "request failed validation", zodIssues(result.error.issues));
      }
    },
  });

  app.use("*", async (c, next) => {
    const incoming = c.req.header("x-request-id");
    const requestId = incoming && /^[\w.:-]{1,128}$/.test(incoming) ? incoming : newId("req");
    c.set("requestId", requestId);
    c.set("db", createDb(c.env.DB));
    c.header("X-Request-Id", requestId);
    await next();
    c.header("X-Request-Id", requestId);
  });
  app.use("/v1/*", bodyLimits);

  app.onError((err, c) => {
    const requestId = c.get("requestId") ?? newId("req");
    let apiErr: ApiError;
    if (err instanceof ApiError) apiErr = err;
    else if (err instanceof HTTPException && err.status < 500) {
      apiErr =
        err.status === 413
          ? new ApiError("PAYLOAD_TOO_LARGE", err.message || "request body too large")
          : err.status === 401
            ? new ApiError("UNAUTHORIZED", err.message || "unauthorized")
            : new ApiError("BAD_REQUEST", err.message || "bad request");
    } else {
      console.error(JSON.stringify({ level: "error", requestId, message: String(err), stack: (err as Error)?.stack }));
      apiErr = new ApiError("INTERNAL", "internal error; quote the request id when reporting it");
    }
    const res = c.json(errorBody(apiErr, requestId), apiErr.status);
    res.headers.set("X-Request-Id", requestId);
    return res;
  });

  app.notFound((c) => {
    const requestId = c.get("requestId") ?? newId("req");
    const err = new ApiError("NOT_FOUND", `no route for ${c.req.method} ${c.req.path}`);
    return c.json(errorBody(err, requestId), 404);
  });

  app.openAPIRegistry.registerComponent("securitySchemes", "bearer", {
    type: "http",
    scheme: "bearer",
    description: "An API key (ak_…), the admin key, or on a run's container endpoints that run's token (rt_…)",
  });

  registerRoutes(app);
  documentPermissions(app.openAPIRegistry.definitions as never, errors(403)[403]);

  app.doc31("/openapi.json", {
    openapi: "3.1.0",
    info: {
      title: "Assay API",
      version: API_VERSION,
      description:
        "Evaluation-first reward platform for reinforcement fine-tuning: rewards and verifiers, an experiment ledger, training runs.",
    },
    servers: [{ url: "/" }],
  });
  uiRoutes(app);
  return app;
}

export type App = ReturnType<typeof createApp>;
