/**
 * Feedback events → training rows in TRL's dataset formats, and the choice of format for `into: "auto"`.
 * Pure (no Worker imports): the curation job, the tests and the bench call the same code.
 *
 * - SFT `{ prompt, completion }`, or `{ messages }` (the input turns plus the assistant's answer) when the
 *   input was a list of messages. The completion is the event's correction when it has one, otherwise its
 *   output when that was rated up (≥ 0.5).
 * - DPO `{ prompt, chosen, rejected }` (conversational: `prompt` is the messages, `chosen`/`rejected` are
 *   one assistant turn each): a correction against the output it corrects, or, for the same prompt, an
 *   output rated up against one rated down (paired in time order).
 * - KTO `{ prompt, completion, label }`: the output with its thumbs rating (`label = rating ≥ 0.5`); a
 *   correction without a rating marks its output undesirable.
 * - RFT `{ prompt, ...reference }`: an event with a reference (the verifiable target a grader checks).
 *
 * Rows that cannot be valid are dropped and counted by reason, never repaired: an empty prompt, no
 * completion for SFT (rated down without a correction), no pair for DPO, chosen equal to rejected after
 * normalisation, no reference for RFT, a reference whose keys would overwrite `prompt` or `meta`.
 */
import {
  DPO_MIN_PAIRS,
  type RecommendationKind,
  recommend,
  SFT_MIN_LABELLED,
  VERIFIABLE_FIELDS,
} from "../datasets-stats";
import { exactKey, normalizeText } from "./minhash";

export type Format = "sft" | "dpo" | "kto" | "rft";
export type Message = { role: string; content: string };

/** What curation reads of a stored feedback event. */
export interface CurationEvent {
  id: string;
  sourceId: string;
  occurredAt: number;
  input: string | Message[];
  inputText: string;
  output: string;
  rating: string | null;
  ratingValue: number | null;
  correction: string | null;
  reference: Record<string, unknown> | null;
  redactions: Record<string, number>;
}

/** An event that survived dedup, with every event merged into it (itself first). */
export interface KeptEvent {
  event: CurationEvent;
  feedback: string[];
}

export interface BuiltRow {
  row: Record<string, unknown>;
  /** Every feedback event this row comes from, for `meta.feedback`. */
  feedback: string[];
}

export type InvalidReason =
  | "emptyPrompt"
  | "noCompletion"
  | "noPair"
  | "chosenEqualsRejected"
  | "noReference"
  | "referenceConflict"
  | "noLabel";

export interface BuildResult {
  rows: BuiltRow[];
  /** Events dropped because their row would be invalid for the format, by reason. */
  invalid: Partial<Record<InvalidReason, number>>;
}

const present = (s: string | null | undefined): s is string => typeof s === "string" && s.trim().length > 0;

const hasReference = (e: CurationEvent) =>
  e.reference !== null && typeof e.reference === "object" && Object.keys(e.reference).length > 0;

const isRated = (e: CurationEvent) => e.ratingValue !== null && Number.isFinite(e.ratingValue);
const isGood = (e: CurationEvent) => isRated(e) && (e.ratingValue as number) >= 0.5;

/** True when an event carries anything a format can learn from: a rating, a correction or a reference. */
export function hasSignal(e: CurationEvent): boolean {
  return isRated(e) || present(e.correction) || hasReference(e);
}

/** The text exact and near dedup compare: the input, the output and any correction. */
export function dedupText(e: CurationEvent): string {
  return e.correction ? `${e.inputText}\n${e.output}\n${e.correction}` : `${e.inputText}\n${e.output}`;
}

const isMessages = (input: CurationEvent["input"]): input is Message[] => Array.isArray(input);

function promptOf(e: CurationEvent): string | Message[] {
  return isMessages(e.input) ? e.input.map((m) => ({ role: m.role, content: m.content })) : e.input;
}

function answer(e: CurationEvent, content: string): string | Message[] {
  return isMessages(e.input) ? [{ role: "assistant", content }] : content;
}

function sftRow(e: CurationEvent, completion: string): Record<string, unknown> {
  if (isMessages(e.input))
    return { messages: [...(promptOf(e) as Message[]), { role: "assistant", content: completion }] };
  return { prompt: e.input, completion };
}

/** Builds the rows of one format from the kept events (in precedence order: earliest first). */
export function buildRows(kept: KeptEvent[], format: Format): BuildResult {
  const rows: BuiltRow[] = [];
  const invalid: Partial<Record<InvalidReason, number>> = {};
  const drop = (reason: InvalidReason, n = 1) => {
    invalid[reason] = (invalid[reason] ?? 0) + n;
  };
  const withPrompt: KeptEvent[] = [];
  for (const k of kept) {
    if (present(k.event.inputText)) withPrompt.push(k);
    else drop("emptyPrompt");
  }

  if (format === "sft") {
    for (const k of withPrompt) {
      const e = k.event;
      const completion = present(e.correction) ? e.correction : isGood(e) && present(e.output) ? e.output : null;
      if (completion === null) drop("noCompletion");
      else rows.push({ row: sftRow(e, completion), feedback: k.feedback });
    }
  } else if (format === "kto") {
    for (const k of withPrompt) {
      const e = k.event;
      const label = isRated(e) ? isGood(e) : present(e.correction) ? false : null;
      if (label === null) drop("noLabel");
      else if (!present(e.output)) drop("noCompletion");
      else rows.push({ row: { prompt: promptOf(e), completion: answer(e, e.output), label }, feedback: k.feedback });
    }
  } else if (format === "rft") {
    for (const k of withPrompt) {
      const e = k.event;
      if (!hasReference(e)) drop("noReference");
      else if (Object.hasOwn(e.reference!, "prompt") || Object.hasOwn(e.reference!, "meta")) drop("referenceConflict");
      else rows.push({ row: { prompt: promptOf(e), ...e.reference }, feedback: k.feedback });
    }
  } else {
    const { pairs, unpaired, same } = dpoPairs(withPrompt);
    for (const p of pairs) rows.push(p);
    if (unpaired > 0) drop("noPair", unpaired);
    if (same > 0) drop("chosenEqualsRejected", same);
  }
  return { rows, invalid };
}

/**
 * DPO pairs: a correction against the output it corrects; then, per prompt (normalised), outputs rated up
 * against outputs rated down, in time order. A pair whose two sides are equal after normalisation is
 * invalid (both events are counted); events left without a partner are unpaired.
 */
function dpoPairs(kept: KeptEvent[]): { pairs: BuiltRow[]; unpaired: number; same: number } {
  const pairs: BuiltRow[] = [];
  let unpaired = 0;
  let same = 0;
  const byPrompt = new Map<string, { good: KeptEvent[]; bad: KeptEvent[] }>();
  const pair = (prompt: CurationEvent, chosen: string, rejected: string, feedback: string[], events: number) => {
    if (normalizeText(chosen) === normalizeText(rejected)) {
      same += events;
      return;
    }
    pairs.push({
      row: { prompt: promptOf(prompt), chosen: answer(prompt, chosen), rejected: answer(prompt, rejected) },
      feedback,
    });
  };
  for (const k of kept) {
    const e = k.event;
    if (present(e.correction) && !isGood(e)) {
      pair(e, e.correction, e.output, k.feedback, 1);
      continue;
    }
    if (!isRated(e)) {
      unpaired++;
      continue;
    }
    const key = exactKey(normalizeText(e.inputText));
    let g = byPrompt.get(key);
    if (!g) {
      g = { good: [], bad: [] };
      byPrompt.set(key, g);
    }
    (isGood(e) ? g.good : g.bad).push(k);
  }
  for (const { good, bad } of byPrompt.values()) {
    const n = Math.min(good.length, bad.length);
    for (let i = 0; i < n; i++) {
      const a = good[i]!;
      const b = bad[i]!;
      const first = a.event.occurredAt <= b.event.occurredAt ? a.event : b.event;
      pair(first, a.event.output, b.event.output, [...a.feedback, ...b.feedback], 2);
    }
    unpaired += good.length + bad.length - 2 * n;
  }
  return { pairs, unpaired, same };
}

export interface FormatDecision {
  format: Format;
  /** The dataset recommendation's verdict on these events, as GET /v1/datasets/{id}/recommendation words it. */
  recommendation: RecommendationKind;
  reasons: string[];
  /** Why this format: the recommendation's explanation and how it maps to one curated format. */
  reason: string;
}

/**
 * `into: "auto"`: the decision framework of the dataset recommendation (functions/lib/datasets-stats.ts)
 * applied to what the kept events would give: labelled rows (SFT completions), preference pairs (DPO)
 * and rows with a verifiable target (RFT). `sft+dpo` curates the DPO pairs (the SFT stage is a separate
 * curation); `collect-more-data` falls back to KTO when events carry thumbs ratings, since KTO learns
 * from unpaired desirable/undesirable labels, else to whichever of SFT or RFT has rows.
 */
export function decideFormat(kept: KeptEvent[]): FormatDecision {
  const sft = buildRows(kept, "sft").rows.length;
  const pairs = buildRows(kept, "dpo").rows.length;
  const rft = buildRows(kept, "rft").rows.length;
  const verifiable = kept.filter(
    (k) => hasReference(k.event) && VERIFIABLE_FIELDS.some((f) => k.event.reference![f] !== undefined),
  ).length;
  const rated = kept.filter((k) => isRated(k.event)).length;
  const r = recommend(kept.length, { labelled: sft, preferencePairs: pairs, verifiable, fields: {} });
  const base = { recommendation: r.recommendation, reasons: r.reasons };
  switch (r.recommendation) {
    case "sft+dpo":
      return {
        ...base,
        format: "dpo",
        reason:
          `${r.explanation} This curation writes the ${pairs.toLocaleString("en-US")} DPO pairs; ` +
          'curate again with into: "sft" for the SFT stage.',
      };
    case "sft":
      return { ...base, format: "sft", reason: r.explanation };
    case "rft":
      return { ...base, format: "rft", reason: r.explanation };
    default: {
      const tail =
        rated > 0
          ? `${rated.toLocaleString("en-US")} events carry a thumbs rating, which KTO learns from without pairs or many labels, so this curation writes KTO rows.`
          : sft >= rft
            ? `No event carries a rating, so this curation writes the ${sft.toLocaleString("en-US")} SFT rows the corrections give.`
            : `No event carries a rating, so this curation writes the ${rft.toLocaleString("en-US")} RFT rows the references give.`;
      return {
        ...base,
        format: rated > 0 ? "kto" : sft >= rft ? "sft" : "rft",
        reason:
          `Not enough for SFT (more than ${SFT_MIN_LABELLED.toLocaleString("en-US")} labelled rows; ${sft} here), ` +
          `DPO (${DPO_MIN_PAIRS} pairs; ${pairs} here) or RFT (verifiable targets on at least half the rows; ` +
          `${verifiable} here). ${tail}`,
      };
    }
  }
}

const PROMPT_FIELDS = ["prompt", "question", "input", "instruction", "query", "problem"] as const;

const flatten = (messages: unknown[], dropLastAssistant: boolean): string => {
  const turns = messages.filter(
    (m): m is Message => !!m && typeof m === "object" && typeof (m as Message).content === "string",
  );
  const last = turns.at(-1);
  const keep = dropLastAssistant && last?.role === "assistant" ? turns.slice(0, -1) : turns;
  return keep.map((m) => m.content).join("\n");
};

/**
 * The prompt of a dataset row, as text, for the contamination guard: `prompt` (a string or messages),
 * else the turns of `messages` before the final assistant answer, else a common prompt field.
 */
export function rowPromptText(row: Record<string, unknown>): string | null {
  const p = row.prompt;
  if (typeof p === "string") return p;
  if (Array.isArray(p)) return flatten(p, false);
  if (Array.isArray(row.messages)) return flatten(row.messages, true);
  for (const f of PROMPT_FIELDS) {
    const v = row[f];
    if (typeof v === "string") return v;
  }
  return null;
}
