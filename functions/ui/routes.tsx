/** @jsxImportSource hono/jsx */
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import { getCookie } from "hono/cookie";
import type { JSXNode } from "hono/jsx";
import type { HtmlEscapedString } from "hono/utils/html";
import type { AppEnv } from "../env";
import { ApiError } from "../lib/errors";
import { authenticateKey, RUN_TOKEN_PREFIX } from "../middleware/auth";
import { pageHeaders } from "./csp";
import { DashboardPage, DocsPage, LoginPage, type PageKind } from "./pages";
import { clearSessionCookie, openSession, SESSION_COOKIE, setSessionCookie } from "./session";

const MAX_KEY = 512;
/** A login or logout body is a key and a path: anything bigger is refused before it is read. */
const smallBody = bodyLimit({
  maxSize: 16 * 1024,
  onError: () => {
    throw new ApiError("PAYLOAD_TOO_LARGE", "a login body is at most 16 KiB");
  },
});

/** An HTML answer with the doctype hono/jsx leaves out (without it browsers render in quirks mode). */
async function render(
  c: Context<AppEnv>,
  el: HtmlEscapedString | Promise<HtmlEscapedString> | JSXNode,
  status: 200 | 400 | 401 = 200,
) {
  return c.html(`<!doctype html>${await (el as JSXNode).toString()}`, status);
}

/** A same-site path to go back to after login; anything else goes home. */
function safeNext(next: unknown): string {
  return typeof next === "string" && /^\/(?!\/)[\w\-./?=&%~]*$/.test(next) && next.length <= 500 ? next : "/";
}

/** Whether the request's session cookie still opens and its key still authenticates. */
async function loggedIn(c: Context<AppEnv>): Promise<boolean> {
  const value = getCookie(c, SESSION_COOKIE);
  const key = value ? await openSession(c.env, value) : null;
  if (!key) return false;
  try {
    await authenticateKey(key, c.env, c.var.db);
    return true;
  } catch {
    return false;
  }
}

async function readLogin(c: Context<AppEnv>): Promise<{ key: unknown; next: unknown; form: boolean }> {
  const type = (c.req.header("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
  if (type === "application/json") {
    let body: unknown;
    try {
      body = await c.req.json();
    } catch {
      throw new ApiError("BAD_REQUEST", "the body is not JSON");
    }
    const obj = body && typeof body === "object" && !Array.isArray(body) ? (body as Record<string, unknown>) : {};
    return { key: obj.key, next: obj.next, form: false };
  }
  if (type === "application/x-www-form-urlencoded" || type === "multipart/form-data") {
    const form = await c.req.parseBody();
    return { key: form.key, next: form.next, form: true };
  }
  throw new ApiError("UNSUPPORTED_MEDIA_TYPE", "send { key } as application/json or as a form");
}

function checkOrigin(c: Context<AppEnv>) {
  const origin = c.req.header("origin");
  if (origin && origin !== new URL(c.req.url).origin) throw new ApiError("FORBIDDEN", "cross-origin login refused");
}

const LoginBodySchema = {
  type: "object" as const,
  required: ["key"],
  properties: {
    key: { type: "string" as const, maxLength: MAX_KEY, description: "An API key (ak_…) or the admin key" },
    next: { type: "string" as const, description: "Form posts: the same-site path to go to afterwards" },
  },
};

export function uiRoutes(app: OpenAPIHono<AppEnv>) {
  app.get("/assets/*", (c) => c.env.ASSETS.fetch(c.req.raw));

  app.get("/docs", pageHeaders, (c) => render(c, <DocsPage />));

  const page =
    (kind: PageKind, withId = false) =>
    async (c: Context<AppEnv>) => {
      // 200, not 401: the login form is the page a browser should show here (and a 401 logs a console error).
      if (!(await loggedIn(c))) return render(c, <LoginPage next={safeNext(c.req.path)} />);
      const id = withId ? c.req.param("id") : undefined;
      if (id !== undefined && !/^[\w.-]{1,64}$/.test(id)) throw new ApiError("BAD_REQUEST", "malformed id");
      return render(c, <DashboardPage page={kind} id={id} />);
    };
  app.get("/", pageHeaders, page("experiments"));
  app.get("/ui", pageHeaders, page("experiments"));
  app.get("/ui/experiments", pageHeaders, page("experiments"));
  app.get("/ui/experiments/:id", pageHeaders, page("experiment", true));
  app.get("/ui/runs/:id", pageHeaders, page("run", true));
  app.get("/ui/sweeps/:id", pageHeaders, page("sweep", true));
  app.get("/ui/datasets", pageHeaders, page("datasets"));
  app.get("/ui/datasets/:id", pageHeaders, page("dataset", true));
  app.get("/ui/playground", pageHeaders, page("playground"));
  app.get("/ui/feedback", pageHeaders, page("feedback"));
  app.get("/ui/login", pageHeaders, (c) => render(c, <LoginPage next={safeNext(c.req.query("next"))} />));

  app.openAPIRegistry.registerPath({
    method: "post",
    path: "/ui/login",
    tags: ["dashboard"],
    summary: "Exchange an API key for the dashboard's session cookie",
    description:
      "Sets an http-only, same-site (Strict) cookie, Secure over https, valid 12 hours. The /v1 API accepts it for GET requests and for requests that send `X-Assay-CSRF: 1` (and, if any, an Origin equal to the API's). A form post is answered with a redirect to `next`.",
    request: {
      body: {
        required: true,
        content: {
          "application/json": { schema: LoginBodySchema },
          "application/x-www-form-urlencoded": { schema: LoginBodySchema },
        },
      },
    },
    responses: {
      200: {
        description: "Logged in",
        content: {
          "application/json": {
            schema: {
              type: "object",
              properties: { ok: { type: "boolean" }, principal: { type: "string", enum: ["admin", "apiKey"] } },
            },
          },
        },
      },
      303: { description: "Form post: logged in, go to `next`" },
      ...Object.fromEntries(
        [400, 401, 403, 413, 415].map((s) => [
          s,
          { description: "Error", content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } } },
        ]),
      ),
    },
  });
  app.post("/ui/login", smallBody, pageHeaders, async (c) => {
    checkOrigin(c);
    const { key, next, form } = await readLogin(c);
    if (typeof key !== "string" || key.length < 1 || key.length > MAX_KEY) {
      if (form) return render(c, <LoginPage next={safeNext(next)} error="Enter an API key." />, 400);
      throw new ApiError("BAD_REQUEST", "key must be a string of 1 to 512 characters", [
        { path: ["key"], message: "required" },
      ]);
    }
    let principal: Awaited<ReturnType<typeof authenticateKey>>;
    try {
      // A run token works only on its run's container endpoints, never as a dashboard session.
      if (key.startsWith(RUN_TOKEN_PREFIX)) {
        throw new ApiError("FORBIDDEN", "a run token is accepted only on its own run's container endpoints");
      }
      principal = await authenticateKey(key, c.env, c.var.db);
    } catch (err) {
      if (form && err instanceof ApiError)
        return render(c, <LoginPage next={safeNext(next)} error={err.message} />, 401);
      throw err;
    }
    await setSessionCookie(c, key);
    if (form) return c.redirect(safeNext(next), 303);
    return c.json({ ok: true, principal: principal.kind }, 200);
  });

  app.openAPIRegistry.registerPath({
    method: "post",
    path: "/ui/logout",
    tags: ["dashboard"],
    summary: "Clear the dashboard's session cookie",
    request: {
      body: {
        required: false,
        content: { "application/json": { schema: { type: "object", description: "Ignored; send {} or nothing" } } },
      },
    },
    responses: {
      200: {
        description: "Logged out (JSON callers)",
        content: { "application/json": { schema: { type: "object", properties: { ok: { type: "boolean" } } } } },
      },
      303: { description: "Form post: logged out, back to the login page" },
    },
  });
  app.post("/ui/logout", smallBody, pageHeaders, (c) => {
    clearSessionCookie(c);
    const type = c.req.header("content-type") ?? "";
    if (type.startsWith("application/json")) return c.json({ ok: true }, 200);
    return c.redirect("/", 303);
  });
}
