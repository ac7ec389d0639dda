/** Emscripten's module factory in pyodide.asm.mjs (the package ships no types for it). */
declare module "pyodide/pyodide.asm.mjs" {
  const createPyodideModule: (settings: Record<string, unknown>) => Promise<unknown>;
  export default createPyodideModule;
}
