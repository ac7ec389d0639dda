/**
 * A copy of the QuickJS module's state (its WASM linear memory and mutable globals) taken once the runtime,
 * the context and the prelude are set up, and written back before each sample: every sample starts from
 * the same bytes, so nothing one sample did (a patched prototype, a global, a leaked object, the atom
 * table, the allocator's state) reaches the next, and the set-up (~4 ms a sample) is paid once.
 *
 * The memory of QuickJS's Emscripten build is laid out as static data, then the C stack (5 MiB, growing
 * down from the initial stack pointer), then the malloc heap from there up to the program break (sbrk).
 * Only what can hold live state is copied: the static data and the heap up to the break as it was at the
 * snapshot; heap pages a sample added above that break are zeroed (the allocator treats memory past its
 * break as fresh). The stack below the stack pointer is dead between calls (each call writes its frame
 * before reading it), so its 5 MiB are not copied: a sample's leftovers there are unreachable to the next.
 * Where the layout cannot be confirmed (a binary without its stack pointer exported, or a break that
 * cannot be found), everything up to the break is copied, or the whole memory: slower, equally clean.
 */

/** quickjs-emscripten's Emscripten STACK_SIZE: the stack is [stack pointer - this, stack pointer). */
const STACK_BYTES = 5 * 2 ** 20;
/** The boot leaves the stack shallow: this much under its top may hold (dead) frames at the snapshot. */
const BOOT_STACK_BYTES = 256 * 1024;

/** Where the program break (the C heap's end, Emscripten's sbrk) is stored, found by watching it move. */
export interface BreakProbe {
  /** The static data's bytes before the set-up. */
  before: Int32Array;
  /** Bytes probed from address 0. */
  span: number;
}

export interface HeapSnapshot {
  memory: WebAssembly.Memory;
  globals: WebAssembly.Global[];
  globalValues: unknown[];
  /** [0, staticEnd): static data (or, where the layout is unknown, everything up to the heap copy). */
  low: Uint8Array;
  /** [heapStart, heapStart + high.length): the heap as far as the break (or the whole memory). */
  high: Uint8Array;
  heapStart: number;
  /** The break's address in memory, if it was found, and its value at the snapshot. */
  breakAddress: number | undefined;
  breakAtSnapshot: number;
  /** Bytes copied per restore. */
  bytes: number;
}

/**
 * Reads the static data before the set-up, to find the break's address afterwards. Only with the layout
 * known (`stackPointer`): the words below the stack are static variables, the break among them.
 */
export function probeBreak(memory: WebAssembly.Memory, stackPointer: number | undefined): BreakProbe {
  const span = stackPointer !== undefined && stackPointer > STACK_BYTES ? (stackPointer - STACK_BYTES) & ~3 : 0;
  return { before: new Int32Array(memory.buffer.slice(0, span)), span };
}

/**
 * Nothing was written at or above `at`, as far as a cheap look tells: its first 256 bytes and one word
 * every 4 KiB up to the end (a full scan of the ~11 MiB above the heap would cost more than the set-up).
 */
function untouchedFrom(buf: ArrayBuffer, at: number): boolean {
  const words = new Int32Array(buf, at & ~3);
  for (let i = 0; i < Math.min(64, words.length); i++) if (words[i] !== 0) return false;
  for (let i = 64; i < words.length; i += 1024) if (words[i] !== 0) return false;
  return true;
}

function findBreak(memory: WebAssembly.Memory, probe: BreakProbe, heapStart: number): number | undefined {
  if (probe.span === 0) return undefined;
  const now = new Int32Array(memory.buffer, 0, probe.span >> 2);
  const length = memory.buffer.byteLength;
  // The set-up allocated, so the break moved up: it is a static word that changed into a heap address
  // with nothing written above it; of those, the smallest. (The allocator's own top pointer, also such a
  // word, has the top chunk's header written right above it.)
  const candidates: [number, number][] = [];
  for (let i = 0; i < now.length; i++) {
    const v = now[i]!;
    if (v !== probe.before[i] && v >= heapStart && v <= length) candidates.push([v, i * 4]);
  }
  candidates.sort((x, y) => x[0] - y[0]);
  for (const [v, address] of candidates) if (untouchedFrom(memory.buffer, v)) return address;
  return undefined;
}

/** Takes the snapshot; call it between calls into the module (the stack pointer at its top). */
export function takeSnapshot(
  memory: WebAssembly.Memory,
  globals: WebAssembly.Global[],
  probe: BreakProbe,
): HeapSnapshot {
  const globalValues = globals.map((g) => g.value);
  // Only the stack pointer is exported (the metered binary's one mutable global besides the fuel).
  const sp = globals.length === 1 && typeof globalValues[0] === "number" ? (globalValues[0] as number) : undefined;
  const buf = memory.buffer;
  const layoutKnown = sp !== undefined && sp > STACK_BYTES && deadStackIsZero(buf, sp);
  const heapStart = layoutKnown ? sp : 0;
  const staticEnd = layoutKnown ? sp - STACK_BYTES : 0;
  const breakAddress = findBreak(memory, probe, heapStart);
  const breakAtSnapshot = breakAddress !== undefined ? new DataView(buf).getInt32(breakAddress, true) : buf.byteLength;
  const low = new Uint8Array(buf.slice(0, staticEnd));
  const high = new Uint8Array(buf.slice(heapStart, breakAtSnapshot));
  return {
    memory,
    globals,
    globalValues,
    low,
    high,
    heapStart,
    breakAddress,
    breakAtSnapshot,
    bytes: low.length + high.length,
  };
}

/** The stack below its boot frames was never written: so it is the stack, as the layout says. */
function deadStackIsZero(buf: ArrayBuffer, sp: number): boolean {
  const dead = new Uint8Array(buf, sp - STACK_BYTES, STACK_BYTES - BOOT_STACK_BYTES);
  for (let i = 0; i < dead.length; i += 64) if (dead[i] !== 0) return false;
  return true;
}

/** Writes the snapshot back: memory as it was (heap growth since zeroed) and the globals. */
export function restoreSnapshot(s: HeapSnapshot): void {
  const buf = s.memory.buffer;
  const u8 = new Uint8Array(buf);
  const breakNow = s.breakAddress !== undefined ? new DataView(buf).getInt32(s.breakAddress, true) : u8.length;
  if (s.low.length) u8.set(s.low, 0);
  u8.set(s.high, s.heapStart);
  const end = s.heapStart + s.high.length;
  const dirtyEnd = Math.min(u8.length, Math.max(breakNow, end));
  if (dirtyEnd > end) u8.fill(0, end, dirtyEnd);
  for (let i = 0; i < s.globals.length; i++) s.globals[i]!.value = s.globalValues[i];
}
