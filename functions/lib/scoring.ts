import { canonicalJson } from "../../rewards/core/canonical";
import { type BatchOptions, consoleLogger } from "../../rewards/core/engine";
import type { BuiltGrader } from "../../rewards/core/grader";
import type { Services } from "../../rewards/core/services";
import { buildGrader, GraderConfigError, validateGraderIn } from "../../rewards/graders";
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

/** Configs whose runtime checks passed (by canonical JSON), so a python grader's source compiles once. */
const checked = new Lru<string, true>(MAX_CACHED);

/**
 * cachedGrader after the checks that need the runtime (a python grader's source compiled in the
 * sandbox): a config that fails them is a 400 with the paths, as an invalid config is.
 */
export async function checkedGrader(config: unknown, projectId: string, services: Services): Promise<BuiltGrader> {
  const key = canonicalJson(config);
  if (!checked.get(key)) {
    const outcome = await validateGraderIn(config, services);
    if (!outcome.valid) {
      throw new ApiError(
        "BAD_REQUEST",
        `invalid grader config: ${new GraderConfigError(outcome.errors).message}`,
        outcome.errors.map((e) => ({ path: ["grader", ...e.path], message: e.message })),
      );
    }
    checked.set(key, true);
  }
  return cachedGrader(config, projectId);
}

export async function graderHash(config: unknown): Promise<string> {
  return sha256Hex(canonicalJson(config));
}

/** What every scorer gets from the platform: the project's fixtures and schemas, and the runtime-bound verifiers. */
export function scoringContext(env: Env, projectId: string): BatchOptions["context"] {
  const services = platformServices(env, projectId);
  return { fixtures: services.fixtures, services: services.verifiers, log: consoleLogger };
}
