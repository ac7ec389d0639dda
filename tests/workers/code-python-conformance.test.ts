import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { DEFAULT_PROJECT_ID } from "../../functions/lib/project";
import { scoringContext } from "../../functions/lib/scoring";
import { scoreBatch } from "../../rewards/core/engine";
import { buildGrader } from "../../rewards/graders/index";
import { pythonSandbox } from "../../sandbox/pyodide";
import { corpusJsonlGz, hasCorpora } from "./corpora";

interface Problem {
  task_id: string;
  prompt: string;
  canonical_solution: string;
  test: string;
  entry_point: string;
}

const problems = () => corpusJsonlGz<Problem>("code/HumanEval.jsonl.gz");

/**
 * The mechanical wrong solution: the canonical solution under another name, wrapped so that every value
 * it returns is changed (numbers + 1, booleans negated, strings + "_", lists and tuples get one more
 * element, None becomes 0, anything else is wrapped in a tuple).
 */
function mutated(p: Problem): string {
  const name = p.entry_point;
  const decl = new RegExp(`def(\\s+)${name}(\\s*\\()`, "g");
  const at = [...p.prompt.matchAll(decl)].at(-1);
  if (!at) throw new Error(`${p.task_id}: no def ${name}`);
  const prompt = `${p.prompt.slice(0, at.index)}def __original_${name}(${p.prompt.slice(at.index! + at[0].length)}`;
  return `${prompt}${p.canonical_solution}

def __mutate(v):
    if isinstance(v, bool):
        return not v
    if isinstance(v, (int, float)):
        return v + 1
    if isinstance(v, str):
        return v + "_"
    if isinstance(v, list):
        return v + [0]
    if isinstance(v, tuple):
        return v + (0,)
    if v is None:
        return 0
    return ("mutated", v)

def ${name}(*args, **kwargs):
    return __mutate(__original_${name}(*args, **kwargs))
`;
}

const grader = () =>
  buildGrader({
    type: "code_tests",
    name: "humaneval",
    language: "python",
    input: "{{item.prompt}}{{sample.output_text}}",
    tests: "{{item.test}}",
    entry_point: "{{item.entry_point}}",
  });

describe.runIf(hasCorpora())("HumanEval (Python) through the code_tests grader inside workerd", () => {
  it("passes all 164 canonical solutions, each in a clean interpreter", async () => {
    const all = await problems();
    expect(all).toHaveLength(164);
    const out = await scoreBatch(
      grader().score,
      all.map((p) => ({ completion: p.canonical_solution, item: p as unknown as Record<string, unknown> })),
      { context: scoringContext(env, DEFAULT_PROJECT_ID) },
    );
    const failing = all
      .map((p, i) => ({ id: p.task_id, r: out.results[i]! }))
      .filter((x) => !(x.r.valid && x.r.score === 1));
    expect(failing).toEqual([]);
    const s = pythonSandbox.stats;
    console.log(
      `HumanEval canonical: ${out.summary.count} passed in ${out.summary.latencyMs} ms, p50 ${out.summary.latency.p50} ms, p99 ${out.summary.latency.p99} ms; boots ${s.builds}, restores ${s.restores} (mean ${(s.restoreMs / Math.max(1, s.restores)).toFixed(2)} ms), cold start ${s.coldStartMs?.toFixed(0)} ms`,
    );
  });

  it("fails the mechanically wrong solution (return value changed) of every problem", async () => {
    const all = await problems();
    const out = await scoreBatch(
      grader().score,
      all.map((p) => ({ completion: "", item: { ...(p as unknown as Record<string, unknown>), prompt: mutated(p) } })),
      { context: scoringContext(env, DEFAULT_PROJECT_ID) },
    );
    expect(out.results.every((r) => r.valid)).toBe(true);
    expect(all.filter((_, i) => out.results[i]!.score === 1).map((p) => p.task_id)).toEqual([]);
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
      `HumanEval mutated: ${out.summary.count} failed in ${out.summary.latencyMs} ms, p50 ${out.summary.latency.p50} ms, p99 ${out.summary.latency.p99} ms; why:`,
      Object.fromEntries(why),
    );
  });
});
