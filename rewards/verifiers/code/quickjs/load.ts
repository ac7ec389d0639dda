import { newQuickJSWASMModuleFromVariant, newVariant, type QuickJSWASMModule, RELEASE_SYNC } from "quickjs-emscripten";

/**
 * Instantiates QuickJS (the release build, synchronous). In workerd pass the compiled module imported
 * from the .wasm file (workerd compiles no WASM from bytes); in Node the variant reads the file itself.
 */
export function loadQuickJs(wasmModule?: WebAssembly.Module): Promise<QuickJSWASMModule> {
  return newQuickJSWASMModuleFromVariant(wasmModule ? newVariant(RELEASE_SYNC, { wasmModule }) : RELEASE_SYNC);
}
