import type { Exports } from "./c-api";

/**
 * The state every run starts from: the WASM heap (bytes), the stack pointer, Pyodide's table of JS
 * references and Emscripten's in-memory filesystem, taken once after boot and put back before each run.
 */

interface NodeState {
  node: any;
  props: Record<string, unknown>;
  /** Directory: children by name. File: bytes. */
  contents: unknown;
}

/** A stretch of the heap at the snapshot: its bytes, or none when it was all zeros. */
interface Segment {
  start: number;
  end: number;
  bytes?: Uint8Array;
}

export interface Snapshot {
  /** The heap's length at the snapshot. */
  heapLength: number;
  /** What is written back, in order: the heap minus the dead stack, zero stretches kept as lengths only. */
  segments: Segment[];
  /** Bytes held by the segments (what the snapshot costs the isolate). */
  heldBytes: number;
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

const PAGE = 65_536;

function allZero(heap: Uint8Array, start: number, end: number): boolean {
  // Word at a time where aligned (the segments are page-aligned but for the dead stack's edges).
  let i = start;
  for (; i < end && i % 8 !== 0; i++) if (heap[i] !== 0) return false;
  const words = Math.floor((end - i) / 8);
  const w = new BigUint64Array(heap.buffer, heap.byteOffset + i, words);
  for (let k = 0; k < words; k++) if (w[k] !== 0n) return false;
  for (i += words * 8; i < end; i++) if (heap[i] !== 0) return false;
  return true;
}

/**
 * The heap within `ranges`, cut at page boundaries into stretches that are all zeros (kept as a length:
 * Pyodide's heap after boot is ~40% zero pages, in a few long runs) and stretches copied out.
 */
function heapSegments(heap: Uint8Array, ranges: [number, number][]): Segment[] {
  const out: Segment[] = [];
  for (const [from, to] of ranges) {
    let start = from;
    let zero: boolean | undefined;
    for (let at = from; at < to; ) {
      const end = Math.min(to, (Math.floor(at / PAGE) + 1) * PAGE);
      const z = allZero(heap, at, end);
      if (zero !== undefined && z !== zero) {
        out.push(zero ? { start, end: at } : { start, end: at, bytes: heap.slice(start, at) });
        start = at;
      }
      zero = z;
      at = end;
    }
    if (zero !== undefined) out.push(zero ? { start, end: to } : { start, end: to, bytes: heap.slice(start, to) });
  }
  return out;
}

export function takeSnapshot(M: any, ex: Exports): Snapshot {
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
  const heap = new Uint8Array(ex.memory.buffer);
  const deadStackFrom = (ex.__stack_low as WebAssembly.Global).value as number;
  // A page of margin under the live frames.
  const deadStackTo = Math.max(deadStackFrom, (ex.__stack_pointer.value as number) - 65_536);
  const segments = heapSegments(heap, [
    [0, deadStackFrom],
    [deadStackTo, heap.length],
  ]);
  return {
    heapLength: heap.length,
    segments,
    heldBytes: segments.reduce((n, g) => n + (g.bytes?.length ?? 0), 0),
    stackPointer: ex.__stack_pointer.value as number,
    deadStackFrom,
    deadStackTo,
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

export function restoreSnapshot(M: any, ex: Exports, s: Snapshot): void {
  if (ex.__indirect_function_table.length !== s.tableLength)
    throw new StaleEngine("the function table changed: a run added WASM functions");
  const heap = new Uint8Array(ex.memory.buffer);
  // Fresh heap above the snapshot must read as zeros again (sbrk memory is assumed zeroed by calloc);
  // zeroing a large grown tail on every later restore would cost more than one rebuild.
  if (heap.length - s.heapLength > MAX_TAIL_BYTES)
    throw new StaleEngine(`the heap grew ${Math.round((heap.length - s.heapLength) / 2 ** 20)} MiB past the snapshot`);
  // The C stack below the snapshot's stack pointer holds only dead frames (nothing reads a stack slot it
  // did not write): copying it back would cost a third of the restore for nothing observable. It is not
  // in the segments.
  for (const g of s.segments) {
    if (g.bytes) heap.set(g.bytes, g.start);
    else heap.fill(0, g.start, g.end);
  }
  if (heap.length > s.heapLength) heap.fill(0, s.heapLength);
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
