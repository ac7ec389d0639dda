/**
 * Python's `str.split()` with no argument: runs of Unicode whitespace (as Python's `str.isspace` defines
 * it, which differs from JavaScript's `\s`: it includes U+001C..U+001F and U+0085, and excludes U+FEFF)
 * separate tokens, and empty tokens are dropped. BLEU, GLEU and METEOR tokenise with this.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: U+001C..U+001F are whitespace to Python.
const PY_WHITESPACE = /[\t\n\v\f\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/;

export function whitespaceTokens(text: string): string[] {
  return text.split(PY_WHITESPACE).filter((t) => t.length > 0);
}

/** Code points, as Python indexes a str (a JavaScript string indexes UTF-16 units). */
export const codePoints = (s: string): string[] => Array.from(s);

/** Counts of the n-grams of order `n`, keyed by their JSON text (unambiguous whatever the tokens contain). */
export function ngramCounts(tokens: string[], n: number): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i + n <= tokens.length; i++) {
    // JSON keeps any token text, separators included, unambiguous.
    const key = JSON.stringify(tokens.slice(i, i + n));
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}
