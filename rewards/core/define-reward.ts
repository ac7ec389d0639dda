import * as z from "zod";
import { normalizeResult } from "./engine";
import type { Scorer } from "./grader";
import { invalid, type RewardResult, type ScoreContext } from "./types";

/**
 * Marks a value as an authored reward. `Symbol.for` (not a module-local symbol) so that the check holds
 * across copies of this module: the build script imports each reward from its own bundle.
 */
export const REWARD_BRAND: unique symbol = Symbol.for("assay.reward") as never;

/** Names appear in URLs (`/v1/rewards/{name}/score`) and refs (`name@version`): keep them plain. */
export const REWARD_NAME = /^[a-z][a-z0-9_-]{0,63}$/;

/** What a reward's `score` receives: the sample, with `item` already parsed by the reward's `input` schema. */
export interface AuthoredSample<I> {
  completion: string;
  item: I;
  group?: string | number;
}

/** A full result, or a bare number in [0, 1] (shorthand for `{ score, valid: true }`). */
export type RewardOutput = RewardResult | number;

export interface RewardSpec<S extends z.ZodType> {
  /** Unique across rewards/modules: lower case letters, digits, `-` and `_`, starting with a letter. */
  name: string;
  /** One or two sentences for `GET /v1/rewards`: what is rewarded, and what the item must carry. */
  description: string;
  /** Zod schema of the item fields the reward reads. A row that does not match is INVALID_INPUT. */
  input: S;
  score(sample: AuthoredSample<z.output<S>>, ctx: ScoreContext): RewardOutput | Promise<RewardOutput>;
}

/** A reward as the platform holds it. Its `score` is what the engine runs: parse the item, then score. */
export interface Reward<S extends z.ZodType = z.ZodType> {
  readonly [REWARD_BRAND]: true;
  readonly name: string;
  readonly description: string;
  readonly input: S;
  /** JSON Schema (2020-12) of the item fields the reward reads, as `GET /v1/rewards` serves it. */
  readonly inputSchema: Record<string, unknown>;
  readonly score: Scorer;
}

export function isReward(value: unknown): value is Reward {
  return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[REWARD_BRAND] === true;
}

function valueAt(root: unknown, path: PropertyKey[]): unknown {
  let cur = root;
  for (const key of path) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[key];
  }
  return cur;
}

const kindOf = (v: unknown) => (v === null ? "null" : Array.isArray(v) ? "array" : typeof v);

const pathText = (path: PropertyKey[]) =>
  path.map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`)).join("");

/** `item.answer: …` per issue; a union's "Invalid input" is spelled out as the types it would have taken. */
function describeIssues(error: z.ZodError, item: unknown): string {
  return error.issues
    .map((issue) => {
      const path = pathText(issue.path);
      let message = issue.message;
      if (issue.code === "invalid_union") {
        const expected = issue.errors.flatMap((branch) =>
          branch.length === 1 && branch[0]!.code === "invalid_type" && branch[0]!.path.length === 0
            ? [branch[0]!.expected]
            : [],
        );
        const wrongType = (branch: z.core.$ZodIssue[]) =>
          branch.length === 1 && branch[0]!.code === "invalid_type" && branch[0]!.path.length === 0;
        const fitting = issue.errors.filter((branch) => !wrongType(branch));
        if (fitting.length === 0 && expected.length > 0) {
          message = `Invalid input: expected ${expected.join(" or ")}, received ${kindOf(valueAt(item, issue.path))}`;
        } else if (fitting.length === 1) {
          // Only one branch took the value's type: its own complaint is the useful one.
          const [first] = fitting[0]!;
          if (first) return `item${pathText([...issue.path, ...first.path])}: ${first.message}`;
        }
      }
      return `item${path}: ${message}`;
    })
    .join("; ");
}

/**
 * Defines a reward: a function from a model's completion (and the dataset row it answers) to a score in
 * [0, 1]. Put it in `rewards/modules/<name>.ts` with its cases in `rewards/modules/<name>.cases.jsonl`;
 * `npm run rewards:build` registers it and derives its version from its code.
 *
 * The contract (docs/design.md "Scoring"):
 * - `input` parses `sample.item` first. A row that does not match is `valid: false` with INVALID_INPUT: the
 *   dataset is wrong, not the model, and the trainer skips the sample.
 * - A wrong answer is a score of 0 with a `reason` (`valid: true`), never an exception.
 * - An evaluator failure is `valid: false`: return `{ score: 0, valid: false, error: { code, message } }`,
 *   or throw, which the engine turns into EVALUATOR_ERROR. A NaN or a score outside [0, 1] becomes
 *   INVALID_SCORE and a deadline overrun DEADLINE_EXCEEDED; nothing is clamped or silently zeroed.
 * - `ctx` is the only way out: `ctx.signal` / `ctx.deadline` for time, `ctx.fixtures` for stored data,
 *   `ctx.services` for runtime verifiers (SQL, code sandboxes), `ctx.log` for logs. Import no platform
 *   code, touch no network: the same module runs in workerd, in the `score` CLI and in tests.
 *
 * @example
 * import * as z from "zod";
 * import { defineReward } from "../core/define-reward";
 *
 * export const exactAnswer = defineReward({
 *   name: "exact-answer",
 *   description: "1 when the completion, trimmed, equals item.answer; 0 otherwise.",
 *   input: z.object({ answer: z.string() }),
 *   score({ completion, item }) {
 *     const ok = completion.trim() === item.answer.trim();
 *     return { score: ok ? 1 : 0, valid: true, reason: ok ? "exact match" : `expected ${item.answer}` };
 *   },
 * });
 */
export function defineReward<S extends z.ZodType>(spec: RewardSpec<S>): Reward<S> {
  if (!REWARD_NAME.test(spec.name)) {
    throw new TypeError(
      `reward name ${JSON.stringify(spec.name)} must match ${REWARD_NAME} (lower case, digits, - and _)`,
    );
  }
  if (typeof spec.description !== "string" || !spec.description.trim()) {
    throw new TypeError(`reward ${spec.name} needs a description`);
  }
  if (typeof (spec.input as { safeParseAsync?: unknown } | undefined)?.safeParseAsync !== "function") {
    throw new TypeError(`reward ${spec.name}: input must be a zod schema`);
  }
  if (typeof spec.score !== "function") throw new TypeError(`reward ${spec.name}: score must be a function`);

  const score: Scorer = async (sample, ctx) => {
    const parsed = await spec.input.safeParseAsync(sample.item);
    if (!parsed.success) return invalid("INVALID_INPUT", describeIssues(parsed.error, sample.item));
    const authored: AuthoredSample<z.output<S>> = { completion: sample.completion, item: parsed.data };
    if (sample.group !== undefined) authored.group = sample.group;
    return normalizeResult(await spec.score(authored, ctx));
  };

  let inputSchema: Record<string, unknown> | undefined;
  return {
    [REWARD_BRAND]: true,
    name: spec.name,
    description: spec.description.trim(),
    input: spec.input,
    get inputSchema() {
      inputSchema ??= z.toJSONSchema(spec.input, { io: "input", unrepresentable: "any" }) as Record<string, unknown>;
      return inputSchema;
    },
    score,
  };
}
