// scripts/meter-wasm.mjs: which function entries are charged, and that a metered module stops itself on
// every kind of endless run (a loop, direct recursion, mutual recursion, recursion through the function
// table) while a bounded one runs on the same budget.
import binaryen from "binaryen";
import { describe, expect, it } from "vitest";
import { FUEL_GLOBAL, functionsToCharge, meter } from "../../scripts/meter-wasm.mjs";

type Node = { callees: string[]; indirect: boolean; host: boolean };
const node = (callees: string[], extra: Partial<Node> = {}): Node => ({
  callees,
  indirect: false,
  host: false,
  ...extra,
});

describe("functionsToCharge", () => {
  it("charges every function on a cycle of direct calls, and those calling through the table or the host", () => {
    const graph = new Map<string, Node>([
      ["main", node(["a", "leaf", "self"])],
      ["a", node(["b", "leaf"])],
      ["b", node(["c"])],
      ["c", node(["a"])], // a → b → c → a
      ["self", node(["self"])],
      ["leaf", node([])],
      ["chain1", node(["chain2"])],
      ["chain2", node(["leaf"])],
      ["table", node([], { indirect: true })],
      ["host", node(["imported_fn"], { host: true })],
    ]);
    expect([...functionsToCharge(graph)].sort()).toEqual(["a", "b", "c", "host", "self", "table"]);
  });

  it("walks a long call chain without recursing in JavaScript", () => {
    const n = 100_000;
    const graph = new Map<string, Node>();
    for (let i = 0; i < n; i++) graph.set(`f${i}`, node(i + 1 < n ? [`f${i + 1}`] : ["f0"]));
    expect(functionsToCharge(graph).size).toBe(n);
    graph.set(`f${n - 1}`, node([]));
    expect(functionsToCharge(graph).size).toBe(0);
  });
});

/** A module with one export per kind of run, built from text, metered as the sandboxes' binaries are. */
function meteredModule() {
  const m = binaryen.parseText(`
    (module
      (type $v (func))
      (table 1 funcref)
      (elem (i32.const 0) $through_table)
      (func $spin (export "spin") (loop $l (br $l)))
      (func $recurse (export "recurse") (call $recurse))
      (func $ping (export "ping") (call $pong))
      (func $pong (call $ping))
      (func $through_table (export "through_table") (call_indirect (type $v) (i32.const 0)))
      (func $leaf (result i32) (i32.const 1))
      (func $bounded (export "bounded") (result i32) (i32.add (call $leaf) (call $leaf)))
    )`);
  const bytes = m.emitBinary();
  m.dispose();
  const out = meter(bytes, { entries: true, exportGlobals: false });
  const instance = new WebAssembly.Instance(new WebAssembly.Module(out.bytes));
  return { out, exports: instance.exports as Record<string, (() => number) | WebAssembly.Global> };
}

describe("a metered module", () => {
  it("traps with its fuel spent on every endless run, and runs a bounded one on a small budget", () => {
    const { out, exports } = meteredModule();
    // ping and pong are a cycle, recurse calls itself, through_table calls through the table; leaf and
    // bounded are on no cycle.
    expect(out.entries).toBe(4);
    const fuel = exports[FUEL_GLOBAL] as WebAssembly.Global;
    for (const name of ["spin", "recurse", "ping", "through_table"]) {
      fuel.value = 10_000n;
      // Recursion without end traps at the fuel long before the wasm stack overflows (~tens of thousands of frames).
      expect(() => (exports[name] as () => void)(), name).toThrow(WebAssembly.RuntimeError);
      expect(fuel.value as bigint, name).toBeLessThan(0n);
    }
    fuel.value = 0n;
    expect((exports.bounded as () => number)()).toBe(2);
    expect(fuel.value).toBe(0n);
  });
});
