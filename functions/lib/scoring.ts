import { canonicalJson } from "../../rewards/core/canonical";
import { type BatchOptions, consoleLogger } from "../../rewards/core/engine";
import type { BuiltGrader } from "../../rewards/core/grader";
import { buildGrader, GraderConfigError } from "../../rewards/graders";
import { Lru } from "../../rewards/lib/lru";
import { sha256Hex } from "./crypto";
import { ApiError } from "./errors";
import { platformServices } from "./services";

const MAX_CACHED = 256;
const cache = new Lru<string, BuiltGrader>(MAX_CACHED);

/**
 * Builds a grader once per distinct config (by canonical JSON) and project and keeps it, so compiled
 * validators, parsed expressions and prepared fixtures are reused across requests in this isolate.
 * LRU-bounded. Per project, because a built grader may hold what it resolved through its first context
 * (an inline schema compiled against that project's registered `$ref`s).
 */
export function cachedGrader(config: unknown, projectId: string): BuiltGrader {
  const key = `${projectId}\u0000${canonicalJson(config)}`;
  const hit = cache.get(key);
  if (hit) return hit;
  let built: BuiltGrader;
  try {
    built = buildGrader(config);
  } catch (err) {
    if (err instanceof GraderConfigError) {
      throw new ApiError(
        "BAD_REQUEST",
        `invalid grader config: ${err.message}`,
        err.errors.map((e) => ({ path: ["grader", ...e.path], message: e.message })),
      );
    }
    throw err;
  }
  cache.set(key, built);
  return built;
}

export async function graderHash(config: unknown): Promise<string> {
  return sha256Hex(canonicalJson(config));
}

/** What every scorer gets from the platform: the project's fixtures and schemas, and the runtime-bound verifiers. */
export function scoringContext(env: Env, projectId: string): BatchOptions["context"] {
  const services = platformServices(env, projectId);
  return { fixtures: services.fixtures, services: services.verifiers, log: consoleLogger };
}
