import { canonicalJson } from "../../core/canonical";

/* What the keywords ask of an instance value: its JSON type, equality, uniqueness, length, divisibility. */

const T_NULL = 1;
const T_BOOL = 2;
const T_OBJ = 4;
const T_ARR = 8;
const T_NUM = 16;
const T_INT = 32;
const T_STR = 64;
export const TYPE_BITS: Record<string, number> = {
  null: T_NULL,
  boolean: T_BOOL,
  object: T_OBJ,
  array: T_ARR,
  number: T_NUM | T_INT,
  integer: T_INT,
  string: T_STR,
};

export function bitsOf(v: unknown): number {
  switch (typeof v) {
    case "string":
      return T_STR;
    case "number":
      return Number.isInteger(v) ? T_INT | T_NUM : T_NUM;
    case "boolean":
      return T_BOOL;
    case "object":
      return v === null ? T_NULL : Array.isArray(v) ? T_ARR : T_OBJ;
    default:
      return 0;
  }
}

export const kindOf = (v: unknown) =>
  v === null
    ? "null"
    : Array.isArray(v)
      ? "array"
      : typeof v === "number" && Number.isInteger(v)
        ? "integer"
        : typeof v;

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    if (a.length !== bb.length) return false;
    for (let i = 0; i < a.length; i++) if (!deepEqual(a[i], bb[i])) return false;
    return true;
  }
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) {
    if (!Object.hasOwn(b, k) || !deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
      return false;
  }
  return true;
}

/**
 * The first two equal items of an array, or null. Linear (one canonical key per item), not pairwise: the
 * array is the model's output and may be long.
 */
export function firstDuplicate(a: readonly unknown[]): [number, number] | null {
  const seen = new Map<string, number>();
  for (let i = 0; i < a.length; i++) {
    const v = a[i];
    const key = v !== null && typeof v === "object" ? `o${canonicalJson(v)}` : `${typeof v}:${String(v)}`;
    const j = seen.get(key);
    if (j !== undefined) return [j, i];
    seen.set(key, i);
  }
  return null;
}

/** String length in Unicode code points, as the drafts count it (a surrogate pair is one character). */
export function codePointLength(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n--;
        i++;
      }
    }
  }
  return n;
}

/** `n` is a multiple of `d`, tolerating binary floating point (0.0075 is a multiple of 0.0001). */
export function isMultipleOf(n: number, d: number): boolean {
  if (Number.isInteger(n) && Number.isInteger(d)) return n % d === 0;
  const q = n / d;
  // An overflowing quotient: an integer is still a multiple of 1/k (0.5, 0.25, ...).
  if (!Number.isFinite(q)) return Number.isInteger(n) && Number.isInteger(1 / d);
  return Math.abs(q - Math.round(q)) <= Math.max(1e-9, Math.abs(q) * 1e-15);
}

/** A value shortened for an error message. */
export const short = (v: unknown) => {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
};
