import * as z from "zod";
import { defineGraderType } from "../core/grader";
import { getReward, rewardNames } from "../registry";

export const RewardGraderConfig = z
  .object({
    type: z.literal("reward"),
    name: z.string(),
  })
  .superRefine((cfg, ctx) => {
    if (!getReward(cfg.name)) {
      const known = rewardNames();
      ctx.addIssue({
        code: "custom",
        path: ["name"],
        message: `unknown reward ${JSON.stringify(cfg.name)}; known: ${known.length ? known.join(", ") : "(none)"}`,
      });
    }
  });
export type RewardGraderConfig = z.infer<typeof RewardGraderConfig>;

/** `{ "type": "reward", "name": "<authored reward>" }`: an authored reward from rewards/modules as a grader. */
export const rewardGrader = defineGraderType({
  type: "reward",
  description: "An authored reward from rewards/modules, by name; its ref is name@version.",
  config: RewardGraderConfig,
  build(cfg) {
    const registered = getReward(cfg.name)!;
    return { ref: `${registered.reward.name}@${registered.version}`, score: registered.reward.score };
  },
});
