import * as z from "zod";
import { defineGraderType } from "../core/grader";
import type { CodeRunInput } from "../core/services";
import { checkTemplate, references, tryRender } from "../core/template";
import { invalid, type RewardResult, type Sample } from "../core/types";
import {
  DEFAULT_MEMORY_MB,
  DEFAULT_TIME_MS,
  extractCode,
  isIdentifier,
  MAX_MEMORY_MB,
  MAX_TIME_MS,
  MIN_MEMORY_MB,
} from "../verifiers/code";

const DEFAULT_INPUT = "{{sample.output_text}}";

const StdioCaseConfig = z.object({ input: z.string(), output: z.string() });

export const CodeTestsGraderConfig = z
  .object({
    type: z.literal("code_tests"),
    name: z.string().min(1),
    /** The code: a template over the sample (default: the completion); prompt + completion also works. */
    input: z.string().default(DEFAULT_INPUT),
    language: z.enum(["python", "javascript", "typescript"]),
    /** Test code or stdin/stdout cases: a template (`{{item.test}}`), literal code, or literal cases. */
    tests: z.union([z.string().min(1), z.array(StdioCaseConfig).min(1)]),
    entry_point: z.string().min(1).optional(),
    timeout_ms: z.number().int().min(1).max(MAX_TIME_MS).default(DEFAULT_TIME_MS),
    memory_mb: z.number().int().min(MIN_MEMORY_MB).max(MAX_MEMORY_MB).default(DEFAULT_MEMORY_MB),
    /** `auto`: grade the first fenced code block of the language when the completion has one. */
    extract: z.enum(["auto", "none"]).default("auto"),
  })
  .superRefine((cfg, ctx) => {
    const templates: [string, string | undefined][] = [
      ["input", cfg.input],
      ["tests", typeof cfg.tests === "string" ? cfg.tests : undefined],
      ["entry_point", cfg.entry_point],
    ];
    for (const [path, t] of templates) if (t !== undefined) checkTemplate(t, path, ctx);
    if (cfg.entry_point && references(cfg.entry_point).length === 0 && !isIdentifier(cfg.entry_point))
      ctx.addIssue({ code: "custom", path: ["entry_point"], message: "entry_point must be an identifier" });
  });
export type CodeTestsGraderConfig = z.infer<typeof CodeTestsGraderConfig>;

/** Renders an item-side template; a missing field is the dataset's problem (valid: false). */
function renderItem(template: string, sample: Sample, field: string): { ok: true; value: unknown } | RewardResult {
  const r = tryRender(template, sample);
  return r.ok ? r : invalid("INVALID_INPUT", `${field}: ${r.message}`);
}

/**
 * The code to run: the input template rendered over the completion, or over its first fenced block of
 * the language (extract: "auto"). A completion without the JSON value a template asks for scores 0.
 */
function renderCode(cfg: CodeTestsGraderConfig, sample: Sample): { ok: true; code: string } | RewardResult {
  const completion = cfg.extract === "auto" ? extractCode(sample.completion, cfg.language) : sample.completion;
  const r = tryRender(cfg.input, { ...sample, completion });
  if (!r.ok) {
    if (r.blame === "item") return invalid("INVALID_INPUT", `input: ${r.message}`);
    return { score: 0, valid: true, reason: `input ${cfg.input}: the completion has no such value` };
  }
  const rendered = r.value;
  if (typeof rendered !== "string")
    return { score: 0, valid: true, reason: `input ${cfg.input} is not text (got ${typeof rendered})` };
  return { ok: true, code: rendered };
}

/**
 * `{ type: "code_tests", name, input?, language, tests, entry_point?, timeout_ms?, memory_mb?, extract? }`:
 * runs the completion's code against tests in a sandbox (QuickJS for JavaScript and TypeScript). Test
 * code scores 1 when every test ran to the end and none failed, else 0; stdin/stdout cases score the
 * share of cases whose output matches. See docs/code-tests.md.
 */
export const codeTestsGrader = defineGraderType({
  type: "code_tests",
  description:
    "Runs the completion's code against tests (HumanEval check(candidate), assert-based test code, or stdin/stdout cases) in a sandbox with time, memory and output limits; JavaScript and TypeScript run in QuickJS.",
  config: CodeTestsGraderConfig,
  build(cfg) {
    return {
      ref: "code_tests",
      async score(sample, ctx) {
        const runner = ctx.services.code;
        if (!runner) return invalid("SANDBOX_FAILED", "no code sandbox in this runtime (ctx.services.code is missing)");
        const tests =
          typeof cfg.tests === "string" ? renderItem(cfg.tests, sample, "tests") : { ok: true, value: cfg.tests };
        if (!("ok" in tests)) return tests;
        let entryPoint: string | undefined;
        if (cfg.entry_point) {
          const ep = renderItem(cfg.entry_point, sample, "entry_point");
          if (!("ok" in ep)) return ep;
          if (typeof ep.value !== "string" || !isIdentifier(ep.value))
            return invalid("INVALID_INPUT", `entry_point must be an identifier, got ${JSON.stringify(ep.value)}`);
          entryPoint = ep.value;
        }
        const code = renderCode(cfg, sample);
        if (!("ok" in code)) return code;
        return runner.run({
          language: cfg.language,
          code: code.code,
          tests: tests.value as CodeRunInput["tests"],
          entryPoint,
          timeoutMs: cfg.timeout_ms,
          memoryMb: cfg.memory_mb,
          deadline: ctx.deadline,
        });
      },
    };
  },
});
