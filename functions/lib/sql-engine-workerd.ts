// The SQLite engine inside workerd. wrangler's CompiledWasm rule (wrangler.toml, **/*.wasm) turns both
// imports into ready WebAssembly.Modules: workerd refuses to compile WASM from bytes at run time.
import sqliteWasm from "@sqlite.org/sqlite-wasm/sqlite3.wasm";
import { EngineHolder, SqliteEngine } from "../../rewards/verifiers/sql";
import callbacksWasm from "../../rewards/verifiers/sql/wasm/sqlite-callbacks.wasm";

/** One engine per isolate, built on first use and rebuilt if a query ever traps inside WASM. */
export const workerdSqlEngine = new EngineHolder(
  () => new SqliteEngine({ sqlite: sqliteWasm, callbacks: callbacksWasm }),
);
