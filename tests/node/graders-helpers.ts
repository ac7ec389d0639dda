import { scoreOne } from "../../rewards/core/engine";
import type { RewardResult, Sample } from "../../rewards/core/types";
import { buildGrader } from "../../rewards/graders/index";

const context = {
  fixtures: { get: async () => null },
  log: { debug() {}, info() {}, warn() {} },
  services: {},
};

/** Builds the grader once and scores samples through the engine, as the API does. */
export function grader(config: unknown): (completion: string, item?: Record<string, unknown>) => Promise<RewardResult> {
  const built = buildGrader(config);
  return (completion, item = {}) => scoreOne(built.score, { completion, item } satisfies Sample, context);
}
