import { newQuickJSWASMModuleFromVariant, newVariant, type QuickJSWASMModule, RELEASE_SYNC } from "quickjs-emscripten";

/**
 * Instantiates QuickJS (the release build, synchronous). In workerd pass the compiled module imported
 * from the .wasm file (workerd compiles no WASM from bytes); in Node the variant reads the file itself.
 * `wasmMemory` replaces the heap Emscripten would create (the sandbox passes one whose growth it caps).
 */
export function loadQuickJs(
  wasmModule?: WebAssembly.Module,
  wasmMemory?: WebAssembly.Memory,
): Promise<QuickJSWASMModule> {
  return newQuickJSWASMModuleFromVariant(
    newVariant(RELEASE_SYNC, { ...(wasmModule ? { wasmModule } : {}), ...(wasmMemory ? { wasmMemory } : {}) }),
  );
}
