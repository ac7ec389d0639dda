import {
  AUTH_FUNCTION,
  AUTH_PRAGMA,
  AUTH_READ,
  AUTH_RECURSIVE,
  AUTH_SELECT,
  DBCONFIG_DEFENSIVE,
  DBCONFIG_DQS_DDL,
  DBCONFIG_DQS_DML,
  DBCONFIG_ENABLE_LOAD_EXTENSION,
  type Exports,
  LIMIT_ATTACHED,
  LIMIT_COLUMN,
  LIMIT_LENGTH,
  LIMIT_SQL_LENGTH,
  LIMIT_VDBE_OP,
} from "./sqlite-abi";

/*
 * What a query on a scoring connection may do and spend: the authorizer's verdicts, the deny list of
 * functions, the per-connection limits and the fuel granted per VM step (the why of each is in sqlite.ts).
 */

const AUTH_ACTIONS: Record<number, string> = {
  0: "COPY",
  1: "CREATE INDEX",
  2: "CREATE TABLE",
  3: "CREATE TEMP INDEX",
  4: "CREATE TEMP TABLE",
  5: "CREATE TEMP TRIGGER",
  6: "CREATE TEMP VIEW",
  7: "CREATE TRIGGER",
  8: "CREATE VIEW",
  9: "DELETE",
  10: "DROP INDEX",
  11: "DROP TABLE",
  12: "DROP TEMP INDEX",
  13: "DROP TEMP TABLE",
  14: "DROP TEMP TRIGGER",
  15: "DROP TEMP VIEW",
  16: "DROP TRIGGER",
  17: "DROP VIEW",
  18: "INSERT",
  19: "PRAGMA",
  22: "a transaction",
  23: "UPDATE",
  24: "ATTACH",
  25: "DETACH",
  26: "ALTER TABLE",
  27: "REINDEX",
  28: "ANALYZE",
  29: "CREATE VIRTUAL TABLE",
  30: "DROP VIRTUAL TABLE",
  32: "SAVEPOINT",
};

/**
 * Functions a query may not call, whether or not this build has them: they reach files, extensions or
 * the engine's internals (the shell's and extensions' functions are listed in case a future build adds them).
 */
export const DENIED_FUNCTIONS: ReadonlySet<string> = new Set([
  "load_extension",
  "readfile",
  "writefile",
  "edit",
  "fts3_tokenizer",
  "fts5",
  "eval",
  "zipfile",
  "sqlar_compress",
  "sqlar_uncompress",
  "lsmode",
  "sqlite_dbpage",
  "sqlite_dbdata",
  "sqlite_dbptr",
  "shell_add_schema",
  "shell_module_schema",
  "shell_escape_crnl",
  "shell_idquote",
  "fsdir",
]);

export interface EngineLimits {
  /** Largest string or blob a query may build (SQLITE_LIMIT_LENGTH). Default 16 MiB. */
  maxValueBytes: number;
  /** Largest SQL text accepted (SQLITE_LIMIT_SQL_LENGTH). Default 100 000 bytes. */
  maxSqlBytes: number;
  /** Largest compiled program (SQLITE_LIMIT_VDBE_OP). Default 250 000 instructions. */
  maxProgramOps: number;
  /** SQLite's hard heap limit for the whole engine (fixture copies included). Default 128 MiB. */
  maxHeapBytes: number;
  /** Rows a query may return before it is stopped. Default 100 000. */
  maxRows: number;
  /** VM instructions between two progress-handler calls. Default 1000. */
  opsPerTick: number;
}

export const DEFAULT_LIMITS: EngineLimits = {
  maxValueBytes: 16 * 1024 * 1024,
  maxSqlBytes: 100_000,
  maxProgramOps: 250_000,
  maxHeapBytes: 128 * 1024 * 1024,
  maxRows: 100_000,
  opsPerTick: 1000,
};

/**
 * Fuel (metered loop iterations and calls) per VM step of a query's budget, plus a base for preparing it.
 * With loops alone, queries measured here (group by, joins, sorts, LIKE, group_concat, a cross join) spent
 * 2.3–4.1 units per VM step and ~3,000 to prepare; charging calls too, the 321 queries of the Spider gold
 * pairs spend 1.20x the fuel (9.4M units against 7.8M; at most 397k for one query). The fuel is a
 * backstop for work inside one step (a sort, a long string function), so it is set well above what
 * ordinary queries spend and the step budget normally ends a runaway first.
 */
export const FUEL_PER_OP = 100;
export const FUEL_BASE = 1_000_000;
/** What the fuel counter holds between queries: trusted setup SQL is not metered. */
export const FUEL_UNLIMITED = 0x7fff_ffff_ffff_ffffn;

/**
 * The authorizer's verdict on one action: null to allow it, else why it is refused. Reading is allowed
 * and nothing else: no writes, PRAGMA, ATTACH, transactions, and no function on the deny list.
 * `text` reads a C string argument of the callback.
 */
export function refusal(action: number, a: number, b: number, text: (ptr: number) => string): string | null {
  if (action === AUTH_READ || action === AUTH_SELECT || action === AUTH_RECURSIVE) return null;
  if (action === AUTH_FUNCTION) {
    const name = text(b).toLowerCase();
    return DENIED_FUNCTIONS.has(name) ? `the function ${name}() is not allowed` : null;
  }
  const what = AUTH_ACTIONS[action] ?? `action ${action}`;
  const target = action === AUTH_PRAGMA && a ? ` ${text(a)}` : "";
  return `${what}${target} is not allowed: only read-only queries may run`;
}

/** Applies the limits every connection gets, trusted or not, and installs the progress handler. */
export function configureConnection(x: Exports, db: number, limits: EngineLimits, progressPtr: number): void {
  // Spider's SQL uses double-quoted string literals, which this build disables by default.
  x.sqlite3__wasm_db_config_ip(db, DBCONFIG_DQS_DML, 1, 0);
  x.sqlite3__wasm_db_config_ip(db, DBCONFIG_DQS_DDL, 1, 0);
  x.sqlite3__wasm_db_config_ip(db, DBCONFIG_ENABLE_LOAD_EXTENSION, 0, 0);
  x.sqlite3__wasm_db_config_ip(db, DBCONFIG_DEFENSIVE, 1, 0);
  x.sqlite3_limit(db, LIMIT_LENGTH, limits.maxValueBytes);
  x.sqlite3_limit(db, LIMIT_SQL_LENGTH, limits.maxSqlBytes);
  x.sqlite3_limit(db, LIMIT_VDBE_OP, limits.maxProgramOps);
  x.sqlite3_limit(db, LIMIT_COLUMN, 2000);
  x.sqlite3_limit(db, LIMIT_ATTACHED, 0);
  x.sqlite3_progress_handler(db, limits.opsPerTick, progressPtr, 0);
}

/** Removes SQL comments (`-- …` and block comments) outside string literals. */
export function stripComments(sql: string): string {
  return sql.replace(/--[^\n]*|\/\*[\s\S]*?(\*\/|$)/g, " ");
}
