import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { nodeContext, nodeServices } from "../../functions/lib/node-services";
import { scoreOne } from "../../rewards/core/engine";
import type { Services } from "../../rewards/core/services";
import { rewardRegistry } from "../../rewards/registry";
import { REWARD_MODULES } from "../../rewards/registry.gen";

/**
 * One line of rewards/modules/<module>.cases.jsonl:
 *   { "name": "<what the case shows>", "reward"?: "<name, when the module defines several>",
 *     "requires"?: ["sql" | "code"], "without"?: ["sql" | "code"], "deadlineMs"?: number,
 *     "sample": { "completion", "item", "group"? },
 *     "expect": { "valid": boolean, "score"?: number | { "min", "max" }, "error"?: "<code>",
 *                 "reason"?: "<exact reason>", "metrics"?: { "<metric>": number } } }
 */
interface Case {
  name: string;
  reward?: string;
  /** Services the case needs; it is skipped, with a message, where this checkout lacks one. */
  requires?: (keyof Services)[];
  /** Services to take away, to show how the reward behaves in a runtime without them. */
  without?: (keyof Services)[];
  deadlineMs?: number;
  sample: { completion: string; item: Record<string, unknown>; group?: string | number };
  expect: {
    valid: boolean;
    score?: number | { min: number; max: number };
    error?: string;
    reason?: string;
    metrics?: Record<string, number>;
  };
}

const MODULES_DIR = join(__dirname, "../../rewards/modules");
const services = await nodeServices({ fixtureDirs: [join(MODULES_DIR, "fixtures")] });
const context = nodeContext({ fixtureDirs: [join(MODULES_DIR, "fixtures")], services });

function loadCases(file: string): Case[] {
  const path = join(MODULES_DIR, file.replace(/\.ts$/, ".cases.jsonl"));
  if (!existsSync(path)) return [];
  return readFileSync(path, "utf8")
    .split("\n")
    .filter((line) => line.trim())
    .map((line, i) => {
      try {
        return JSON.parse(line) as Case;
      } catch {
        throw new Error(`${path}:${i + 1} is not JSON`);
      }
    });
}

const withinScore = (actual: number, expected: number | { min: number; max: number }) =>
  typeof expected === "number"
    ? Math.abs(actual - expected) <= 1e-9
    : actual >= expected.min - 1e-9 && actual <= expected.max + 1e-9;

for (const mod of REWARD_MODULES) {
  const cases = loadCases(mod.file);
  const rewards = [...rewardRegistry().values()].filter((r) => r.file === mod.file);

  describe(`rewards/modules/${mod.file}`, () => {
    it("ships a cases file with passing, wrong-answer and evaluator-failure cases for each reward", () => {
      const kinds = rewards.map((r) => {
        const own = cases.filter((c) => (c.reward ?? rewards[0]!.reward.name) === r.reward.name);
        const scoreOf = (c: Case) => (typeof c.expect.score === "number" ? c.expect.score : c.expect.score?.max);
        return {
          reward: r.reward.name,
          pass: own.some((c) => c.expect.valid && (scoreOf(c) ?? 0) > 0),
          wrong: own.some((c) => c.expect.valid && scoreOf(c) === 0),
          evaluatorFails: own.some((c) => !c.expect.valid),
        };
      });
      expect(kinds).toEqual(
        rewards.map((r) => ({ reward: r.reward.name, pass: true, wrong: true, evaluatorFails: true })),
      );
    });

    it.for(cases.map((c) => [c.name, c] as const))("%s", async ([, c], ctx) => {
      const missing = (c.requires ?? []).filter((s) => !services[s]);
      if (missing.length > 0) {
        console.warn(`[cases] skipped "${c.name}": requires the ${missing.join(", ")} service on ctx.services`);
        ctx.skip(`requires the ${missing.join(", ")} service on ctx.services, which this checkout does not provide`);
      }
      const reward = rewardRegistry().get(c.reward ?? rewards[0]!.reward.name);
      expect(reward, `unknown reward ${c.reward}`).toBeDefined();
      const caseContext = c.without
        ? {
            ...context,
            services: Object.fromEntries(
              Object.entries(services).filter(([k]) => !c.without!.includes(k as keyof Services)),
            ),
          }
        : context;
      const result = await scoreOne(reward!.reward.score, c.sample, caseContext, c.deadlineMs);
      const expected = c.expect;
      const seen = {
        valid: result.valid,
        scoreMatches: withinScore(result.score, expected.valid ? (expected.score ?? 0) : 0),
        error: result.error?.code,
        ...(expected.reason !== undefined ? { reason: result.reason } : {}),
        ...(expected.metrics
          ? {
              metrics: Object.fromEntries(
                Object.keys(expected.metrics).map((k) => [
                  k,
                  withinScore(result.metrics?.[k]?.score ?? Number.NaN, expected.metrics![k]!),
                ]),
              ),
            }
          : {}),
      };
      const want = {
        valid: expected.valid,
        scoreMatches: true,
        error: expected.valid ? undefined : expected.error,
        ...(expected.reason !== undefined ? { reason: expected.reason } : {}),
        ...(expected.metrics
          ? { metrics: Object.fromEntries(Object.keys(expected.metrics).map((k) => [k, true])) }
          : {}),
      };
      expect(seen, JSON.stringify(result)).toEqual(want);
    });
  });
}
