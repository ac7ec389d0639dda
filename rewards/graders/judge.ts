import * as z from "zod";
import { extractJson } from "../core/extract-json";
import { defineGraderType } from "../core/grader";
import { JudgeError, type JudgeMessage } from "../core/services";
import { checkTemplate } from "../core/template";
import { invalid, type RewardResult, type Sample, type ScoreContext } from "../core/types";
import { quote, renderOperand } from "./string-check";

/**
 * LLM-judge graders in OpenAI's formats (`score_model`, `label_model`), run against the OpenAI-compatible
 * endpoint the deployment configures (JUDGE_BASE_URL, JUDGE_API_KEY). The judge's own failure (unreachable,
 * kept failing, timed out, answered garbage) is `valid: false` with UPSTREAM_FAILED: the trainer skips the
 * sample instead of learning from a made-up 0.
 */

/** A content part as OpenAI's grader inputs allow it; only text parts can be rendered and sent. */
const ContentPart = z.object({ type: z.enum(["input_text", "output_text"]), text: z.string() }).passthrough();

const JudgeInputMessage = z
  .object({
    role: z.enum(["system", "developer", "user", "assistant"]),
    content: z.union([z.string(), ContentPart, z.array(ContentPart).min(1)]),
    type: z.literal("message").optional(),
  })
  .passthrough();

/** OpenAI's sampling_params; the ones a chat-completions endpoint understands are passed on. */
const SamplingParams = z
  .object({
    temperature: z.number().min(0).max(2).optional(),
    top_p: z.number().min(0).max(1).optional(),
    seed: z.number().int().optional(),
    max_tokens: z.number().int().positive().optional(),
    max_completions_tokens: z.number().int().positive().optional(),
    reasoning_effort: z.enum(["minimal", "low", "medium", "high"]).optional(),
  })
  .passthrough();

const common = {
  name: z.string().min(1),
  model: z.string().min(1),
  input: z.array(JudgeInputMessage).min(1),
  sampling_params: SamplingParams.optional(),
  /** Assay's addition: longest one judge call may take (within the batch deadline). */
  timeout_ms: z.number().int().min(100).max(120_000).optional(),
};

function checkInputTemplates(input: z.infer<typeof JudgeInputMessage>[], ctx: z.RefinementCtx) {
  input.forEach((m, i) => {
    for (const [j, text] of textsOf(m.content).entries()) checkTemplate(text, `input.${i}.content.${j}`, ctx);
  });
}

function textsOf(content: z.infer<typeof JudgeInputMessage>["content"]): string[] {
  if (typeof content === "string") return [content];
  return (Array.isArray(content) ? content : [content]).map((p) => p.text);
}

export const ScoreModelGraderConfig = z
  .object({
    type: z.literal("score_model"),
    ...common,
    range: z.tuple([z.number(), z.number()]).optional(),
    pass_threshold: z.number().optional(),
  })
  .superRefine((cfg, ctx) => {
    checkInputTemplates(cfg.input, ctx);
    if (cfg.range && !(cfg.range[0] < cfg.range[1])) {
      ctx.addIssue({ code: "custom", path: ["range"], message: "range must be [min, max] with min < max" });
    }
  });
export type ScoreModelGraderConfig = z.infer<typeof ScoreModelGraderConfig>;

export const LabelModelGraderConfig = z
  .object({
    type: z.literal("label_model"),
    ...common,
    labels: z.array(z.string().min(1)).min(2),
    passing_labels: z.array(z.string().min(1)).min(1),
  })
  .superRefine((cfg, ctx) => {
    checkInputTemplates(cfg.input, ctx);
    cfg.passing_labels.forEach((l, i) => {
      if (!cfg.labels.includes(l)) {
        ctx.addIssue({ code: "custom", path: ["passing_labels", i], message: `${JSON.stringify(l)} is not in labels` });
      }
    });
  });
export type LabelModelGraderConfig = z.infer<typeof LabelModelGraderConfig>;

type Rendered = { ok: true; messages: JudgeMessage[] } | { ok: false; result: RewardResult };

function renderMessages(input: z.infer<typeof JudgeInputMessage>[], sample: Sample): Rendered {
  const messages: JudgeMessage[] = [];
  for (const [i, m] of input.entries()) {
    const parts: string[] = [];
    for (const text of textsOf(m.content)) {
      const r = renderOperand(text, sample, `input.${i}.content`);
      if (!r.ok) return r;
      parts.push(r.text);
    }
    messages.push({ role: m.role, content: parts.join("\n") });
  }
  return { ok: true, messages };
}

/** The request fields for OpenAI's sampling_params, made deterministic where the caller left it open. */
function sampling(params: z.infer<typeof SamplingParams> | undefined): Record<string, unknown> {
  const { max_completions_tokens, ...rest } = params ?? {};
  const out: Record<string, unknown> = { ...rest };
  if (max_completions_tokens !== undefined) out.max_completion_tokens = max_completions_tokens;
  // Reasoning models refuse `temperature`; everything else gets greedy decoding and a fixed seed.
  if (out.temperature === undefined && out.reasoning_effort === undefined) out.temperature = 0;
  if (out.seed === undefined) out.seed = 0;
  return out;
}

function structured(name: string, property: string, schema: Record<string, unknown>) {
  return {
    type: "json_schema",
    json_schema: {
      name,
      strict: true,
      schema: { type: "object", properties: { [property]: schema }, required: [property], additionalProperties: false },
    },
  };
}

/** Reads `property` from the judge's answer: its JSON (fenced or bare), or the answer itself as a last resort. */
function answerField(content: string, property: string): unknown {
  const parsed = extractJson(content);
  if (parsed.ok && parsed.value && typeof parsed.value === "object" && !Array.isArray(parsed.value)) {
    return (parsed.value as Record<string, unknown>)[property];
  }
  return parsed.ok ? parsed.value : content.trim();
}

async function ask(
  cfg: z.infer<typeof ScoreModelGraderConfig> | z.infer<typeof LabelModelGraderConfig>,
  sample: Sample,
  ctx: ScoreContext,
  responseFormat: Record<string, unknown>,
): Promise<{ ok: true; content: string; latencyMs: number; attempts: number } | { ok: false; result: RewardResult }> {
  const judge = ctx.services.judge;
  if (!judge) {
    const message = "no judge endpoint is configured (set JUDGE_BASE_URL, and JUDGE_API_KEY if it needs one)";
    return { ok: false, result: upstream(message) };
  }
  const rendered = renderMessages(cfg.input, sample);
  if (!rendered.ok) return rendered;
  const deadline = cfg.timeout_ms ? Math.min(ctx.deadline, Date.now() + cfg.timeout_ms) : ctx.deadline;
  try {
    const r = await judge.complete({
      model: cfg.model,
      messages: rendered.messages,
      responseFormat,
      sampling: sampling(cfg.sampling_params),
      deadline,
      signal: ctx.signal,
    });
    return { ok: true, ...r };
  } catch (err) {
    if (!(err instanceof JudgeError)) throw err;
    const result = err.code === "DEADLINE_EXCEEDED" ? invalid("DEADLINE_EXCEEDED", err.message) : upstream(err.message);
    return { ok: false, result };
  }
}

function upstream(message: string): RewardResult {
  return { score: 0, valid: false, reason: message, error: { code: "UPSTREAM_FAILED", message } };
}

const timing = (a: { latencyMs: number; attempts: number }) =>
  `${a.latencyMs} ms${a.attempts > 1 ? ` after ${a.attempts} calls` : ""}`;

/**
 * `{ type: "score_model", name, model, input, range?, pass_threshold?, sampling_params? }`: the judge
 * answers a number in `range` (default [0, 1]) by structured output; the score is that number mapped onto
 * [0, 1]. An answer outside the range is clamped, and the reason says so.
 */
export const scoreModelGrader = defineGraderType({
  type: "score_model",
  description: "An LLM judge scores the sample within a range, through an OpenAI-compatible endpoint.",
  config: ScoreModelGraderConfig,
  build(cfg) {
    const [lo, hi] = cfg.range ?? [0, 1];
    const format = structured("score", "result", { type: "number" });
    return {
      ref: "score_model",
      async score(sample, ctx) {
        const a = await ask(cfg, sample, ctx, format);
        if (!a.ok) return a.result;
        const raw = answerField(a.content, "result");
        const value = typeof raw === "number" ? raw : typeof raw === "string" && raw.trim() ? Number(raw) : Number.NaN;
        if (!Number.isFinite(value)) {
          return upstream(`the judge answered no number: ${quote(a.content)}`);
        }
        const clamped = Math.min(hi, Math.max(lo, value));
        const score = (clamped - lo) / (hi - lo);
        const notes = [`judge scored ${value} in [${lo}, ${hi}] (${timing(a)})`];
        if (clamped !== value) notes.push(`outside the range, clamped to ${clamped}`);
        if (cfg.pass_threshold !== undefined) {
          notes.push(value >= cfg.pass_threshold ? `passes ${cfg.pass_threshold}` : `below ${cfg.pass_threshold}`);
        }
        const reason = notes.join("; ");
        return { score, valid: true, reason, metrics: { [cfg.name]: { score, reason: `answer ${quote(a.content)}` } } };
      },
    };
  },
});

/**
 * `{ type: "label_model", name, model, input, labels, passing_labels }`: the judge picks one of `labels`
 * by structured output; 1 when it is a passing label, else 0. A label outside the list is the judge's
 * failure (`valid: false`), not the model's.
 */
export const labelModelGrader = defineGraderType({
  type: "label_model",
  description: "An LLM judge labels the sample; passing labels score 1, through an OpenAI-compatible endpoint.",
  config: LabelModelGraderConfig,
  build(cfg) {
    const format = structured("label", "label", { type: "string", enum: cfg.labels });
    const passing = new Set(cfg.passing_labels);
    return {
      ref: "label_model",
      async score(sample, ctx) {
        const a = await ask(cfg, sample, ctx, format);
        if (!a.ok) return a.result;
        const label = answerField(a.content, "label");
        if (typeof label !== "string" || !cfg.labels.includes(label)) {
          return upstream(`the judge answered no label out of ${JSON.stringify(cfg.labels)}: ${quote(a.content)}`);
        }
        const score = passing.has(label) ? 1 : 0;
        const reason = `judge labelled ${JSON.stringify(label)} (${score ? "passing" : "not passing"}; ${timing(a)})`;
        return { score, valid: true, reason, metrics: { [cfg.name]: { score, reason: `answer ${quote(a.content)}` } } };
      },
    };
  },
});

/** Whether a grader config calls a judge anywhere (directly or inside `multi`): its scores may disagree. */
export function usesJudge(config: unknown): boolean {
  if (!config || typeof config !== "object") return false;
  const c = config as { type?: unknown; graders?: unknown };
  if (c.type === "score_model" || c.type === "label_model") return true;
  return c.type === "multi" && !!c.graders && typeof c.graders === "object" && Object.values(c.graders).some(usesJudge);
}
