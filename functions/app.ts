import { OpenAPIHono } from "@hono/zod-openapi";
import { HTTPException } from "hono/http-exception";
import { createDb } from "../db/client";
import type { AppEnv } from "./env";
import { ApiError, errorBody, errorOfStatus, zodIssues } from "./lib/errors";
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
    else if (err instanceof HTTPException && err.status < 500) apiErr = errorOfStatus(err.status, err.message);
    else {
      console.error(JSON.stringify({ level: "error", requestId, message: String(err), stack: (err as Error)?.stack }));
      apiErr = new ApiError("INTERNAL", "internal error; quote the request id when reporting it");
    }
    const res = c.json(errorBody(apiErr, requestId), apiErr.status);
    res.headers.set("X-Request-Id", requestId);
    return res;
  });

  let methods: ((path: string) => string[]) | undefined;
  app.notFound((c) => {
    const requestId = c.get("requestId") ?? newId("req");
    // Built on first use, once every route (the UI's included) is registered.
    methods ??= methodsOfPath(app.routes);
    const allow = methods(c.req.path);
    if (allow.length > 0) {
      const err = new ApiError("METHOD_NOT_ALLOWED", `${c.req.method} is not allowed on ${c.req.path}`);
      c.header("Allow", allow.join(", "));
      return c.json(errorBody(err, requestId), 405);
    }
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

/**
 * For the 405: which methods the app's routes answer on a path (middleware, registered for every method,
 * does not count). A path no route matches gives none, and stays a 404. HEAD is answered wherever GET is.
 */
function methodsOfPath(routes: readonly { method: string; path: string }[]): (path: string) => string[] {
  const patterns = routes
    .filter((r) => r.method !== "ALL")
    .map((r) => ({
      method: r.method,
      re: new RegExp(
        `^${r.path
          .split("/")
          .map((seg) =>
            seg === "*" ? ".*" : seg.startsWith(":") ? "[^/]+" : seg.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"),
          )
          .join("/")}/?$`,
      ),
    }));
  return (path) => {
    const found = new Set(patterns.filter((p) => p.re.test(path)).map((p) => p.method));
    if (found.has("GET")) found.add("HEAD");
    return [...found].sort();
  };
}
