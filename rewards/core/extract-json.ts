/**
 * Finding the JSON in a completion. docs/design.md's default: the whole completion if it parses, else the
 * first fenced ```json block, else the first balanced object or array.
 */
export type ExtractMode = "auto" | "bare" | "fenced" | "balanced";

export type Extracted =
  | { ok: true; value: unknown; source: "bare" | "fenced" | "balanced" }
  | { ok: false; reason: string };

const FENCE = /```(?:json|JSON)?[ \t]*\r?\n?([\s\S]*?)```/g;

/** What a JSON text can start with (after whitespace): a throw from JSON.parse costs more than this check. */
const JSON_START = /^\s*[[{"\-0-9tfn]/;

function tryParse(text: string): { ok: true; value: unknown } | { ok: false } {
  if (!JSON_START.test(text)) return { ok: false };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}

function fenced(text: string): Extracted | null {
  for (const m of text.matchAll(FENCE)) {
    const body = m[1]!.trim();
    if (!body) continue;
    const p = tryParse(body);
    if (p.ok) return { ok: true, value: p.value, source: "fenced" };
  }
  return null;
}

/** Scans for the first `{` or `[` whose balanced span (strings and escapes respected) parses as JSON. */
function balanced(text: string): Extracted | null {
  for (let start = 0; start < text.length; start++) {
    const ch = text[start];
    if (ch !== "{" && ch !== "[") continue;
    let depth = 0;
    let inString = false;
    let closed = false;
    for (let i = start; i < text.length; i++) {
      const c = text[i];
      if (inString) {
        if (c === "\\") i++;
        else if (c === '"') inString = false;
        continue;
      }
      if (c === '"') inString = true;
      else if (c === "{" || c === "[") depth++;
      else if (c === "}" || c === "]") {
        depth--;
        if (depth === 0) {
          closed = true;
          const p = tryParse(text.slice(start, i + 1));
          if (p.ok) return { ok: true, value: p.value, source: "balanced" };
          break;
        }
      }
    }
    // Nothing from here on ever closes: stop instead of rescanning the tail from every later bracket.
    if (!closed) break;
  }
  return null;
}

export function extractJson(completion: string, mode: ExtractMode = "auto"): Extracted {
  if (mode === "auto" || mode === "bare") {
    const p = tryParse(completion.trim());
    if (p.ok) return { ok: true, value: p.value, source: "bare" };
    if (mode === "bare") return { ok: false, reason: "the completion is not valid JSON" };
  }
  if (mode === "auto" || mode === "fenced") {
    const f = fenced(completion);
    if (f) return f;
    if (mode === "fenced") return { ok: false, reason: "no fenced ```json block that parses" };
  }
  const b = balanced(completion);
  if (b) return b;
  return {
    ok: false,
    reason: mode === "balanced" ? "no balanced JSON object or array that parses" : "no JSON found in the completion",
  };
}
