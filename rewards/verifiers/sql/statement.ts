import { DENIED_FUNCTIONS } from "./sqlite";

/**
 * SQL read the way SQLite's tokenizer reads it, as far as statement boundaries, nesting and keywords go:
 * '…' strings (with '' inside), "…" `…` […] quoted identifiers, -- and block comments. Nothing here decides
 * what a query means; it finds where statements end, which words are keywords at which depth, and which
 * functions are called. SQLite's own authorizer and `sqlite3_stmt_readonly` check the same things again.
 */
export interface Token {
  kind: "word" | "string" | "quoted" | "number" | "punct";
  text: string;
  /** Parenthesis depth at the token (0 = the statement's own level). */
  depth: number;
}

export class UnterminatedError extends Error {}

const WORD_START = /[A-Za-z_\u0080-\uffff]/;
const WORD = /[A-Za-z0-9_$\u0080-\uffff]/;

/** Tokens of `sql`, comments and whitespace dropped. Throws UnterminatedError for an open quote. */
export function tokenize(sql: string): Token[] {
  const out: Token[] = [];
  let depth = 0;
  let i = 0;
  const n = sql.length;
  const quoted = (close: string, kind: Token["kind"], doubled: boolean) => {
    const start = i;
    i++;
    for (;;) {
      const j = sql.indexOf(close, i);
      if (j < 0) throw new UnterminatedError(`unterminated ${sql[start]} quote`);
      if (doubled && sql[j + 1] === close) {
        i = j + 2;
        continue;
      }
      i = j + 1;
      break;
    }
    out.push({ kind, text: sql.slice(start, i), depth });
  };
  while (i < n) {
    const c = sql[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === "-" && sql[i + 1] === "-") {
      const j = sql.indexOf("\n", i);
      i = j < 0 ? n : j + 1;
    } else if (c === "/" && sql[i + 1] === "*") {
      // SQLite ends an unterminated block comment at the end of the input.
      const j = sql.indexOf("*/", i + 2);
      i = j < 0 ? n : j + 2;
    } else if (c === "'") {
      quoted("'", "string", true);
    } else if (c === '"') {
      quoted('"', "quoted", true);
    } else if (c === "`") {
      quoted("`", "quoted", true);
    } else if (c === "[") {
      const j = sql.indexOf("]", i);
      if (j < 0) throw new UnterminatedError("unterminated [ quote");
      out.push({ kind: "quoted", text: sql.slice(i, j + 1), depth });
      i = j + 1;
    } else if (WORD_START.test(c)) {
      const start = i;
      while (i < n && WORD.test(sql[i]!)) i++;
      out.push({ kind: "word", text: sql.slice(start, i), depth });
    } else if (/[0-9.]/.test(c) && (c !== "." || /[0-9]/.test(sql[i + 1] ?? ""))) {
      const start = i;
      while (i < n && /[0-9A-Za-z_.]/.test(sql[i]!)) {
        // An exponent sign belongs to the number (1e-5).
        if (/[eE]/.test(sql[i]!) && /[+-]/.test(sql[i + 1] ?? "")) i++;
        i++;
      }
      out.push({ kind: "number", text: sql.slice(start, i), depth });
    } else {
      if (c === ")") depth = Math.max(0, depth - 1);
      out.push({ kind: "punct", text: c, depth });
      if (c === "(") depth++;
      i++;
    }
  }
  return out;
}

/** Statements separated by top-level `;`; empty ones (a trailing `;`) are dropped. */
export function splitStatements(tokens: Token[]): Token[][] {
  const out: Token[][] = [];
  let cur: Token[] = [];
  for (const t of tokens) {
    if (t.kind === "punct" && t.text === ";") {
      if (cur.length) out.push(cur);
      cur = [];
    } else cur.push(t);
  }
  if (cur.length) out.push(cur);
  return out;
}

const READ_STARTS = new Set(["select", "with"]);

export type StatementCheck = { ok: true; sql: string } | { ok: false; reason: string };

/**
 * Checks that `sql` is exactly one read-only query (SELECT, or WITH … SELECT) that calls no denied
 * function, and returns it trimmed. The engine enforces the same again.
 */
export function checkReadOnlyQuery(sql: string): StatementCheck {
  let tokens: Token[];
  try {
    tokens = tokenize(sql);
  } catch (err) {
    if (err instanceof UnterminatedError) return { ok: false, reason: `the SQL does not parse: ${err.message}` };
    throw err;
  }
  const statements = splitStatements(tokens);
  if (statements.length === 0) return { ok: false, reason: "the SQL is empty" };
  if (statements.length > 1)
    return { ok: false, reason: `more than one statement (${statements.length}): only one query may run` };
  const stmt = statements[0]!;
  const first = stmt[0]!;
  if (first.kind !== "word" || !READ_STARTS.has(first.text.toLowerCase())) {
    return { ok: false, reason: `only SELECT or WITH … SELECT may run, not ${first.text.slice(0, 40).toUpperCase()}` };
  }
  for (let i = 0; i < stmt.length - 1; i++) {
    const t = stmt[i]!;
    if (t.kind !== "word" && t.kind !== "quoted") continue;
    const next = stmt[i + 1]!;
    if (next.kind !== "punct" || next.text !== "(") continue;
    const name = unquote(t).toLowerCase();
    if (DENIED_FUNCTIONS.has(name)) return { ok: false, reason: `the function ${name}() is not allowed` };
  }
  return { ok: true, sql: sql.trim() };
}

function unquote(t: Token): string {
  if (t.kind !== "quoted") return t.text;
  return t.text.slice(1, -1);
}

/**
 * Whether the query orders its result: an ORDER BY at the statement's own level (not inside a subquery or a
 * window's OVER clause). Spider's evaluation compares rows in order exactly then.
 */
export function hasTopLevelOrderBy(sql: string): boolean {
  let tokens: Token[];
  try {
    tokens = tokenize(sql);
  } catch {
    return /\border\s+by\b/i.test(sql);
  }
  for (let i = 0; i < tokens.length - 1; i++) {
    const t = tokens[i]!;
    const next = tokens[i + 1]!;
    if (t.depth === 0 && t.kind === "word" && t.text.toLowerCase() === "order") {
      if (next.kind === "word" && next.text.toLowerCase() === "by") return true;
    }
  }
  return false;
}

const SQL_FENCE = /```[ \t]*(?:sql|sqlite|sqlite3)[ \t]*\r?\n([\s\S]*?)```/i;

/** The SQL in a completion: the first ```sql fenced block when there is one, else the whole text. */
export function extractSql(text: string): string {
  const fenced = SQL_FENCE.exec(text);
  return (fenced ? fenced[1]! : text).trim();
}
