import { describe, expect, it } from "vitest";
import * as z from "zod";
import { defineReward, isReward } from "../../rewards/core/define-reward";
import { scoreOne } from "../../rewards/core/engine";
import type { SqlExecMatchInput } from "../../rewards/core/services";
import type { Fixture, ScoreContext } from "../../rewards/core/types";
import { buildGrader, GraderConfigError, validateGrader } from "../../rewards/graders/index";
import { getReward, listRewards, rewardNames } from "../../rewards/registry";
import { REWARD_MODULES } from "../../rewards/registry.gen";

const quiet = { debug() {}, info() {}, warn() {} };
const context: Omit<ScoreContext, "signal" | "deadline"> = {
  fixtures: { get: async () => null },
  log: quiet,
  services: {},
};

const exact = defineReward({
  name: "exact",
  description: "1 when the trimmed completion equals item.answer.",
  input: z.object({ answer: z.string() }),
  score: ({ completion, item }) => (completion.trim() === item.answer ? 1 : 0),
});

const sample = (completion: string, item: Record<string, unknown>) => ({ completion, item });

describe("defineReward", () => {
  it("accepts a bare number as shorthand for a valid result", async () => {
    expect(await scoreOne(exact.score, sample(" yes ", { answer: "yes" }), context)).toEqual({ score: 1, valid: true });
    expect(await scoreOne(exact.score, sample("no", { answer: "yes" }), context)).toEqual({ score: 0, valid: true });
  });

  it("reports an item that does not match the input schema as INVALID_INPUT, without calling score", async () => {
    let called = false;
    const reward = defineReward({
      name: "spy",
      description: "records calls",
      input: z.object({ answer: z.string(), tags: z.array(z.string()) }),
      score: () => {
        called = true;
        return 1;
      },
    });
    const result = await scoreOne(reward.score, sample("x", { answer: 3, tags: ["a", 2] }), context);
    expect(result).toEqual({
      score: 0,
      valid: false,
      reason:
        "item.answer: Invalid input: expected string, received number; item.tags[1]: Invalid input: expected string, received number",
      error: {
        code: "INVALID_INPUT",
        message:
          "item.answer: Invalid input: expected string, received number; item.tags[1]: Invalid input: expected string, received number",
      },
    });
    expect(called).toBe(false);
  });

  it("passes score the parsed item: defaults and transforms applied, unknown fields dropped", async () => {
    let seen: unknown;
    const reward = defineReward({
      name: "parsed",
      description: "records the item it sees",
      input: z.object({ answer: z.union([z.string(), z.number()]).transform(String), k: z.number().default(3) }),
      score: (s) => {
        seen = s;
        return 1;
      },
    });
    await scoreOne(reward.score, { completion: "c", item: { answer: 42, other: true }, group: 7 }, context);
    expect(seen).toEqual({ completion: "c", item: { answer: "42", k: 3 }, group: 7 });
  });

  it("turns a throw, a NaN and an out-of-range score into valid:false with an error code", async () => {
    const make = (name: string, score: () => unknown) =>
      defineReward({ name, description: name, input: z.object({}), score: score as () => number });
    const results = await Promise.all([
      scoreOne(
        make("throws", () => {
          throw new Error("fixture parser crashed");
        }).score,
        sample("", {}),
        context,
      ),
      scoreOne(make("nan", () => Number.NaN).score, sample("", {}), context),
      scoreOne(make("big", () => ({ score: 1.5, valid: true })).score, sample("", {}), context),
      scoreOne(make("neg", () => -0.1).score, sample("", {}), context),
    ]);
    expect(results.map((r) => [r.valid, r.score, r.error?.code])).toEqual([
      [false, 0, "EVALUATOR_ERROR"],
      [false, 0, "INVALID_SCORE"],
      [false, 0, "INVALID_SCORE"],
      [false, 0, "INVALID_SCORE"],
    ]);
    expect(results[0]!.error!.message).toBe("fixture parser crashed");
  });

  it("turns a deadline overrun into DEADLINE_EXCEEDED, and aborts ctx.signal", async () => {
    let aborted = false;
    const slow = defineReward({
      name: "slow",
      description: "waits for its signal",
      input: z.object({}),
      score: (_s, ctx) =>
        new Promise<number>((resolve) => {
          ctx.signal.addEventListener("abort", () => {
            aborted = true;
            resolve(1);
          });
        }),
    });
    const result = await scoreOne(slow.score, sample("", {}), context, 20);
    expect(result).toEqual({
      score: 0,
      valid: false,
      reason: "deadline of 20 ms exceeded",
      error: { code: "DEADLINE_EXCEEDED", message: "deadline of 20 ms exceeded" },
    });
    expect(aborted).toBe(true);
  });

  it("keeps a result the reward itself marks invalid, with its error", async () => {
    const r = defineReward({
      name: "missing-fixture",
      description: "reports a missing fixture",
      input: z.object({ db: z.string() }),
      async score({ item }, ctx) {
        const f = await ctx.fixtures.get(item.db);
        if (!f)
          return { score: 0, valid: false, error: { code: "FIXTURE_NOT_FOUND", message: `no fixture ${item.db}` } };
        return 1;
      },
    });
    expect(await scoreOne(r.score, sample("", { db: "nope" }), context)).toEqual({
      score: 0,
      valid: false,
      error: { code: "FIXTURE_NOT_FOUND", message: "no fixture nope" },
    });
  });

  it("reaches fixtures and services only through ctx", async () => {
    const calls: SqlExecMatchInput[] = [];
    const fixture: Fixture = { name: "db1", kind: "sql", sha256: "00", bytes: new Uint8Array([1]) };
    const r = defineReward({
      name: "via-ctx",
      description: "uses ctx",
      input: z.object({ db: z.string(), query: z.string() }),
      async score({ completion, item }, ctx) {
        const f = await ctx.fixtures.get(item.db);
        const sql = ctx.services.sql!;
        const verdict = await sql.execMatch({
          database: f!.name,
          predicted: completion,
          reference: item.query,
          deadline: ctx.deadline,
        });
        return verdict;
      },
    });
    const ctx = {
      fixtures: { get: async (name: string) => (name === "db1" ? fixture : null) },
      log: quiet,
      services: {
        sql: {
          execMatch: async (input: SqlExecMatchInput) => {
            calls.push(input);
            return { score: input.predicted === input.reference ? 1 : 0, valid: true };
          },
        },
      },
    };
    expect(await scoreOne(r.score, sample("SELECT 1", { db: "db1", query: "SELECT 1" }), ctx)).toEqual({
      score: 1,
      valid: true,
    });
    expect(calls).toEqual([
      { database: "db1", predicted: "SELECT 1", reference: "SELECT 1", deadline: expect.any(Number) },
    ]);
  });

  it("publishes the input schema as JSON Schema that lets a row carry other fields", () => {
    expect(exact.inputSchema).toEqual({
      $schema: "https://json-schema.org/draft/2020-12/schema",
      type: "object",
      properties: { answer: { type: "string" } },
      required: ["answer"],
    });
  });

  it("rejects a name that cannot appear in a URL or a ref, and a missing description", () => {
    const base = { description: "d", input: z.object({}), score: () => 1 };
    expect(() => defineReward({ ...base, name: "Has Space" })).toThrow(/reward name "Has Space" must match/);
    expect(() => defineReward({ ...base, name: "a@b" })).toThrow(/must match/);
    expect(() => defineReward({ ...base, name: "ok", description: " " })).toThrow("reward ok needs a description");
    expect(isReward(defineReward({ ...base, name: "ok_1-b" }))).toBe(true);
    expect(isReward({ name: "ok" })).toBe(false);
  });
});

describe('the { type: "reward" } grader', () => {
  it("builds an authored reward with ref name@version", async () => {
    const registered = getReward("format-answer")!;
    const version = REWARD_MODULES.find((m) => m.file === "format-answer.ts")!.version;
    const grader = buildGrader({ type: "reward", name: "format-answer" });
    expect(grader.ref).toBe(`format-answer@${version}`);
    expect(registered.version).toBe(version);
    const result = await scoreOne(
      grader.score,
      sample("<think>1+1</think><answer>2</answer>", { answer: "2" }),
      context,
    );
    expect(result.score).toBe(1);
    expect(result.valid).toBe(true);
  });

  it("rejects an unknown reward name, listing the known ones", () => {
    expect(validateGrader({ type: "reward", name: "nope" })).toEqual({
      valid: false,
      errors: [{ path: ["name"], message: `unknown reward "nope"; known: ${rewardNames().join(", ")}` }],
    });
    expect(() => buildGrader({ type: "reward", name: "nope" })).toThrow(GraderConfigError);
  });

  it("rejects a config without a name", () => {
    const outcome = validateGrader({ type: "reward" });
    expect(outcome.valid).toBe(false);
    expect(outcome.errors.map((e) => e.path)).toEqual([["name"]]);
  });
});

describe("listRewards", () => {
  it("lists every registered reward with its version, description and input schema, by name", () => {
    const list = listRewards();
    expect(list.map((r) => r.name)).toEqual(rewardNames());
    expect(list.find((r) => r.name === "format-answer")).toEqual({
      name: "format-answer",
      version: getReward("format-answer")!.version,
      description: getReward("format-answer")!.reward.description,
      inputSchema: {
        $schema: "https://json-schema.org/draft/2020-12/schema",
        type: "object",
        properties: { answer: { anyOf: [{ type: "string", minLength: 1 }, { type: "number" }] } },
        required: ["answer"],
      },
    });
  });
});
