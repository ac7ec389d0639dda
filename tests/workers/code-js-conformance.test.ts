import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { DEFAULT_PROJECT_ID } from "../../functions/lib/project";
import { scoringContext } from "../../functions/lib/scoring";
import { scoreBatch } from "../../rewards/core/engine";
import type { RewardResult } from "../../rewards/core/types";
import { buildGrader } from "../../rewards/graders/index";
import { quickJsSandbox } from "../../sandbox/quickjs";
import { corpusJsonlGz, hasCorpora } from "./corpora";

interface Problem {
  task_id: string;
  prompt: string;
  canonical_solution: string;
  test: string;
  declaration: string;
}

/** Dataset bugs: these canonical solutions are wrong (112 returns a comma expression, 155 mishandles 0). */
const WRONG_CANONICAL = ["JavaScript/112", "JavaScript/155"];
/** Needs the js-md5 package, which no sandbox here provides. */
const NEEDS_JS_MD5 = "JavaScript/162";

const problems = () => corpusJsonlGz<Problem>("code/humaneval_js.jsonl.gz");

/** The function the problem asks for: the last one its declaration defines (32 declares poly, then findZero). */
function entryName(p: Problem): string {
  const m = [...p.declaration.matchAll(/(?:const|let|var)\s+([\w$]+)\s*=|function\s+([\w$]+)/g)].at(-1);
  if (!m) throw new Error(`${p.task_id}: no declaration`);
  return (m[1] ?? m[2])!;
}

/**
 * The mechanical wrong solution: the canonical solution under another name, wrapped so that every value
 * it returns is changed (numbers + 1, strings + "_", booleans negated, arrays get one more element, null
 * and undefined become 0, objects get wrapped).
 */
function mutated(p: Problem): string {
  const name = entryName(p);
  const decl = new RegExp(`(const|let|var)(\\s+)${name}(\\s*=)|function(\\s+)${name}(\\s*\\()`, "g");
  const at = [...p.prompt.matchAll(decl)].at(-1)!;
  const renamed = at[0].replace(name, `__original_${name}`);
  const prompt = p.prompt.slice(0, at.index) + renamed + p.prompt.slice(at.index! + at[0].length);
  return `${prompt}${p.canonical_solution}
function __mutate(v) {
  if (typeof v === "number") return v + 1;
  if (typeof v === "string") return v + "_";
  if (typeof v === "boolean") return !v;
  if (Array.isArray(v)) return [...v, 0];
  if (v === null || v === undefined) return 0;
  return { mutated: v };
}
const ${name} = (...args) => __mutate(__original_${name}(...args));
`;
}

const grader = () =>
  buildGrader({
    type: "code_tests",
    name: "humaneval-x",
    language: "javascript",
    input: "{{item.prompt}}{{sample.output_text}}",
    tests: "{{item.test}}",
  });

const failing = (ids: string[], results: RewardResult[]) =>
  ids.filter((_, i) => !(results[i]!.valid && results[i]!.score === 1));

describe.runIf(hasCorpora())("HumanEval-X JavaScript through the code_tests grader inside workerd", () => {
  it("passes the 161 canonical solutions and fails the two wrong ones (112, 155)", async () => {
    const all = await problems();
    expect(all).toHaveLength(164);
    const run = all.filter((p) => p.task_id !== NEEDS_JS_MD5);
    const out = await scoreBatch(
      grader().score,
      run.map((p) => ({ completion: p.canonical_solution, item: p as unknown as Record<string, unknown> })),
      { context: scoringContext(env, DEFAULT_PROJECT_ID) },
    );
    expect(out.results.every((r) => r.valid)).toBe(true);
    expect(
      failing(
        run.map((p) => p.task_id),
        out.results,
      ),
    ).toEqual(WRONG_CANONICAL);
    expect(out.results.filter((r) => r.score === 1)).toHaveLength(161);
    console.log(
      `HumanEval-X canonical: ${out.summary.count} in ${out.summary.latencyMs} ms, p50 ${out.summary.latency.p50} ms, p99 ${out.summary.latency.p99} ms; module builds ${quickJsSandbox.stats.builds}`,
    );
  });

  it("scores JavaScript/162's canonical solution 0: it require()s the js-md5 package, and model code gets no packages", async () => {
    const p = (await problems()).find((x) => x.task_id === NEEDS_JS_MD5)!;
    expect(p.canonical_solution).toContain("require('js-md5')");
    const out = await scoreBatch(
      grader().score,
      [{ completion: p.canonical_solution, item: p as unknown as Record<string, unknown> }],
      { context: scoringContext(env, DEFAULT_PROJECT_ID) },
    );
    expect(out.results[0]).toMatchObject({ valid: true, score: 0, reason: expect.stringMatching(/require/) });
  });

  it("fails the mechanically wrong solution (return value changed) of every problem", async () => {
    const all = (await problems()).filter((p) => p.task_id !== NEEDS_JS_MD5);
    const out = await scoreBatch(
      grader().score,
      all.map((p) => ({
        completion: "",
        item: { ...(p as unknown as Record<string, unknown>), prompt: mutated(p) },
      })),
      { context: scoringContext(env, DEFAULT_PROJECT_ID) },
    );
    expect(out.results.every((r) => r.valid)).toBe(true);
    const passedAnyway = all.filter((_, i) => out.results[i]!.score === 1).map((p) => p.task_id);
    expect(passedAnyway).toEqual([]);
    const why = new Map<string, number>();
    for (const r of out.results) {
      const kind =
        /^(\d+ assertions? failed|the tests raised|time limit|memory limit|stack limit|the code failed)/.exec(
          r.reason!,
        )?.[1];
      const key = kind?.replace(/^\d+ assertions?/, "assertion") ?? r.reason!;
      why.set(key, (why.get(key) ?? 0) + 1);
    }
    console.log(
      `HumanEval-X mutated: ${out.summary.count} in ${out.summary.latencyMs} ms; why they failed:`,
      Object.fromEntries(why),
    );
  });
});
