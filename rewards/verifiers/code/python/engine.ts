import { toHex } from "../../../lib/hex";
import { FUEL_EXPORT } from "../types";
import { CApi, type Exports } from "./c-api";
import DRIVER from "./driver.guest.py";
import { DENIED_BUILTINS, denyBuiltins, neuter, PRE_IMPORTS } from "./hardening";
import { restoreSnapshot, type Snapshot, takeSnapshot } from "./snapshot";

export { StaleEngine } from "./snapshot";

/**
 * What booting Pyodide needs, supplied by the platform: workerd imports the compiled main module, the
 * stdlib zip (a Data rule) and the recorded adapter modules; Node reads the files.
 */
export interface PyodideAssets {
  /** `() => import("pyodide")`: imported while `process` is masked (Pyodide reads its runtime at import). */
  importPyodide: () => Promise<{ loadPyodide: (options: Record<string, unknown>) => Promise<unknown> }>;
  /** `() => import("pyodide/pyodide.asm.mjs")`. */
  importAsm: () => Promise<{ default: (settings: Record<string, unknown>) => Promise<unknown> }>;
  /** pyodide.asm.wasm, compiled. */
  wasm: WebAssembly.Module;
  /** python_stdlib.zip. */
  stdlib: ArrayBuffer | Uint8Array;
  /** pyodide-lock.json (text or parsed). */
  lock: unknown;
  /**
   * Where WebAssembly cannot be compiled from bytes (workerd): the small adapter modules Emscripten
   * builds at run time, compiled ahead of time, by the hex of their bytes (scripts/record-pyodide-adapters.mjs).
   */
  adapters?: ReadonlyMap<string, WebAssembly.Module>;
}

/** A limit reached inside a run: thrown from the host hooks, so Python cannot catch it. */
export class LimitHit extends Error {
  constructor(readonly limit: "time" | "memory" | "output") {
    super(`${limit} limit`);
  }
}

/** Host-side state of a run that the WASM imports consult. */
export interface RunHooks {
  /** Called on every CPython signal check (every ~50 bytecodes); throws LimitHit to stop the run. */
  check: () => void;
  /** May the heap grow to this many bytes? */
  mayGrow: (bytes: number) => boolean;
  /**
   * The most the heap may be grown to when it grows (Emscripten grows it past what was asked, up to 1.2x,
   * which would let a run hold more than its limit).
   */
  ceiling: () => number;
  write: (fd: 1 | 2, bytes: Uint8Array) => void;
  read: (into: Uint8Array) => number;
}

/**
 * Between runs: Python must not run at all. Something a run left behind (a callback Pyodide scheduled on
 * a JS timer) would otherwise run later without limits: it is stopped at its first signal check.
 */
export const BETWEEN_RUNS: RunHooks = {
  check: () => {
    throw new LimitHit("time");
  },
  mayGrow: () => false,
  ceiling: () => 0,
  write: () => {},
  read: () => 0,
};

const idle: RunHooks = {
  check: () => {},
  mayGrow: () => true,
  ceiling: () => Number.POSITIVE_INFINITY,
  write: () => {},
  read: () => 0,
};

/** One booted interpreter and the snapshot every run starts from. */
export class PyodideEngine {
  hooks: RunHooks = idle;
  private constructor(
    private readonly M: any,
    private readonly ex: Exports,
    private readonly fns: { prepare: number; seal: number; describe: number; flush: number; result: number },
    private readonly snap: Snapshot,
    /** The metered binary's fuel counter (scripts/meter-wasm.mjs); undefined for an unmetered one. */
    readonly fuel: WebAssembly.Global | undefined,
  ) {}

  /** Bytes of WASM heap at the snapshot. */
  get baseBytes(): number {
    return this.snap.heapLength;
  }
  /** Bytes the snapshot holds (the heap's non-zero stretches, without the dead stack). */
  get snapshotBytes(): number {
    return this.snap.heldBytes;
  }
  get heapBytes(): number {
    return this.ex.memory.buffer.byteLength;
  }

  static async boot(assets: PyodideAssets): Promise<PyodideEngine> {
    const holder: { engine?: PyodideEngine; hooks: () => RunHooks } = { hooks: () => idle };
    let exportsRef: Exports | undefined;
    let fuelRef: WebAssembly.Global | undefined;
    const marker = Symbol("jsv error");
    const g = globalThis as Record<string, unknown>;
    const saved = {
      process: Object.getOwnPropertyDescriptor(g, "process"),
      location: Object.getOwnPropertyDescriptor(g, "location"),
      fetch: Object.getOwnPropertyDescriptor(g, "fetch"),
      setImmediate: Object.getOwnPropertyDescriptor(g, "setImmediate"),
      navigator: Object.getOwnPropertyDescriptor(g, "navigator"),
      WorkerGlobalScope: Object.getOwnPropertyDescriptor(g, "WorkerGlobalScope"),
    };
    const wasmModuleCtor = WebAssembly.Module;
    const stdlibBytes = assets.stdlib instanceof Uint8Array ? assets.stdlib : new Uint8Array(assets.stdlib);
    const INDEX = "https://assay.invalid/pyodide/";
    const define = (k: string, value: unknown) =>
      Object.defineProperty(g, k, { value, configurable: true, writable: true, enumerable: false });
    const restoreGlobal = (k: keyof typeof saved) => {
      const d = saved[k];
      if (d) Object.defineProperty(g, k, d);
      else delete g[k];
    };
    let api: any;
    try {
      // Pyodide takes its Node paths (node:fs, child_process) when it sees process.versions.node.
      define("process", undefined);
      define("location", { href: INDEX, toString: () => INDEX });
      // Pyodide's workerd paths (in Node too, so both platforms boot the same way).
      const ua = (g.navigator as { userAgent?: string } | undefined)?.userAgent ?? "";
      if (!ua.includes("Cloudflare-Workers")) define("navigator", { userAgent: "Cloudflare-Workers" });
      // Emscripten's worker paths (workerd has the class; Node gets an empty constructor of that name while Pyodide loads).
      if (!g.WorkerGlobalScope) define("WorkerGlobalScope", function WorkerGlobalScope() {});
      define("fetch", async (url: unknown) => {
        const u = String(url instanceof Request ? url.url : url);
        if (u.endsWith("python_stdlib.zip")) return new Response(stdlibBytes.slice());
        return new Response(null, { status: 404 });
      });
      if (typeof g.setImmediate !== "function")
        define("setImmediate", (f: (...a: unknown[]) => void, ...a: unknown[]) => setTimeout(() => f(...a), 0));
      if (assets.adapters) {
        const table = assets.adapters;
        const Patched = new Proxy(wasmModuleCtor, {
          construct(target, args, newTarget) {
            const bytes = args[0];
            if (bytes instanceof Uint8Array || bytes instanceof ArrayBuffer) {
              const hit = table.get(toHex(bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes)));
              if (hit) return hit;
            }
            return Reflect.construct(target, args, newTarget);
          },
        });
        (WebAssembly as { Module: unknown }).Module = Patched;
      }
      const [{ loadPyodide }, asm] = await Promise.all([assets.importPyodide(), assets.importAsm()]);
      const createPyodideModule = (settings: Record<string, unknown>) =>
        asm.default({
          ...settings,
          instantiateWasm(
            imports: { env: Record<string, unknown> },
            ok: (i: WebAssembly.Instance, m: WebAssembly.Module) => void,
          ) {
            const env = imports.env;
            env.Jsv_GetError_import = () => marker;
            env.JsvError_Check = (v: unknown) => v === marker;
            env._Py_CheckEmscriptenSignals_Helper = () => {
              holder.hooks().check();
              return 0;
            };
            const resize = env.emscripten_resize_heap as (n: number) => number;
            const PAGE = 65_536;
            /** While a resize runs: the most pages the heap may have after it (Emscripten's overgrowth clamped). */
            let maxPages = Number.POSITIVE_INFINITY;
            env.emscripten_resize_heap = (n: number) => {
              const hooks = holder.hooks();
              const requested = n >>> 0;
              if (!hooks.mayGrow(requested)) return 0;
              // Never below what was asked for: Emscripten only checks that the growth did not throw.
              maxPages = Math.max(Math.ceil(requested / PAGE), Math.floor(hooks.ceiling() / PAGE));
              try {
                return resize(n);
              } finally {
                maxPages = Number.POSITIVE_INFINITY;
              }
            };
            const instance = new WebAssembly.Instance(assets.wasm, imports as WebAssembly.Imports);
            exportsRef = instance.exports as unknown as Exports;
            const memory = instance.exports.memory as WebAssembly.Memory;
            const grow = memory.grow.bind(memory);
            memory.grow = (pages: number) =>
              grow(Math.min(pages, Math.max(0, maxPages - memory.buffer.byteLength / PAGE)));
            const fuel = instance.exports[FUEL_EXPORT];
            fuelRef = fuel instanceof WebAssembly.Global ? fuel : undefined;
            ok(instance, assets.wasm);
            return instance.exports;
          },
        });
      const options: Record<string, unknown> = {
        indexURL: INDEX,
        stdLibURL: `${INDEX}python_stdlib.zip`,
        lockFileContents: assets.lock,
        jsglobals: Object.create(null),
        createPyodideModule,
        env: { HOME: "/home/sandbox", PYTHONHASHSEED: "0" },
        checkAPIVersion: true,
      };
      api = await loadPyodide(options);
    } finally {
      restoreGlobal("process");
      restoreGlobal("location");
      restoreGlobal("fetch");
      restoreGlobal("setImmediate");
      restoreGlobal("navigator");
      restoreGlobal("WorkerGlobalScope");
      (WebAssembly as { Module: unknown }).Module = wasmModuleCtor;
    }
    const M = api._module;
    const ex = exportsRef!;
    api.unregisterJsModule("pyodide_js");
    // PyProxies made during a run would be finalized after the heap was put back: never finalize any.
    M.finalizationRegistry = { register() {}, unregister() {} };
    // Output and input go straight to the run's hooks, unbuffered on the JS side (no JS state to reset).
    const writer = (fd: 1 | 2) => (b: Uint8Array) => {
      holder.hooks().write(fd, b);
      return b.length;
    };
    api.setStdout({ write: writer(1) });
    api.setStderr({ write: writer(2) });
    api.setStdin({ read: (b: Uint8Array) => holder.hooks().read(b), isatty: false });
    // CPython calls _Py_CheckEmscriptenSignals_Helper only once an interrupt buffer is set.
    api.setInterruptBuffer(new Int32Array(1));

    api.runPython(DRIVER);
    const boot = api.globals.get("__assay_boot__");
    const fnsProxy = boot(api.toPy(PRE_IMPORTS), api.toPy(DENIED_BUILTINS));
    const c = new CApi(M, ex);
    const ids = api
      .runPython("import builtins\n[id(f) for f in __assay_fns__]", { globals: api.toPy({ __assay_fns__: fnsProxy }) })
      .toJs() as number[];
    for (const id of ids) c.incref(id);
    denyBuiltins(M, DENIED_BUILTINS);
    neuter(api, c, M);
    api.runPython("del __assay_boot__\nimport gc\ngc.collect()");
    const engine = new PyodideEngine(
      M,
      ex,
      { prepare: ids[0]!, seal: ids[1]!, describe: ids[2]!, flush: ids[3]!, result: ids[4]! },
      takeSnapshot(M, ex),
      fuelRef,
    );
    engine.hooks = BETWEEN_RUNS;
    holder.hooks = () => engine.hooks;
    holder.engine = engine;
    return engine;
  }

  /** The C API, for the sandbox. */
  get c(): CApi {
    return new CApi(this.M, this.ex);
  }

  /** The driver's prepare(): JSON in, JSON out; null when it raised (a harness failure). */
  prepare(payload: string): string | null {
    const c = this.c;
    const arg = c.str(payload);
    const r = c.call1(this.fns.prepare, arg);
    c.decref(arg);
    if (!r) {
      c.clearError();
      return null;
    }
    const s = c.readStr(r);
    c.decref(r);
    return s;
  }

  /** The driver's seal(): puts the modules back, returns the tests' namespace (or null on an exception). */
  seal(): number | null {
    const c = this.c;
    const r = c.call0(this.fns.seal);
    if (!r) {
      c.clearError();
      return null;
    }
    return c.longValue(r);
  }

  flush(): void {
    const c = this.c;
    const r = c.call0(this.fns.flush);
    if (r) c.decref(r);
    else c.clearError();
  }

  /** Runs a code object in a namespace: true when it ran to its end, else the raised exception's description. */
  eval(codeId: number, nsId: number): true | Record<string, unknown> {
    const c = this.c;
    const r = c.evalCode(codeId, nsId);
    if (r) {
      c.decref(r);
      return true;
    }
    return this.takeException();
  }

  /** Takes the pending exception and describes it (through the driver). */
  takeException(): Record<string, unknown> {
    const c = this.c;
    const exc = c.takeRaised();
    if (!exc) return { type: "unknown", text: "an unknown error" };
    const d = c.call1(this.fns.describe, exc);
    if (!d) {
      c.clearError();
      return { type: "unknown", text: "an exception that cannot be described" };
    }
    const s = c.readStr(d);
    return JSON.parse(s) as Record<string, unknown>;
  }

  /** The driver's result(): what a python grader's grade() returned, as JSON; null when it raised. */
  gradeResult(nsId: number): string | null {
    const c = this.c;
    const r = c.call1(this.fns.result, nsId);
    if (!r) {
      c.clearError();
      return null;
    }
    const s = c.readStr(r);
    c.decref(r);
    return s;
  }

  dictGetStr(nsId: number, key: string): string | undefined {
    return this.c.dictGetStr(nsId, key);
  }

  mergeInto(dst: number, src: number): boolean {
    return this.c.dictMerge(dst, src);
  }

  /** Puts the interpreter back as it was at the snapshot. Throws when that is impossible (rebuild). */
  restore(): void {
    restoreSnapshot(this.M, this.ex, this.snap);
  }
}
