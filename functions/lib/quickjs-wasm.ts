// workerd compiles no WASM from bytes: the module comes from the .wasm file through wrangler's CompiledWasm
// rule (the package's "/wasm" export does not end in .wasm and its export map hides dist/, hence the path).
import wasmModule from "../../node_modules/@jitl/quickjs-wasmfile-release-sync/dist/emscripten-module.wasm";
import type { CodeRunner } from "../../rewards/core/services";
import { createCodeRunner, loadQuickJs, QuickJsSandbox } from "../../rewards/verifiers/code";
import { pythonSandbox } from "./pyodide-wasm";

/** The isolate's JavaScript sandbox: one QuickJS module, loaded on first use and rebuilt when it breaks. */
export const quickJsSandbox = new QuickJsSandbox({ load: (memory) => loadQuickJs(wasmModule, memory) });

let runner: CodeRunner | undefined;

/** The code runner the platform puts on ctx.services.code: QuickJS for JavaScript, Pyodide for Python. */
export function workerdCodeRunner(): CodeRunner {
  runner ??= createCodeRunner({ javascript: quickJsSandbox, python: pythonSandbox });
  return runner;
}
