import type { StdioCase } from "./types";

/**
 * The test formats a code_tests grader accepts, told apart by shape:
 * - test code (a string): HumanEval-X (`const testF = () => { console.assert(...) }; testF()`), plain
 *   assert-based code (`assert.deepEqual(f(1), 2)`, `const assert = require('node:assert')`), or
 *   HumanEval style (`function check(candidate) { ... }`, called with the entry point when the code
 *   does not call it itself);
 * - stdin/stdout cases: an array of `{ input, output }`, the same as JSON text, or APPS-style
 *   `{ inputs: [...], outputs: [...] }`.
 */
export type TestSpec = { kind: "code"; source: string } | { kind: "stdio"; cases: StdioCase[] };

export type ParsedTests = { ok: true; spec: TestSpec } | { ok: false; reason: string };

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);

function asCases(v: unknown): StdioCase[] | string | undefined {
  if (isRecord(v) && Array.isArray(v.inputs) && Array.isArray(v.outputs)) {
    if (v.inputs.length !== v.outputs.length) return "inputs and outputs differ in length";
    return asCases(v.inputs.map((input, i) => ({ input, output: (v.outputs as unknown[])[i] })));
  }
  if (!Array.isArray(v)) return undefined;
  if (v.length === 0) return "there are no stdin/stdout cases";
  const cases: StdioCase[] = [];
  for (const [i, c] of v.entries()) {
    if (!isRecord(c) || !("input" in c) || !("output" in c)) return `case ${i} is not an { input, output } object`;
    const input = Array.isArray(c.input) ? c.input.join("\n") : c.input;
    const output = Array.isArray(c.output) ? c.output.join("\n") : c.output;
    if (typeof input !== "string" || typeof output !== "string") return `case ${i}: input and output must be strings`;
    cases.push({ input, output });
  }
  return cases;
}

/** Reads rendered tests. A malformed spec is the dataset's fault: the caller reports it as invalid. */
export function parseTests(raw: unknown): ParsedTests {
  if (typeof raw === "string") {
    const t = raw.trimStart();
    if (t.startsWith("[") || t.startsWith("{")) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(raw);
      } catch {
        parsed = undefined;
      }
      const cases = parsed === undefined ? undefined : asCases(parsed);
      if (typeof cases === "string") return { ok: false, reason: `stdin/stdout tests: ${cases}` };
      if (cases) return { ok: true, spec: { kind: "stdio", cases } };
    }
    if (raw.trim() === "") return { ok: false, reason: "the tests are empty" };
    return { ok: true, spec: { kind: "code", source: raw } };
  }
  const cases = asCases(raw);
  if (typeof cases === "string") return { ok: false, reason: `stdin/stdout tests: ${cases}` };
  if (cases) return { ok: true, spec: { kind: "stdio", cases } };
  return { ok: false, reason: "tests must be test code (a string) or stdin/stdout cases ([{ input, output }])" };
}

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

export function isIdentifier(name: string): boolean {
  return IDENTIFIER.test(name);
}

/**
 * HumanEval style: test code that defines `check(candidate)` and never calls it gets
 * `check(<entry point>)` appended (the same line in JavaScript and Python).
 */
export function withCheckCall(
  tests: string,
  entryPoint: string | undefined,
  language: "javascript" | "python",
): string {
  if (!entryPoint) return tests;
  const declares =
    language === "python"
      ? /^def\s+check\s*\(/m.test(tests)
      : /\bfunction\s+check\s*\(|\b(?:const|let|var)\s+check\s*=/.test(tests);
  if (!declares) return tests;
  const mentions = tests.match(/\bcheck\s*\(/g)?.length ?? 0;
  const declarations = language === "python" ? 1 : (tests.match(/\bfunction\s+check\s*\(/g)?.length ?? 0);
  if (mentions > declarations) return tests;
  return `${tests}\ncheck(${entryPoint});\n`;
}

/** Output as compared: trailing whitespace dropped from every line, trailing blank lines dropped. */
export function normalizeOutput(s: string): string {
  return s
    .replace(/\r\n?/g, "\n")
    .split("\n")
    .map((l) => l.trimEnd())
    .join("\n")
    .trimEnd();
}

/** Where two outputs first differ, for a reason line. */
export function firstDifference(actual: string, expected: string): string {
  const a = normalizeOutput(actual).split("\n");
  const e = normalizeOutput(expected).split("\n");
  for (let i = 0; i < Math.max(a.length, e.length); i++) {
    if (a[i] !== e[i]) {
      const show = (s: string | undefined) => (s === undefined ? "nothing" : JSON.stringify(s.slice(0, 80)));
      return `line ${i + 1}: expected ${show(e[i])}, got ${show(a[i])}`;
    }
  }
  return "outputs match";
}
