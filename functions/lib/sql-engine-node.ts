// The SQLite engine in Node (the `score` CLI, Node tests, benchmarks): the same modules as in workerd,
// read from disk and compiled here.
import { readFileSync } from "node:fs";
import { EngineHolder, type EngineLimits, SqliteEngine } from "../../rewards/verifiers/sql";

// The Workers type definitions in scope describe WebAssembly.Module as not constructible; Node's is.
const compile = (bytes: Uint8Array) =>
  new (WebAssembly.Module as unknown as new (b: Uint8Array) => WebAssembly.Module)(bytes);

let modules: Promise<{ sqlite: WebAssembly.Module; callbacks: WebAssembly.Module; bytes: Uint8Array }> | undefined;

function load() {
  modules ??= (async () => {
    // sqlite3.wasm metered with fuel by scripts/meter-wasm.mjs.
    const bytes = new Uint8Array(
      readFileSync(new URL("../../rewards/verifiers/sql/wasm/sqlite3-metered.wasm", import.meta.url)),
    );
    const callbacks = readFileSync(new URL("../../rewards/verifiers/sql/wasm/sqlite-callbacks.wasm", import.meta.url));
    return { sqlite: compile(bytes), callbacks: compile(callbacks), bytes };
  })();
  return modules;
}

/** A new engine (its own WASM instance and memory). */
export async function nodeSqliteEngine(limits: Partial<EngineLimits> = {}): Promise<SqliteEngine> {
  const m = await load();
  return new SqliteEngine({ sqlite: m.sqlite, callbacks: m.callbacks }, limits, m.bytes);
}

/** One engine per process, rebuilt after a crash. */
export const nodeSqlEngine = new EngineHolder(() => nodeSqliteEngine());
