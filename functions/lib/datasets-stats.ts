import type { DatasetStats } from "../../db/schema";

/**
 * Top-level fields that hold a reference output a model can be trained to imitate (SFT). A row counts
 * as labelled when one of them is present and not empty, or when it is in chat form (`messages`) with an
 * assistant turn that has content.
 */
export const LABEL_FIELDS = [
  "answer",
  "label",
  "output",
  "completion",
  "reference",
  "response",
  "target",
  "solution",
  "expected_output",
  "ideal",
  "gold",
  "chosen",
  "preferred_output",
] as const;

/** Pairs of fields that make a row a preference pair (DPO): Anthropic/TRL style and OpenAI style. */
export const PREFERENCE_PAIRS = [
  ["chosen", "rejected"],
  ["preferred_output", "non_preferred_output"],
] as const;

/**
 * Top-level fields that a grader can check a completion against (RFT): an exact or fuzzy answer
 * (`string_check`, `text_similarity`), unit tests (`code_tests`), a gold SQL query (`sql_exec_match`) or
 * a JSON Schema (`json_schema`). Free-form fields such as `output` or `response` are labels, not
 * verifiable targets: nothing can check a new completion against them beyond similarity.
 */
export const VERIFIABLE_FIELDS = [
  "answer",
  "expected_answer",
  "ground_truth",
  "reference",
  "expected_output",
  "expected",
  "solution",
  "test",
  "tests",
  "test_list",
  "test_cases",
  "unit_tests",
  "query",
  "sql",
  "schema",
  "json_schema",
] as const;

/** Distinct field names counted; further names are added up under OTHER_FIELDS. */
export const MAX_FIELD_NAMES = 256;
export const OTHER_FIELDS = "(other)";

/** More labelled rows than this recommend SFT. */
export const SFT_MIN_LABELLED = 1000;
/** Preference pairs needed before DPO is worth adding. */
export const DPO_MIN_PAIRS = 100;
/** RFT needs at least this many rows with a verifiable target, and at least half the rows. */
export const RFT_MIN_VERIFIABLE = 10;

function present(v: unknown): boolean {
  if (v === null || v === undefined) return false;
  if (typeof v === "string") return v.trim().length > 0;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === "object") return Object.keys(v).length > 0;
  return true;
}

function hasAssistantTurn(messages: unknown): boolean {
  if (!Array.isArray(messages)) return false;
  for (const m of messages) {
    if (m && typeof m === "object" && (m as { role?: unknown }).role === "assistant") {
      if (present((m as { content?: unknown }).content)) return true;
    }
  }
  return false;
}

/** Counts, row by row, what the recommendation needs. */
export class StatsCollector {
  // A null prototype, so that a field named "__proto__" or "constructor" is counted like any other.
  readonly stats: DatasetStats = { labelled: 0, preferencePairs: 0, verifiable: 0, fields: Object.create(null) };
  private distinct = 0;

  add(row: Record<string, unknown>) {
    const s = this.stats;
    for (const k in row) {
      if (!Object.hasOwn(row, k)) continue;
      if (Object.hasOwn(s.fields, k)) s.fields[k]!++;
      else if (this.distinct < MAX_FIELD_NAMES) {
        s.fields[k] = 1;
        this.distinct++;
      } else s.fields[OTHER_FIELDS] = (s.fields[OTHER_FIELDS] ?? 0) + 1;
    }
    if (LABEL_FIELDS.some((f) => present(row[f])) || hasAssistantTurn(row.messages)) s.labelled++;
    if (PREFERENCE_PAIRS.some(([a, b]) => present(row[a]) && present(row[b]))) s.preferencePairs++;
    if (VERIFIABLE_FIELDS.some((f) => present(row[f]))) s.verifiable++;
  }
}

export type RecommendationKind = "sft" | "sft+dpo" | "rft" | "collect-more-data";

export interface Recommendation {
  recommendation: RecommendationKind;
  reasons: string[];
  explanation: string;
}

const n = (x: number) => x.toLocaleString("en-US");
const plural = (x: number, one: string, many = `${one}s`) => `${n(x)} ${x === 1 ? one : many}`;

/**
 * Which fine-tuning method the data supports:
 * - more than 1,000 labelled rows: SFT, plus DPO when at least 100 rows are preference pairs;
 * - otherwise, rows with a verifiable target (at least 10, and at least half the rows): RFT, which learns
 *   from a grader's score instead of from many examples;
 * - otherwise: collect more data, saying what is missing.
 */
export function recommend(rows: number, stats: DatasetStats): Recommendation {
  const { labelled, preferencePairs: pairs, verifiable } = stats;
  const reasons: string[] = [];
  const enoughLabels = labelled > SFT_MIN_LABELLED;
  const enoughVerifiable = verifiable >= RFT_MIN_VERIFIABLE && verifiable * 2 >= rows;

  if (enoughLabels) {
    reasons.push(
      `${plural(labelled, "row")} of ${n(rows)} carry a label, more than the ${n(SFT_MIN_LABELLED)} that SFT needs`,
    );
    if (pairs >= DPO_MIN_PAIRS) {
      reasons.push(`${plural(pairs, "row")} are preference pairs (chosen and rejected), enough for DPO`);
      return {
        recommendation: "sft+dpo",
        reasons,
        explanation:
          `You have ${n(labelled)} labelled examples, enough to teach the model the task by example (SFT). ` +
          `${n(pairs)} of them also say which of two answers is better, so after SFT a DPO pass can ` +
          "teach the model to prefer the better answer.",
      };
    }
    if (pairs > 0) {
      reasons.push(`only ${plural(pairs, "preference pair")}; DPO needs at least ${n(DPO_MIN_PAIRS)}`);
    }
    return {
      recommendation: "sft",
      reasons,
      explanation:
        `You have ${n(labelled)} labelled examples, enough to teach the model the task by example (SFT).` +
        (pairs > 0
          ? ` There are too few preference pairs (${n(pairs)}) for DPO; with at least ${n(DPO_MIN_PAIRS)} you could add it.`
          : ""),
    };
  }

  if (enoughVerifiable) {
    reasons.push(
      `${plural(labelled, "labelled row")}, not more than the ${n(SFT_MIN_LABELLED)} that SFT needs`,
      `${plural(verifiable, "row")} of ${n(rows)} carry a verifiable target (such as answer, tests, query or schema)`,
    );
    return {
      recommendation: "rft",
      reasons,
      explanation:
        `With ${n(rows)} rows there are too few examples to teach the task by imitation, but ` +
        `${n(verifiable)} rows have a target that a grader can check. Reinforcement fine-tuning (RFT) ` +
        "learns from the grader's score on the model's own attempts, so it works with far fewer rows.",
    };
  }

  reasons.push(`${plural(labelled, "labelled row")}; SFT needs more than ${n(SFT_MIN_LABELLED)}`);
  if (verifiable === 0) reasons.push("no row carries a verifiable target (answer, tests, query, schema, …)");
  else
    reasons.push(
      `only ${plural(verifiable, "row")} of ${n(rows)} carry a verifiable target; RFT needs at least ` +
        `${n(RFT_MIN_VERIFIABLE)} and at least half the rows`,
    );
  const missingLabels = SFT_MIN_LABELLED + 1 - labelled;
  return {
    recommendation: "collect-more-data",
    reasons,
    explanation:
      "This dataset is not ready for fine-tuning yet. " +
      `To fine-tune by example (SFT), add ${plural(missingLabels, "more labelled row")} (rows with a field ` +
      "such as answer, output, completion or response, or chat messages ending in an assistant reply). " +
      "Or, to use reinforcement fine-tuning (RFT), give most rows a target a grader can check: an answer, " +
      "unit tests, a reference SQL query or a JSON Schema.",
  };
}
