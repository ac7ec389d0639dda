import type * as z from "zod";
import type { Services } from "./services";
import type { RewardResult, Sample, ScoreContext } from "./types";

/** Scores one sample. May be sync or async; may throw (the engine turns a throw into `valid: false`). */
export type Scorer = (sample: Sample, ctx: ScoreContext) => RewardResult | Promise<RewardResult>;

/** What a grader type gets when it builds a scorer: a way to build sub-graders (for `multi`). */
export interface BuildDeps {
  build(config: unknown): BuiltGrader;
}

export interface BuiltGrader {
  /** `type` of the config, or the authored reward's `name@version` for `type: "reward"`. */
  ref: string;
  score: Scorer;
}

/**
 * A configurable verifier. `config` validates a grader config (the OpenAI RFT grader format is accepted
 * as is); `build` runs once per config, so expensive preparation (compiling a JSON Schema validator,
 * parsing an expression) is done once and reused for every sample.
 *
 * @example
 * export const stringCheck = defineGraderType({
 *   type: "string_check",
 *   config: StringCheckConfig,
 *   build: (cfg) => ({ ref: "string_check", score: (sample) => ({ score: 1, valid: true }) }),
 * });
 */
export interface GraderType<C = any> {
  type: string;
  description: string;
  config: z.ZodType<C>;
  build(config: C, deps: BuildDeps): BuiltGrader;
  /**
   * Checks a valid config further where that needs the runtime (a python grader's source is compiled in
   * the sandbox): issues with paths inside this config, none when it is usable or the runtime lacks what
   * the check needs.
   */
  check?(config: C, services: Services): Promise<{ path: (string | number)[]; message: string }[]>;
  /** The sub-grader configs inside this config, with their paths (for `multi`), so checks reach them. */
  children?(config: C): [path: (string | number)[], config: unknown][];
}

export function defineGraderType<C>(t: GraderType<C>): GraderType<C> {
  return t;
}
