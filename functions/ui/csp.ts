import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../env";

/**
 * The Content-Security-Policy of every page the Worker serves: scripts, styles, images, fonts and API calls
 * from its own origin only; no inline script or style, no eval, no framing. `data:` images are allowed
 * because Swagger UI's stylesheet draws its icons with them; `blob:` so a chart can be saved as PNG.
 */
export const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

/** Security headers for HTML pages. */
export const pageHeaders = createMiddleware<AppEnv>(async (c, next) => {
  await next();
  c.header("Content-Security-Policy", CSP);
  c.header("X-Content-Type-Options", "nosniff");
  c.header("Referrer-Policy", "same-origin");
  c.header("Cache-Control", "no-store");
});
