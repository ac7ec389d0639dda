// workerd compiles no WASM from bytes: the module comes from the .wasm file through wrangler's CompiledWasm
// rule. It is QuickJS's release build metered with fuel by scripts/meter-wasm.mjs (committed, checked in CI).

import type { CodeRunner } from "../rewards/core/services";
import { createCodeRunner, loadQuickJs, QuickJsSandbox } from "../rewards/verifiers/code";
import wasmModule from "../rewards/verifiers/code/quickjs/wasm/quickjs-metered.wasm";

/** The isolate's JavaScript sandbox: one QuickJS module, loaded on first use and rebuilt when it breaks. */
export const quickJsSandbox = new QuickJsSandbox({
  load: (memory) => {
    quickJsHeap = memory;
    return loadQuickJs(wasmModule, memory);
  },
});

let quickJsHeap: WebAssembly.Memory | undefined;

/** The WASM heap of the QuickJS module in use (0 before the first load). */
export function quickJsHeapBytes(): number {
  return quickJsHeap?.buffer.byteLength ?? 0;
}

let runner: CodeRunner | undefined;

/** The JavaScript sandbox Worker's code runner: QuickJS for JavaScript and TypeScript. */
export function jsCodeRunner(): CodeRunner {
  runner ??= createCodeRunner({ javascript: quickJsSandbox });
  return runner;
}
