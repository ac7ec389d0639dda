#!/usr/bin/env node
/**
 * Meters the sandboxes' WebAssembly binaries with fuel, so that every run stops itself after a fixed
 * amount of work, native work included (a C builtin's loop runs no interpreter check, but it runs wasm
 * loops). With Binaryen (the `binaryen` npm package) it adds one mutable i64 global, exported as
 * `assay_fuel`, and at the head of every loop body and (with `entries`) at the entry of every function on a
 * cycle of the call graph or calling through the function table or into the host (functionsToCharge):
 *
 *   assay_fuel = assay_fuel - 1; if (assay_fuel < 0) unreachable
 *
 * The global starts at i64 max (boot and set-up are never stopped); the host sets it to a run's budget
 * before the run, and a trap with the global below zero is the run's time limit. A trap leaves the
 * module's memory in an unknown state, so the hosts rebuild or restore it (quickjs/sandbox.ts,
 * python/sandbox.ts, sql/sqlite.ts).
 *
 *   node scripts/meter-wasm.mjs            # write every metered binary that is out of date
 *   node scripts/meter-wasm.mjs --check    # exit 1 if a committed metered binary (or a generated one's
 *                                          # committed sha256) is not what this writes; writes missing
 *                                          # generated binaries
 *   node scripts/meter-wasm.mjs quickjs    # only the named target(s)
 *
 * With `exportGlobals`, every mutable global of the input is also exported, as `assay_global_<index>`, so
 * the host can save and restore them with the memory (quickjs/sandbox.ts's snapshot).
 *
 * Outputs are deterministic (same input bytes, same binaryen, same output bytes); each target records its
 * input's sha256 in <output>.json so a stale output is detected without rewriting it.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import binaryen from "binaryen";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(import.meta.url);
const pkgDir = (name) => dirname(require.resolve(`${name}/package.json`));

export const FUEL_GLOBAL = "assay_fuel";
export const EXPORTED_GLOBAL_PREFIX = "assay_global_";
/** What the step does, part of each stamp: a change here makes every output stale. */
const METER_VERSION = 3;

export const TARGETS = {
  quickjs: {
    input: () => join(root, "node_modules/@jitl/quickjs-wasmfile-release-sync/dist/emscripten-module.wasm"),
    output: join(root, "rewards/verifiers/code/quickjs/wasm/quickjs-metered.wasm"),
    entries: true,
    // The sandbox snapshots the module (memory + globals) and restores it per sample; its one mutable
    // global (the C stack pointer) must be readable and writable from the host for that.
    exportGlobals: true,
  },
  sqlite: {
    input: () => join(pkgDir("@sqlite.org/sqlite-wasm"), "dist/sqlite3.wasm"),
    output: join(root, "rewards/verifiers/sql/wasm/sqlite3-metered.wasm"),
    entries: true,
  },
  // 9.8 MB: written at build time (predev, pretest, predeploy) into an ignored file, its sha256 committed
  // in the stamp, so the output is checked without keeping a copy of Pyodide in git.
  pyodide: {
    input: () => join(pkgDir("pyodide"), "pyodide.asm.wasm"),
    output: join(root, "rewards/verifiers/code/python/wasm/pyodide-metered.wasm"),
    entries: true,
    generated: true,
  },
};

const sha256 = (b) => createHash("sha256").update(b).digest("hex");

/**
 * The children of one expression, by kind. Binaryen's JS API has no generic walker; a kind missing here
 * must fail the step (a loop inside it would go unmetered), so unknown kinds throw.
 */
function children(e) {
  const id = binaryen.getExpressionId(e);
  const B = binaryen;
  const info = () => B.getExpressionInfo(e);
  switch (id) {
    case B.NopId:
    case B.ConstId:
    case B.LocalGetId:
    case B.GlobalGetId:
    case B.UnreachableId:
    case B.MemorySizeId:
    case B.PopId:
    case B.RefNullId:
    case B.RefFuncId:
    case B.TableSizeId:
    case B.AtomicFenceId:
    case B.DataDropId:
    case B.RethrowId:
      return [];
    case B.BlockId:
      return info().children;
    case B.IfId: {
      const i = info();
      return [i.condition, i.ifTrue, i.ifFalse];
    }
    case B.LoopId:
      return [info().body];
    case B.BreakId:
    case B.SwitchId: {
      const i = info();
      return [i.condition, i.value];
    }
    case B.CallId:
      return info().operands;
    case B.CallIndirectId: {
      const i = info();
      return [...i.operands, i.target];
    }
    case B.LocalSetId:
    case B.GlobalSetId:
    case B.DropId:
    case B.ReturnId:
    case B.UnaryId:
    case B.RefIsNullId:
    case B.RefAsId:
      return [info().value];
    case B.LoadId:
    case B.SIMDLoadId:
      return [info().ptr];
    case B.StoreId:
    case B.AtomicRMWId: {
      const i = info();
      return [i.ptr, i.value];
    }
    case B.AtomicCmpxchgId: {
      const i = info();
      return [i.ptr, i.expected, i.replacement];
    }
    case B.AtomicWaitId: {
      const i = info();
      return [i.ptr, i.expected, i.timeout];
    }
    case B.AtomicNotifyId: {
      const i = info();
      return [i.ptr, i.notifyCount];
    }
    case B.BinaryId:
    case B.RefEqId:
    case B.SIMDShuffleId: {
      const i = info();
      return [i.left, i.right];
    }
    case B.SelectId: {
      const i = info();
      return [i.ifTrue, i.ifFalse, i.condition];
    }
    case B.MemoryGrowId:
      return [info().delta];
    case B.MemoryInitId: {
      const i = info();
      return [i.dest, i.offset, i.size];
    }
    case B.MemoryCopyId: {
      const i = info();
      return [i.dest, i.source, i.size];
    }
    case B.MemoryFillId: {
      const i = info();
      return [i.dest, i.value, i.size];
    }
    case B.SIMDExtractId:
      return [info().vec];
    case B.SIMDReplaceId: {
      const i = info();
      return [i.vec, i.value];
    }
    case B.SIMDShiftId: {
      const i = info();
      return [i.vec, i.shift];
    }
    case B.SIMDTernaryId: {
      const i = info();
      return [i.a, i.b, i.c];
    }
    case B.SIMDLoadStoreLaneId: {
      const i = info();
      return [i.ptr, i.vec];
    }
    case B.TableGetId:
      return [info().index];
    case B.TableSetId: {
      const i = info();
      return [i.index, i.value];
    }
    case B.TableGrowId: {
      const i = info();
      return [i.value, i.delta];
    }
    case B.TryId: {
      const i = info();
      return [i.body, ...i.catchBodies];
    }
    case B.ThrowId:
    case B.TupleMakeId:
      return info().operands;
    case B.TupleExtractId:
      return [info().tuple];
    default:
      throw new Error(`meter-wasm: expression kind ${id} is not handled; extend children()`);
  }
}

/** `fuel -= 1; if (fuel < 0) unreachable`, as a fresh expression (Binaryen expressions are a tree). */
function charge(m) {
  const get = () => m.global.get(FUEL_GLOBAL, binaryen.i64);
  return m.block(null, [
    m.global.set(FUEL_GLOBAL, m.i64.sub(get(), m.i64.const(1n))),
    m.if(m.i64.lt_s(get(), m.i64.const(0n)), m.unreachable()),
  ]);
}

/**
 * Reads a binary for rewriting with the features it is written back with: Emscripten's output uses post-MVP
 * features (bulk memory, sign extension, exceptions, …), and only those Node 20's V8 and workerd read: with
 * `All`, Binaryen writes e.g. compact imports, which V8 11 rejects.
 */
export function readForRewrite(bytes) {
  const m = binaryen.readBinary(bytes);
  const F = binaryen.Features;
  m.setFeatures(
    F.MutableGlobals |
      F.NontrappingFPToInt |
      F.SIMD128 |
      F.BulkMemory |
      F.BulkMemoryOpt |
      F.SignExt |
      F.ExceptionHandling |
      F.ReferenceTypes |
      F.Multivalue |
      F.TailCall |
      F.ExtendedConst,
  );
  return m;
}

/** Exports the module's own mutable globals (the stack pointer among them), so a host can snapshot them. */
export function exportMutableGlobals(m) {
  for (let g = 0; g < m.getNumGlobals(); g++) {
    const info = binaryen.getGlobalInfo(m.getGlobalByIndex(g));
    if (info.mutable && !info.module) m.addGlobalExport(info.name, `${EXPORTED_GLOBAL_PREFIX}${g}`);
  }
}

/**
 * The functions whose entries must be charged for every run without an end to keep spending fuel, given
 * each function's direct callees and whether it calls through the function table or into the host. A run
 * with no loop that never ends must call without end, so its calls go round a cycle of the call graph. A
 * cycle of direct calls lies inside one strongly connected component; any other cycle takes an edge that is
 * not a direct call between module functions (through the table, or out to the host and back in through an
 * export), and the function making that call is charged. Charging every function of a cyclic component and
 * every function making such a call puts a charge on every cycle; the rest of the call graph is acyclic, so
 * between two charges a run executes a bounded number of instructions. Tarjan's algorithm, iteratively
 * (the call graph has ~17k nodes in Pyodide).
 */
export function functionsToCharge(graph) {
  const index = new Map();
  const low = new Map();
  const onStack = new Set();
  const stack = [];
  const charged = new Set();
  let next = 0;
  for (const root of graph.keys()) {
    if (index.has(root)) continue;
    const work = [[root, 0]];
    index.set(root, next);
    low.set(root, next++);
    stack.push(root);
    onStack.add(root);
    while (work.length) {
      const frame = work[work.length - 1];
      const [v, i] = frame;
      const callees = graph.get(v).callees;
      if (i < callees.length) {
        frame[1]++;
        const w = callees[i];
        if (!graph.has(w)) continue; // an import: covered by `host`
        if (!index.has(w)) {
          index.set(w, next);
          low.set(w, next++);
          stack.push(w);
          onStack.add(w);
          work.push([w, 0]);
        } else if (onStack.has(w)) low.set(v, Math.min(low.get(v), index.get(w)));
        continue;
      }
      work.pop();
      if (work.length) {
        const parent = work[work.length - 1][0];
        low.set(parent, Math.min(low.get(parent), low.get(v)));
      }
      if (low.get(v) === index.get(v)) {
        const component = [];
        let w;
        do {
          w = stack.pop();
          onStack.delete(w);
          component.push(w);
        } while (w !== v);
        const cyclic = component.length > 1 || graph.get(v).callees.includes(v);
        if (cyclic) for (const c of component) charged.add(c);
      }
    }
  }
  for (const [name, n] of graph) if (n.indirect || n.host) charged.add(name);
  return charged;
}

/** Returns the metered binary and what was instrumented. */
export function meter(bytes, { entries, exportGlobals }) {
  const m = readForRewrite(bytes);
  if (exportGlobals) exportMutableGlobals(m);
  m.addGlobal(FUEL_GLOBAL, binaryen.i64, true, m.i64.const(0x7fffffffffffffffn));
  m.addGlobalExport(FUEL_GLOBAL, FUEL_GLOBAL);
  let loops = 0;
  let functions = 0;
  const imports = new Set();
  for (let f = 0; f < m.getNumFunctions(); f++) {
    const info = binaryen.getFunctionInfo(m.getFunctionByIndex(f));
    if (info.module) imports.add(info.name);
  }
  /** Each defined function's direct callees, and whether it calls through the table or into the host. */
  const graph = new Map();
  for (let f = 0; f < m.getNumFunctions(); f++) {
    const fn = m.getFunctionByIndex(f);
    const body = binaryen.Function.getBody(fn);
    if (!body) continue; // an import
    functions++;
    const node = { callees: [], indirect: false, host: false };
    graph.set(binaryen.getFunctionInfo(fn).name, node);
    const stack = [body];
    while (stack.length) {
      const e = stack.pop();
      if (!e) continue;
      const id = binaryen.getExpressionId(e);
      if (id === binaryen.CallId) {
        const target = binaryen.getExpressionInfo(e).target;
        if (imports.has(target)) node.host = true;
        else node.callees.push(target);
      } else if (id === binaryen.CallIndirectId) node.indirect = true;
      if (id === binaryen.LoopId) {
        const inner = binaryen.Loop.getBody(e);
        binaryen.Loop.setBody(e, m.block(null, [charge(m), inner], binaryen.getExpressionType(inner)));
        loops++;
        stack.push(inner);
        continue;
      }
      for (const c of children(e)) stack.push(c);
    }
  }
  let charged = 0;
  if (entries) {
    for (const name of functionsToCharge(graph)) {
      const fn = m.getFunction(name);
      const b = binaryen.Function.getBody(fn);
      binaryen.Function.setBody(fn, m.block(null, [charge(m), b], binaryen.getExpressionType(b)));
      charged++;
    }
  }
  if (!m.validate()) throw new Error("meter-wasm: the metered module does not validate");
  const out = m.emitBinary();
  m.dispose();
  return { bytes: out, loops, functions, entries: charged };
}

async function main() {
  const args = process.argv.slice(2);
  const check = args.includes("--check");
  const force = args.includes("--force");
  const names = args.filter((a) => !a.startsWith("--"));
  const selected = names.length ? names : Object.keys(TARGETS);
  let failed = false;
  for (const name of selected) {
    const t = TARGETS[name];
    if (!t) throw new Error(`unknown target ${name}; known: ${Object.keys(TARGETS).join(", ")}`);
    const input = readFileSync(t.input());
    const stampPath = `${t.output}.json`;
    const want = {
      meterVersion: METER_VERSION,
      binaryen: "132.0.0",
      input: sha256(input),
      entries: t.entries,
      ...(t.exportGlobals ? { exportGlobals: true } : {}),
    };
    const rel = relative(root, t.output);
    const have = existsSync(stampPath) ? readFileSync(stampPath, "utf8") : undefined;
    const outputOk = (stamp) => existsSync(t.output) && sha256(readFileSync(t.output)) === stamp.output;
    if (!check && !force && have) {
      const stamp = JSON.parse(have);
      if (JSON.stringify({ ...want, output: stamp.output }) === JSON.stringify(stamp) && outputOk(stamp)) {
        console.log(`${rel}: up to date`);
        continue;
      }
    }
    const t0 = performance.now();
    const r = meter(input, t);
    const ms = Math.round(performance.now() - t0);
    const stamp = { ...want, output: sha256(r.bytes) };
    const stampText = `${JSON.stringify(stamp, null, 2)}\n`;
    const summary = `${r.loops} loops in ${r.functions} functions${t.entries ? ` + ${r.entries} entries` : ""}, ${input.length} → ${r.bytes.length} bytes, ${ms} ms`;
    if (check) {
      const same = have === stampText && (t.generated || outputOk(stamp));
      console.log(`${rel}: ${same ? "matches" : "DIFFERS from"} a fresh metering (${summary})`);
      if (!same) failed = true;
      else if (t.generated && !outputOk(stamp)) {
        mkdirSync(dirname(t.output), { recursive: true });
        writeFileSync(t.output, r.bytes);
      }
      continue;
    }
    mkdirSync(dirname(t.output), { recursive: true });
    writeFileSync(t.output, r.bytes);
    writeFileSync(stampPath, stampText);
    console.log(`${rel}: written (${summary})`);
  }
  if (failed) {
    console.error("metered binaries are stale: run `node scripts/meter-wasm.mjs` and commit the result");
    process.exit(1);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
