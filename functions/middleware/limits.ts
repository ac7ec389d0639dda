import { bodyLimit } from "hono/body-limit";
import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../env";
import { ApiError } from "../lib/errors";

const MiB = 1024 * 1024;

/** Largest accepted request bodies, by route. The first matching pattern wins. */
export const BODY_LIMITS: [RegExp, number][] = [
  [/^\/v1\/datasets\/?$/, 100 * MiB],
  [/^\/v1\/fixtures\/[^/]+$/, 64 * MiB],
  [/^\/v1\/runs\/[^/]+\/metrics$/, 8 * MiB],
  [/^\/v1\/(graders|rewards)\//, 16 * MiB],
  [/^\/v1\/runs\/[^/]+\/rewards$/, 16 * MiB],
  [/./, 1 * MiB],
];

export function limitFor(path: string): number {
  for (const [re, max] of BODY_LIMITS) if (re.test(path)) return max;
  return MiB;
}

const limiters = new Map<number, ReturnType<typeof bodyLimit>>();

/** Refuses bodies over the route's limit with 413, by Content-Length or while streaming. */
export const bodyLimits = createMiddleware<AppEnv>(async (c, next) => {
  const maxSize = limitFor(c.req.path);
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
