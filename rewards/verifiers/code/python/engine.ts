import { toHex } from "../../../lib/hex";
import { FUEL_EXPORT } from "../types";
import { DRIVER } from "./driver";

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

/** Stdlib modules imported before the snapshot, so a run that imports them pays nothing. */
export const PRE_IMPORTS = [
  "math",
  "cmath",
  "re",
  "string",
  "collections",
  "collections.abc",
  "itertools",
  "functools",
  "operator",
  "heapq",
  "bisect",
  "typing",
  "random",
  "json",
  "hashlib",
  "fractions",
  "decimal",
  "datetime",
  "statistics",
  "copy",
  "dataclasses",
  "enum",
  "abc",
  "numbers",
  "textwrap",
  "unicodedata",
  "array",
  "time",
  "io",
  "os",
  "sys",
  "ast",
  "traceback",
  "string",
  "struct",
  "queue",
  "types",
  "contextlib",
];

/**
 * Builtin modules the model's code cannot import: removed from CPython's table of builtin modules in
 * the snapshot, so no import route (importlib, _imp.create_builtin) finds them. ctypes writes the WASM
 * heap; _socket would reach Emscripten's WebSocket emulation; the _test* modules expose raw C APIs.
 */
export const DENIED_BUILTINS = [
  "_ctypes",
  "_socket",
  "select",
  "_pyodide_core",
  "_posixsubprocess",
  "_testcapi",
  "_testinternalcapi",
  "_testlimitedcapi",
  "_testclinic",
  "_testclinic_limited",
  "_testbuffer",
  "_xxtestfuzz",
  "_remote_debugging",
  "xxsubtype",
];

/** Functions replaced in C (their PyMethodDef) by a harmless one of the same signature. */
const NEUTERED: [module: string, fn: string, by: string][] = [
  // The way to find any object (and so the harness) from the model's code.
  ["gc", "get_objects", "gc.get_objects"],
  ["gc", "get_referrers", "gc.get_referrers"],
  ["gc", "get_referents", "gc.get_referents"],
  // Line tracing can jump over the tests' asserts (frame.f_lineno).
  ["sys", "settrace", "sys.settrace"],
  ["sys", "_settraceallthreads", "sys._settraceallthreads"],
];

type Exports = Record<string, unknown> & {
  memory: WebAssembly.Memory;
  __indirect_function_table: WebAssembly.Table;
  __stack_pointer: WebAssembly.Global;
  __stack_low: WebAssembly.Global;
};
type Fn = (...args: number[]) => number;

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** Host-side state of a run that the WASM imports consult. */
export interface RunHooks {
  /** Called on every CPython signal check (every ~50 bytecodes); throws LimitHit to stop the run. */
  check: () => void;
  /** May the heap grow to this many bytes? */
  mayGrow: (bytes: number) => boolean;
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
  write: () => {},
  read: () => 0,
};

const idle: RunHooks = {
  check: () => {},
  mayGrow: () => true,
  write: () => {},
  read: () => 0,
};

/** One booted interpreter and the snapshot every run starts from. */
export class PyodideEngine {
  hooks: RunHooks = idle;
  private constructor(
    private readonly M: any,
    private readonly ex: Exports,
    private readonly fns: { prepare: number; seal: number; describe: number; flush: number },
    private readonly snap: Snapshot,
    /** The metered binary's fuel counter (scripts/meter-wasm.mjs); undefined for an unmetered one. */
    readonly fuel: WebAssembly.Global | undefined,
  ) {}

  /** Bytes of WASM heap at the snapshot. */
  get baseBytes(): number {
    return this.snap.memory.byteLength;
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
              const hit = table.get(toHex(bytes));
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
            env.emscripten_resize_heap = (n: number) => (holder.hooks().mayGrow(n >>> 0) ? resize(n) : 0);
            const instance = new WebAssembly.Instance(assets.wasm, imports as WebAssembly.Imports);
            exportsRef = instance.exports as unknown as Exports;
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
      { prepare: ids[0]!, seal: ids[1]!, describe: ids[2]!, flush: ids[3]! },
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

/** Thin wrappers over the exported C API; objects are addresses (CPython's id()). */
export class CApi {
  private readonly f: Record<string, Fn>;
  constructor(
    private readonly M: any,
    ex: Exports,
  ) {
    this.f = ex as unknown as Record<string, Fn>;
  }
  str(s: string): number {
    const bytes = encoder.encode(s);
    const p = this.f.malloc!(bytes.length + 1);
    const heap = new Uint8Array(this.M.HEAPU8.buffer);
    heap.set(bytes, p);
    heap[p + bytes.length] = 0;
    const o = this.f.PyUnicode_DecodeUTF8!(p, bytes.length, 0);
    this.f.free!(p);
    return o;
  }
  readStr(o: number): string {
    const sizeP = this.f.malloc!(4);
    const p = this.f.PyUnicode_AsUTF8AndSize!(o, sizeP);
    const view = new DataView(this.M.HEAPU8.buffer);
    const n = view.getUint32(sizeP, true);
    this.f.free!(sizeP);
    if (!p) {
      this.clearError();
      return "";
    }
    return decoder.decode(new Uint8Array(this.M.HEAPU8.buffer, p, n));
  }
  longValue(o: number): number {
    const v = this.f.PyLong_AsDouble!(o);
    return v;
  }
  call0(fn: number): number {
    return this.f.PyObject_CallNoArgs!(fn);
  }
  call1(fn: number, a: number): number {
    return this.f.PyObject_CallOneArg!(fn, a);
  }
  evalCode(code: number, ns: number): number {
    return this.f.PyEval_EvalCode!(code, ns, ns);
  }
  takeRaised(): number {
    return this.f.PyErr_GetRaisedException!();
  }
  clearError(): void {
    this.f.PyErr_Clear!();
  }
  incref(o: number): void {
    this.f.Py_IncRef!(o);
  }
  decref(o: number): void {
    this.f.Py_DecRef!(o);
  }
  dictMerge(dst: number, src: number): boolean {
    const r = this.f.PyDict_Merge!(dst, src, 0);
    if (r !== 0) this.clearError();
    return r === 0;
  }
  dictGetStr(d: number, key: string): string | undefined {
    const k = encoder.encode(key);
    const p = this.f.malloc!(k.length + 1);
    const heap = new Uint8Array(this.M.HEAPU8.buffer);
    heap.set(k, p);
    heap[p + k.length] = 0;
    const v = this.f.PyDict_GetItemString!(d, p);
    this.f.free!(p);
    if (!v) return undefined;
    if (!isStr(this.M, v, this.f)) return undefined;
    return this.readStr(v);
  }
}

function isStr(M: any, o: number, f: Record<string, Fn>): boolean {
  const view = new DataView(M.HEAPU8.buffer);
  const type = view.getUint32(o + 4, true);
  return type === (f.PyUnicode_Type as unknown as WebAssembly.Global).value;
}

/**
 * Renames the denied entries of CPython's table of builtin modules to names no import can ask for. The
 * interpreter works from a copy of PyImport_Inittab made at startup: both are patched (in the heap, so
 * the snapshot keeps them).
 */
function denyBuiltins(M: any, names: string[]): void {
  const heap = new Uint8Array(M.HEAPU8.buffer);
  const view = new DataView(M.HEAPU8.buffer);
  const original = view.getUint32(M._PyImport_Inittab, true);
  const readCStr = (p: number) => {
    let e = p;
    while (heap[e] !== 0) e++;
    return decoder.decode(heap.subarray(p, e));
  };
  // The copy starts with the same first two entries (name and init function pointers).
  const first = [0, 1, 2, 3].map((i) => view.getUint32(original + i * 4, true));
  const tables = [original];
  for (let a = 0; a + 16 <= heap.length; a += 4) {
    if (a === original || view.getUint32(a, true) !== first[0]) continue;
    if (first.every((w, i) => view.getUint32(a + i * 4, true) === w)) tables.push(a);
  }
  if (tables.length < 2) throw new Error("the runtime copy of the builtin module table was not found");
  const wanted = new Set(names);
  const denied = new Map<string, number>();
  for (const table of tables) {
    for (let i = 0; ; i++) {
      const nameP = view.getUint32(table + i * 8, true);
      if (!nameP) break;
      const name = readCStr(nameP);
      if (!wanted.has(name)) continue;
      let p = denied.get(name);
      if (p === undefined) {
        const bytes = encoder.encode(`denied:${name}`);
        p = (M._malloc as Fn)(bytes.length + 1);
        heap.set(bytes, p);
        heap[p + bytes.length] = 0;
        denied.set(name, p);
      }
      view.setUint32(table + i * 8, p, true);
    }
  }
}

/**
 * Swaps the C function behind a few builtins (the PyMethodDef every function object made from it
 * reads) for a harmless one with the same flags, so the same WASM signature: gc.get_objects() and
 * friends answer with a list of nothing useful, sys.settrace does nothing.
 */
function neuter(api: any, _c: CApi, M: any): void {
  const view = () => new DataView(M.HEAPU8.buffer);
  const addr = (expr: string) => Number(api.runPython(`id(${expr})`));
  const ml = (fnAddr: number) => view().getUint32(fnAddr + 8, true);
  const flags = (def: number) => view().getInt32(def + 8, true);
  const meth = (def: number) => view().getUint32(def + 4, true);
  api.runPython("import gc, sys");
  // Replacements by flags: METH_FASTCALL|METH_KEYWORDS, METH_VARARGS, METH_O.
  const candidates = [
    "gc.get_stats",
    "gc.get_count",
    "gc.is_tracked",
    "gc.isenabled",
    "gc.get_threshold",
    "sys.getrecursionlimit",
    "sys.intern",
    "gc.get_freeze_count",
    "gc.is_finalized",
    "gc.collect",
    "sys.exc_info",
    "sys.getdefaultencoding",
    "id",
    "len",
    "gc.enable",
    "divmod",
  ];
  const pool = candidates.map((e) => {
    const def = ml(addr(e));
    return { e, flags: flags(def), meth: meth(def) };
  });
  for (const [, , expr] of NEUTERED) {
    let a: number;
    try {
      a = addr(expr);
    } catch {
      continue;
    }
    const def = ml(a);
    const f = flags(def);
    const harmless = pickHarmless(expr, f, pool);
    if (!harmless) throw new Error(`no harmless replacement for ${expr} (flags ${f})`);
    view().setUint32(def + 4, harmless.meth, true);
  }
}

function pickHarmless(
  expr: string,
  f: number,
  pool: { e: string; flags: number; meth: number }[],
): { e: string; meth: number } | undefined {
  // Preferences: get_objects-like → gc.get_stats (FASTCALL) / gc.get_count; METH_O → gc.is_tracked.
  const prefer: Record<string, string[]> = {
    "gc.get_objects": ["gc.collect", "gc.get_stats"],
    "gc.get_referrers": ["divmod", "gc.get_stats"],
    "gc.get_referents": ["divmod", "gc.get_stats"],
    "sys.settrace": ["gc.is_tracked", "gc.is_finalized", "len", "id"],
    "sys._settraceallthreads": ["gc.is_tracked", "gc.is_finalized", "len", "id"],
  };
  for (const e of prefer[expr] ?? []) {
    const hit = pool.find((p) => p.e === e && p.flags === f);
    if (hit) return hit;
  }
  return pool.find((p) => p.flags === f && p.e.startsWith("gc.") && p.e !== "gc.collect");
}

// ---- snapshot -----------------------------------------------------------------------------------------

interface NodeState {
  node: any;
  props: Record<string, unknown>;
  /** Directory: children by name. File: bytes. */
  contents: unknown;
}

interface Snapshot {
  memory: Uint8Array;
  stackPointer: number;
  /** [deadStackFrom, deadStackTo): the C stack below the stack pointer at the snapshot (not restored). */
  deadStackFrom: number;
  deadStackTo: number;
  tableLength: number;
  hiwire: unknown[];
  nodes: NodeState[];
  nameTable: unknown[];
  streams: unknown[];
  streamProps: Map<object, Record<string, unknown>>;
  cwd: string;
  nextInode: number;
  dirty: Dirty;
}

function ownProps(o: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(o)) out[k] = (o as Record<string, unknown>)[k];
  return out;
}

/** Regular files written since the snapshot ("all" after a truncate or msync, which are rarer). */
interface Dirty {
  nodes: Set<object>;
  all: boolean;
}

/** Wraps the FS entry points that change a file's bytes in place, to know which files to put back. */
function trackWrites(FS: any): Dirty {
  const dirty: Dirty = { nodes: new Set(), all: false };
  const write = FS.write;
  FS.write = (stream: any, ...rest: unknown[]) => {
    if (stream?.node && FS.isFile(stream.node.mode)) dirty.nodes.add(stream.node);
    return write(stream, ...rest);
  };
  for (const name of ["truncate", "ftruncate", "doTruncate", "msync", "mmap"]) {
    const f = FS[name];
    if (typeof f !== "function") continue;
    FS[name] = (...args: unknown[]) => {
      dirty.all = true;
      return f(...args);
    };
  }
  return dirty;
}

function takeSnapshot(M: any, ex: Exports): Snapshot {
  const FS = M.FS;
  const dirty = trackWrites(FS);
  const nodes: NodeState[] = [];
  const seen = new Set<object>();
  const walk = (node: any) => {
    if (!node || seen.has(node)) return;
    seen.add(node);
    const c = node.contents;
    let contents: unknown = c;
    if (FS.isDir(node.mode) && c && typeof c === "object") contents = { ...c };
    else if (c instanceof Uint8Array) contents = c.slice(0, node.usedBytes ?? c.length);
    else if (Array.isArray(c)) contents = c.slice();
    nodes.push({ node, props: ownProps(node), contents });
    if (FS.isDir(node.mode) && c && typeof c === "object") for (const k of Object.keys(c)) walk(c[k]);
    if (node.mounted?.root) walk(node.mounted.root);
  };
  walk(FS.root);
  const hiwire: unknown[] = [];
  const get = M.__hiwire_get as (i: number) => unknown;
  for (let i = 0; i < 1_000_000; i++) {
    try {
      hiwire.push(get(i));
    } catch {
      break;
    }
  }
  const streamProps = new Map<object, Record<string, unknown>>();
  for (const s of FS.streams) if (s) streamProps.set(s, ownProps(s));
  return {
    memory: new Uint8Array(ex.memory.buffer).slice(),
    stackPointer: ex.__stack_pointer.value as number,
    deadStackFrom: (ex.__stack_low as WebAssembly.Global).value as number,
    // A page of margin under the live frames.
    deadStackTo: Math.max(
      (ex.__stack_low as WebAssembly.Global).value as number,
      (ex.__stack_pointer.value as number) - 65_536,
    ),
    tableLength: ex.__indirect_function_table.length,
    hiwire,
    nodes,
    nameTable: FS.nameTable.slice(),
    streams: FS.streams.slice(),
    streamProps,
    cwd: FS.currentPath,
    nextInode: FS.nextInode,
    dirty,
  };
}

/** A heap that grew more than this past the snapshot is dropped rather than zeroed at every restore. */
const MAX_TAIL_BYTES = 32 * 2 ** 20;

/** Function table entries added after the snapshot would be stale: the engine must be rebuilt then. */
export class StaleEngine extends Error {}

function restoreSnapshot(M: any, ex: Exports, s: Snapshot): void {
  if (ex.__indirect_function_table.length !== s.tableLength)
    throw new StaleEngine("the function table changed: a run added WASM functions");
  const heap = new Uint8Array(ex.memory.buffer);
  // Fresh heap above the snapshot must read as zeros again (sbrk memory is assumed zeroed by calloc);
  // zeroing a large grown tail on every later restore would cost more than one rebuild.
  if (heap.length - s.memory.length > MAX_TAIL_BYTES)
    throw new StaleEngine(
      `the heap grew ${Math.round((heap.length - s.memory.length) / 2 ** 20)} MiB past the snapshot`,
    );
  // The C stack below the snapshot's stack pointer holds only dead frames (nothing reads a stack slot it
  // did not write): copying it back would cost a third of the restore for nothing observable.
  heap.set(s.memory.subarray(0, s.deadStackFrom), 0);
  heap.set(s.memory.subarray(s.deadStackTo), s.deadStackTo);
  if (heap.length > s.memory.length) heap.fill(0, s.memory.length);
  ex.__stack_pointer.value = s.stackPointer;
  const set = M.__hiwire_set as (i: number, v: unknown) => void;
  for (let i = 0; i < s.hiwire.length; i++) set(i, s.hiwire[i]);
  const FS = M.FS;
  for (const n of s.nodes) {
    const node = n.node;
    const replaced = node.contents !== n.props.contents;
    for (const k of Object.keys(node)) if (!(k in n.props)) delete node[k];
    Object.assign(node, n.props);
    if (FS.isDir(node.mode) && n.contents && typeof n.contents === "object" && !(n.contents instanceof Uint8Array))
      node.contents = { ...(n.contents as object) };
    else if (n.contents instanceof Uint8Array) {
      if (replaced || s.dirty.all || s.dirty.nodes.has(node)) {
        node.contents = n.contents.slice();
        n.props.contents = node.contents;
      }
    } else if (Array.isArray(n.contents)) node.contents = n.contents.slice();
  }
  FS.nameTable.length = 0;
  for (let i = 0; i < s.nameTable.length; i++) FS.nameTable[i] = s.nameTable[i];
  FS.streams.length = 0;
  for (let i = 0; i < s.streams.length; i++) {
    const st = s.streams[i] as object | undefined;
    FS.streams[i] = st;
    if (st) Object.assign(st, s.streamProps.get(st));
  }
  FS.currentPath = s.cwd;
  FS.nextInode = s.nextInode;
  s.dirty.nodes.clear();
  s.dirty.all = false;
}
