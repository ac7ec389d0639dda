import { isReward, type Reward } from "./core/define-reward";
import { REWARD_MODULES } from "./registry.gen";

/** One module as rewards/registry.gen.ts lists it. */
export interface RewardModule {
  file: string;
  version: string;
  exports: Record<string, unknown>;
}

export interface RegisteredReward {
  reward: Reward;
  /** Derived from the module's code at build time (scripts/build-rewards.mjs); changes when the code does. */
  version: string;
  file: string;
}

export class RewardRegistryError extends Error {}

/**
 * Turns the generated module list into a name → reward map. A module without a reward export, or a name
 * defined twice, is an error: the build script reports the same, this guards a hand-edited registry.
 */
export function buildRegistry(modules: readonly RewardModule[]): Map<string, RegisteredReward> {
  const byName = new Map<string, RegisteredReward>();
  for (const mod of modules) {
    const rewards = Object.values(mod.exports).filter(isReward);
    if (rewards.length === 0) {
      throw new RewardRegistryError(`rewards/modules/${mod.file} exports no reward: export a defineReward(...) value`);
    }
    for (const reward of rewards) {
      const prior = byName.get(reward.name);
      if (prior) {
        throw new RewardRegistryError(
          `reward name "${reward.name}" is defined twice: rewards/modules/${prior.file} and rewards/modules/${mod.file}`,
        );
      }
      byName.set(reward.name, { reward, version: mod.version, file: mod.file });
    }
  }
  return byName;
}

// Built on first use, not at import: a reward module may import grader code that imports this registry,
// and a map built during that import cycle would see modules that have not finished evaluating.
let registry: Map<string, RegisteredReward> | undefined;

/** Every authored reward by name. */
export function rewardRegistry(): Map<string, RegisteredReward> {
  registry ??= buildRegistry(REWARD_MODULES);
  return registry;
}

export function getReward(name: string): RegisteredReward | undefined {
  return rewardRegistry().get(name);
}

export function rewardNames(): string[] {
  return [...rewardRegistry().keys()].sort();
}

/** `GET /v1/rewards` entries, sorted by name. */
export function listRewards(): { name: string; version: string; description: string; inputSchema: unknown }[] {
  return rewardNames().map((name) => {
    const { reward, version } = rewardRegistry().get(name)!;
    return { name, version, description: reward.description, inputSchema: reward.inputSchema };
  });
}
