import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { PyodideAssets } from "./engine";

/**
 * Pyodide's files read from node_modules, for the sandbox in Node (tests, bench, CLI); the main module
 * metered with fuel unless `metered` is false (the bench's peer).
 */
export async function nodePyodideAssets(metered = true): Promise<PyodideAssets> {
  const dir = dirname(createRequire(import.meta.url).resolve("pyodide/package.json"));
  // The metered main module is written by `npm run wasm:meter` (pretest, prebench run it).
  const main = metered
    ? fileURLToPath(new URL("./wasm/pyodide-metered.wasm", import.meta.url))
    : join(dir, "pyodide.asm.wasm");
  const [wasmBytes, stdlib, lock] = await Promise.all([
    readFile(main),
    readFile(join(dir, "python_stdlib.zip")),
    readFile(join(dir, "pyodide-lock.json"), "utf8"),
  ]);
  return {
    importPyodide: () => import("pyodide") as never,
    importAsm: () => import("pyodide/pyodide.asm.mjs") as never,
    // (workerd's types declare WebAssembly.Module abstract; Node compiles from bytes.)
    wasm: new (WebAssembly.Module as unknown as new (b: Uint8Array) => WebAssembly.Module)(wasmBytes),
    stdlib: new Uint8Array(stdlib),
    lock,
  };
}
