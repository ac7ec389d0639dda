import * as z from "zod";
import { defineReward } from "../core/define-reward";

/**
 * Length penalty. With L the completion's length in characters (code points):
 *
 *   penalty = clamp((L - SOFT_LIMIT) / (HARD_LIMIT - SOFT_LIMIT), 0, 1)
 *   score   = correct ? 1 - MAX_PENALTY * penalty : 0
 *
 * A correct answer within SOFT_LIMIT scores 1; the score falls linearly to 1 - MAX_PENALTY at HARD_LIMIT and
 * stays there. A wrong or badly formatted answer is 0 whatever its length. Characters, not tokens: the reward
 * sees text only, and a tokenizer-free rule scores the same everywhere. Tune these three for your task.
 */
export const SOFT_LIMIT = 1500;
export const HARD_LIMIT = 4000;
export const MAX_PENALTY = 0.5;

/** Exactly `<think>…</think>` then `<answer>…</answer>`, whitespace allowed around them, nothing else. */
const SHAPE = /^\s*<think>([\s\S]*?)<\/think>\s*<answer>([\s\S]*?)<\/answer>\s*$/;
const NUMBER = /^[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[-+]?\d+)?$/i;

/** Why the completion is not in the required shape, or null when it is. */
export function formatProblem(completion: string): string | null {
  for (const tag of ["<think>", "</think>", "<answer>", "</answer>"]) {
    const count = completion.split(tag).length - 1;
    if (count === 0) return `missing ${tag}`;
    if (count > 1) return `${tag} appears ${count} times`;
  }
  if (!SHAPE.test(completion)) return "expected <think>…</think><answer>…</answer> with nothing outside the tags";
  return null;
}

/** `$1,234.50` → 1234.5; null when the text is not a plain number. */
function asNumber(text: string): number | null {
  const t = text.replace(/^\$/, "").replace(/(\d),(?=\d{3}\b)/g, "$1");
  return NUMBER.test(t) ? Number(t) : null;
}

const normalize = (s: string) => s.trim().replace(/\.$/, "").replace(/\s+/g, " ").toLowerCase();

/** Numbers compare as numbers (relative tolerance 1e-9); other answers ignoring case, spacing and a final period. */
export function sameAnswer(given: string, expected: string): boolean {
  const a = asNumber(normalize(given));
  const b = asNumber(normalize(expected));
  if (a !== null && b !== null) return Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b));
  return normalize(given) === normalize(expected);
}

export const formatAnswer = defineReward({
  name: "format-answer",
  description:
    "Reasoning in <think>…</think> then the final answer in <answer>…</answer>, nothing outside the tags. " +
    "Scores the answer against item.answer (numbers numerically, text ignoring case and spacing), with a " +
    `linear length penalty from ${SOFT_LIMIT} to ${HARD_LIMIT} characters (at most -${MAX_PENALTY}).`,
  input: z.object({
    answer: z.union([z.string().trim().min(1), z.number()]).transform(String),
  }),
  score({ completion, item }) {
    const problem = formatProblem(completion);
    if (problem) {
      return {
        score: 0,
        valid: true,
        reason: `format: ${problem}`,
        metrics: { format: { score: 0, reason: problem } },
      };
    }
    const given = SHAPE.exec(completion)![2]!.trim();
    if (!given) {
      return { score: 0, valid: true, reason: "format: empty <answer>", metrics: { format: { score: 0 } } };
    }

    const length = [...completion].length;
    const penalty = Math.min(1, Math.max(0, (length - SOFT_LIMIT) / (HARD_LIMIT - SOFT_LIMIT)));
    const correct = sameAnswer(given, item.answer);
    const metrics = {
      format: { score: 1 },
      correct: { score: correct ? 1 : 0, ...(correct ? {} : { reason: `expected ${item.answer}, got ${given}` }) },
      length: { score: 1 - penalty, reason: `${length} characters` },
    };
    if (!correct)
      return { score: 0, valid: true, reason: `wrong answer: expected ${item.answer}, got ${given}`, metrics };
    const score = 1 - MAX_PENALTY * penalty;
    const reason =
      penalty > 0 ? `correct; ${length} characters, length penalty -${(MAX_PENALTY * penalty).toFixed(3)}` : "correct";
    return { score, valid: true, reason, metrics };
  },
});
