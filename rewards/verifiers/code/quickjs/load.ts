import { newQuickJSWASMModuleFromVariant, newVariant, type QuickJSWASMModule, RELEASE_SYNC } from "quickjs-emscripten";
import { FUEL_EXPORT } from "../types";

/** scripts/meter-wasm.mjs exports the binary's mutable globals under this prefix (`exportGlobals`). */
const GLOBAL_EXPORT_PREFIX = "assay_global_";

/** A loaded QuickJS module and, for a metered binary, its fuel counter (an i64 wasm global). */
export interface LoadedQuickJs {
  module: QuickJSWASMModule;
  fuel: WebAssembly.Global | undefined;
  /**
   * The module's other mutable globals, where the binary exports them (the metered one does): for
   * QuickJS just the C stack pointer. The sandbox saves and restores them with the heap.
   */
  globals: WebAssembly.Global[];
}

/**
 * Instantiates QuickJS (the release build, synchronous) from a compiled module: in workerd the one
 * imported from rewards/verifiers/code/quickjs/wasm/quickjs-metered.wasm (workerd compiles no WASM from
 * bytes), in Node one compiled from that file (node-wasm.ts). `wasmMemory` replaces the heap Emscripten
 * would create (the sandbox passes one whose growth it caps). The instance is made here, not by
 * quickjs-emscripten, so that the fuel global is reachable.
 */
export async function loadQuickJs(
  wasmModule: WebAssembly.Module,
  wasmMemory?: WebAssembly.Memory,
): Promise<LoadedQuickJs> {
  let fuel: WebAssembly.Global | undefined;
  const globals: WebAssembly.Global[] = [];
  const module = await newQuickJSWASMModuleFromVariant(
    newVariant(RELEASE_SYNC, {
      ...(wasmMemory ? { wasmMemory } : {}),
      emscriptenModule: {
        instantiateWasm(imports: WebAssembly.Imports, onSuccess: (instance: WebAssembly.Instance) => void) {
          const instance = new WebAssembly.Instance(wasmModule, imports);
          const g = instance.exports[FUEL_EXPORT];
          fuel = g instanceof WebAssembly.Global ? g : undefined;
          for (const [name, value] of Object.entries(instance.exports)) {
            if (name.startsWith(GLOBAL_EXPORT_PREFIX) && value instanceof WebAssembly.Global) globals.push(value);
          }
          onSuccess(instance);
          return instance.exports;
        },
      },
    }),
  );
  return { module, fuel, globals };
}
