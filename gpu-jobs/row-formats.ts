/**
 * The dataset row each run kind trains on, after TRL's dataset formats. A run is refused when a row of its
 * dataset does not fit, naming the first one, because a trainer would otherwise fail (or silently learn
 * nothing) minutes into a paid GPU job.
 *
 * @example
 * rowMismatch("sft", { prompt: "2+2?", chosen: "4", rejected: "5" })
 * // → 'has no "completion" (string) or "messages" ending with an assistant turn; it looks like a dpo row'
 */
export type RowKind = "sft" | "dpo" | "kto" | "rft" | "eval";

const isText = (v: unknown) => typeof v === "string" && v.length > 0;
const isMessages = (v: unknown): v is { role: unknown; content: unknown }[] =>
  Array.isArray(v) &&
  v.length > 0 &&
  v.every((m) => m !== null && typeof m === "object" && isText((m as { role?: unknown }).role));

function hasPrompt(row: Record<string, unknown>): boolean {
  return ["prompt", "question", "input"].some((k) => isText(row[k]) || isMessages(row[k]));
}

/** The kind a row looks like, to say what was probably sent instead. */
export function guessKind(row: Record<string, unknown>): RowKind | null {
  if ("chosen" in row && "rejected" in row) return "dpo";
  if ("completion" in row && typeof row.label === "boolean") return "kto";
  if ("completion" in row || isMessages(row.messages)) return "sft";
  if (hasPrompt(row)) return "rft";
  return null;
}

/** Why `row` does not fit a run of `kind`, or null when it does. */
export function rowMismatch(kind: RowKind, row: Record<string, unknown>): string | null {
  const problems: string[] = [];
  const messagesOnly = kind === "sft" && isMessages(row.messages);
  if (!messagesOnly && !hasPrompt(row)) problems.push('has no "prompt" (a string or chat messages)');
  switch (kind) {
    case "sft":
      if (!messagesOnly && !isText(row.completion)) {
        problems.push('has no "completion" (string) or "messages" ending with an assistant turn');
      } else if (messagesOnly) {
        const last = (row.messages as { role: unknown }[]).at(-1);
        if (last?.role !== "assistant") problems.push('has "messages" whose last turn is not the assistant\'s');
      }
      break;
    case "dpo":
      if (!isText(row.chosen)) problems.push('has no "chosen" (string)');
      if (!isText(row.rejected)) problems.push('has no "rejected" (string)');
      if (isText(row.chosen) && row.chosen === row.rejected) problems.push('has "chosen" equal to "rejected"');
      break;
    case "kto":
      if (!isText(row.completion)) problems.push('has no "completion" (string)');
      if (typeof row.label !== "boolean") problems.push('has no "label" (true or false)');
      break;
    case "rft":
    case "eval":
      break;
  }
  if (!problems.length) return null;
  const guess = guessKind(row);
  return `${problems.join(", ")}${guess && guess !== kind ? `; it looks like a ${guess} row` : ""}`;
}
