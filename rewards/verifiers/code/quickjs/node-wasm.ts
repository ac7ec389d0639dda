import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

/**
 * QuickJS compiled from a file, for the sandbox in Node (tests, bench, CLI). `metered: false` gives the
 * package's own binary, without fuel (the bench's side-by-side peer; its time limit is coarser).
 */
export function nodeQuickJsWasm(metered = true): WebAssembly.Module {
  const path = metered
    ? new URL("./wasm/quickjs-metered.wasm", import.meta.url)
    : createRequire(import.meta.url).resolve("@jitl/quickjs-wasmfile-release-sync/wasm");
  // (workerd's types declare WebAssembly.Module abstract; Node compiles from bytes.)
  return new (WebAssembly.Module as unknown as new (b: Uint8Array) => WebAssembly.Module)(readFileSync(path));
}
