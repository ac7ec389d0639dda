import type { CApi } from "./c-api";

/**
 * What the snapshot is stripped of before any run: the stdlib a run may import pre-loaded, builtin modules
 * no import can reach, and a few builtins whose C function is swapped for a harmless one. All of it is in
 * the WASM heap, so the snapshot keeps it and every restore brings it back.
 */

const decoder = new TextDecoder();
const encoder = new TextEncoder();
type Fn = (...args: number[]) => number;

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

/**
 * Renames the denied entries of CPython's table of builtin modules to names no import can ask for. The
 * interpreter works from a copy of PyImport_Inittab made at startup: both are patched (in the heap, so
 * the snapshot keeps them).
 */
export function denyBuiltins(M: any, names: string[]): void {
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
export function neuter(api: any, _c: CApi, M: any): void {
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
