/**
 * JSON with object keys sorted at every level: equal values give equal text, whatever the key order or
 * whitespace they were written with. Values JSON cannot carry are handled as JSON.stringify does: an
 * undefined or function property is dropped, and in an array it becomes null.
 * Dataset rows (their holdout split), schemas (their content hash) and grader configs all key on this text.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  if (Array.isArray(value)) {
    let s = "[";
    for (let i = 0; i < value.length; i++) {
      const v = value[i];
      s += (i ? "," : "") + (v === undefined || typeof v === "function" ? "null" : canonicalJson(v));
    }
    return `${s}]`;
  }
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj).sort();
  let s = "{";
  let first = true;
  for (const k of keys) {
    const v = obj[k];
    if (v === undefined || typeof v === "function") continue;
    s += `${first ? "" : ","}${JSON.stringify(k)}:${canonicalJson(v)}`;
    first = false;
  }
  return `${s}}`;
}
