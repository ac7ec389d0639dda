// workerd compiles no WASM from bytes and cannot read files: Pyodide's main module comes through the
// CompiledWasm rule, the stdlib zip through the Data rule, the lock file as JSON, and the small modules
// Pyodide would compile at run time as recorded ones (scripts/record-pyodide-adapters.mjs).
// The main module is Pyodide's, metered with fuel by scripts/meter-wasm.mjs (written by predev/pretest/
// predeploy; its sha256 is committed beside it).

import lock from "../node_modules/pyodide/pyodide-lock.json";
import stdlib from "../node_modules/pyodide/python_stdlib.zip";
import type { CodeRunner } from "../rewards/core/services";
import { createCodeRunner } from "../rewards/verifiers/code";
import { PYODIDE_ADAPTERS } from "../rewards/verifiers/code/python/adapters";
import { createPythonGraderService, type PythonGraderService } from "../rewards/verifiers/code/python/grade";
import { PyodideSandbox } from "../rewards/verifiers/code/python/sandbox";
import wasm from "../rewards/verifiers/code/python/wasm/pyodide-metered.wasm";

/** The isolate's Python sandbox: one interpreter, booted on first use, restored from its snapshot per run. */
export const pythonSandbox = new PyodideSandbox({
  assets: async () => ({
    importPyodide: () => import("pyodide") as never,
    importAsm: () => import("pyodide/pyodide.asm.mjs") as never,
    wasm,
    stdlib,
    lock,
    adapters: PYODIDE_ADAPTERS,
  }),
});

let grader: PythonGraderService | undefined;

/** The python graders' service: the same interpreter as code tests. */
export function pythonGrader(): PythonGraderService {
  grader ??= createPythonGraderService(pythonSandbox);
  return grader;
}

let runner: CodeRunner | undefined;

/** The Python sandbox Worker's code runner. */
export function pythonCodeRunner(): CodeRunner {
  runner ??= createCodeRunner({ python: pythonSandbox });
  return runner;
}
