// The SQLite engine inside workerd. wrangler's CompiledWasm rule (wrangler.toml, **/*.wasm) turns both
// imports into ready WebAssembly.Modules: workerd refuses to compile WASM from bytes at run time.
// sqlite3.wasm metered with fuel by scripts/meter-wasm.mjs (committed, checked in CI).

import { EngineHolder, type EngineLimits, SqliteEngine } from "../../rewards/verifiers/sql";
import callbacksWasm from "../../rewards/verifiers/sql/wasm/sqlite-callbacks.wasm";
import sqliteWasm from "../../rewards/verifiers/sql/wasm/sqlite3-metered.wasm";

/** A new engine with its own WASM memory: for one-off work (checking an upload) whose memory should go with it. */
export function newWorkerdSqlEngine(limits: Partial<EngineLimits> = {}): SqliteEngine {
  return new SqliteEngine({ sqlite: sqliteWasm, callbacks: callbacksWasm }, limits);
}

/** The scoring engine: one per isolate, built on first use and rebuilt if a query ever traps inside WASM. */
export const workerdSqlEngine = new EngineHolder(() => newWorkerdSqlEngine());
