import { bodyLimit } from "hono/body-limit";
import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../env";
import { ApiError } from "../lib/errors";

const MiB = 1024 * 1024;

/** Largest accepted request bodies, by route. The first matching pattern wins. */
export const BODY_LIMITS: [RegExp, number][] = [
  [/^\/v1\/datasets\/?$/, 100 * MiB],
  [/^\/v1\/feedback\/batch$/, 50 * MiB],
  [/^\/v1\/fixtures\/[^/]+$/, 64 * MiB],
  [/^\/v1\/runs\/[^/]+\/metrics$/, 8 * MiB],
  [/^\/v1\/(graders|rewards)\//, 16 * MiB],
  [/^\/v1\/runs\/[^/]+\/rewards$/, 16 * MiB],
  [/^\/v1\/runs\/[^/]+\/artifacts\/[^/]+$/, 100 * MiB],
  [/./, 1 * MiB],
];

export function limitFor(path: string): number {
  for (const [re, max] of BODY_LIMITS) if (re.test(path)) return max;
  return MiB;
}

/**
 * Routes that read their body as a stream and enforce `limitFor` themselves while reading. hono's
 * bodyLimit buffers a body without Content-Length whole to measure it, which such routes must avoid.
 */
export const STREAMED_BODIES: RegExp[] = [/^\/v1\/datasets\/?$/, /^\/v1\/feedback\/batch$/];

const limiters = new Map<number, ReturnType<typeof bodyLimit>>();

/** Refuses bodies over the route's limit with 413, by Content-Length or while streaming. */
export const bodyLimits = createMiddleware<AppEnv>(async (c, next) => {
  const maxSize = limitFor(c.req.path);
  const h = c.req.raw.headers;
  const wouldBuffer = !h.has("content-length") || h.has("transfer-encoding");
  if (wouldBuffer && STREAMED_BODIES.some((re) => re.test(c.req.path))) return next();
  let limiter = limiters.get(maxSize);
  if (!limiter) {
    limiter = bodyLimit({
      maxSize,
      onError: () => {
        throw new ApiError("PAYLOAD_TOO_LARGE", `request body is larger than this route's limit of ${maxSize} bytes`);
      },
    });
    limiters.set(maxSize, limiter);
  }
  return limiter(c, next);
});
