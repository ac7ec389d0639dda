import type { QuickJSContext, QuickJSHandle, QuickJSRuntime, QuickJSWASMModule } from "quickjs-emscripten";
import { randomHex } from "../../../lib/hex";
import { LazyEngine } from "../../../lib/lazy-engine";
import {
  FUEL_UNLIMITED,
  type LimitName,
  newRunOutcome,
  type RunJob,
  type RunLimits,
  type RunOutcome,
  type Sandbox,
  STACK_LIMIT_BYTES,
} from "../types";
import type { LoadedQuickJs } from "./load";
import { PRELUDE, PRELUDE_LIB } from "./prelude";
import { type BreakProbe, type HeapSnapshot, probeBreak, restoreSnapshot, takeSnapshot } from "./snapshot";

/**
 * Loads the QuickJS WASM module into the given heap (workerd imports the metered .wasm file, Node
 * compiles it, see node-wasm.ts): `(memory) => loadQuickJs(wasmModule, memory)`.
 */
export type QuickJsLoader = (memory: WebAssembly.Memory) => Promise<LoadedQuickJs>;

const PAGE = 65_536;
/** Emscripten's initial heap (the module's own minimum) and its ceiling. */
const HEAP_INITIAL_PAGES = 256;
const HEAP_MAX_PAGES = 32_768;
/**
 * QuickJS's memory limit does not count ArrayBuffer storage (a 16 MB limit let 200 MB of Float64Arrays
 * through). So the WASM heap itself is capped too: during a run it may grow to the run's memory limit
 * plus this much (the runtime's own structures, fragmentation); growth past that is refused, the
 * allocation fails inside QuickJS, and the run is stopped at the memory limit.
 */
const HEAP_HEADROOM_BYTES = 32 * 2 ** 20;

/**
 * Fuel per millisecond of the time limit. The binary is metered (scripts/meter-wasm.mjs): every loop
 * iteration anywhere in QuickJS, its bytecode dispatch loop and the C builtins' own loops alike, and every
 * entry into a function on a cycle of calls (or calling through the table or into the host), spends one unit, and a run that spends its budget traps.
 * Calibrated once on the 2-core dev machine: with loops alone the HumanEval-X canonical solutions spent a
 * median 156k units per ms of wall time (`npm run bench -- code-js` prints it) and the limit was 150,000;
 * charging calls too makes the same 163 runs spend 1.35x the fuel (median of the per-run ratios, p10 1.28,
 * p90 1.51, with the host charges below scaled alike: fuel is counted, so the ratio does not depend on
 * the machine), so 200,000 keeps `timeout_ms`
 * about wall time there. The limit is the fuel, never the clock: a verdict depends only on the sample and
 * its limits, not on the machine or its load.
 */
export const FUEL_PER_MS = 200_000;

/**
 * Interrupt-handler calls per millisecond, only for an unmetered binary (the bench's peer): QuickJS calls
 * the handler about every 10,000 bytecodes; it misses native work.
 */
export const INTERRUPTS_PER_MS = 20;

/**
 * Work done outside the metered wasm, in fuel units: a call into the host (print, readline) ~2 µs, a
 * promise job ~1–3 µs, a timer ~6 µs, copying output ~1 ns per byte (at FUEL_PER_MS; scaled with it when
 * calls began to be charged). Without these a print loop or an endless promise chain would run far past
 * its limit.
 */
const HOST_CALL_FUEL = 700;
const JOB_FUEL = 700;
const TIMER_FUEL = 2_000;
const FUEL_PER_BYTE = 0.27;
const JOBS_PER_SLICE = 1_000;
const MAX_TIMER_RUNS = 100_000;
const STDERR_KEPT = 4_096;
const MESSAGES_KEPT = 5;

export interface QuickJsSandboxOptions {
  load: QuickJsLoader;
  /** Fuel per ms of the time limit (default FUEL_PER_MS). */
  fuelPerMs?: number;
  /** QuickJS stack limit; default 256 KiB (at 512 KiB deep recursion overflows the host stack). */
  stackBytes?: number;
}

export interface SandboxStats {
  /** Module instantiations, the first one included. */
  builds: number;
  /** Runs after which the module was dropped (a limit was hit, or the sandbox broke). */
  dropped: number;
  /** Runs that ended in a WASM abort or another host-side failure. */
  broken: number;
  /** Time to load the first module. */
  coldStartMs: number | null;
  /** Runs that started from the snapshot written back (every run on a module but its first). */
  restores: number;
  /** Bytes the snapshot writes back per run. */
  snapshotBytes: number;
}

function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

/** The limit an engine error names, if it names one. */
function limitOf(message: string | undefined): LimitName | undefined {
  if (!message) return undefined;
  if (/\bout of memory\b|\bstring too long\b/.test(message)) return "memory";
  if (/\bstack overflow\b|Maximum call stack/.test(message)) return "stack";
  return undefined;
}

/** What one run's host functions and interrupt handler work on. */
interface RunState {
  limits: RunLimits;
  out: RunOutcome;
  nonce: string;
  abort: LimitName | undefined;
  outBytes: number;
  stdout: string[];
  stderrKept: number;
  doneCalls: number;
  forged: boolean;
  stdinLines: string[];
  stdinPos: number;
  budget: number;
  unmeteredSpent: number;
}

/**
 * A module with its runtime, context and prelude set up, and the snapshot taken right after: every run
 * on it starts from that snapshot. The handles here live in the snapshot, so they stay valid.
 */
interface Pristine {
  module: QuickJSWASMModule;
  rt: QuickJSRuntime;
  ctx: QuickJSContext;
  runTests: QuickJSHandle;
  runTimer: QuickJSHandle;
  start: QuickJSHandle;
  snapshot: HeapSnapshot;
  /** A run has started since the snapshot was last written back. */
  dirty: boolean;
}

/**
 * Runs JavaScript in QuickJS compiled to WASM. The runtime, the context, the host functions and the
 * prelude are set up once per module and the module's memory is snapshotted (snapshot.ts); each run starts
 * from that snapshot written back, so nothing survives from one run to the next. Per run: a memory limit,
 * a stack limit, a deadline counted in fuel, and an output cap enforced in the host callbacks. The module
 * is loaded once and cached; after a run that broke the sandbox (or hit a limit, on a binary whose stack
 * pointer is not exported) it is dropped (not disposed: QuickJS can abort while freeing a runtime left
 * mid-job) and rebuilt for the next run.
 */
export class QuickJsSandbox implements Sandbox {
  /** The loaded module (built on first use, rebuilt after it was dropped), with its heap set up per load. */
  private readonly loaded = new LazyEngine(() => this.opts.load(this.newHeap()), {
    onBuilt: ({ fuel, globals }, ms) => {
      this.stats.builds++;
      this.stats.coldStartMs ??= ms;
      this.fuel = fuel;
      this.globals = globals;
      const sp = globals.length === 1 ? Number(globals[0]!.value) : undefined;
      this.probe = probeBreak(this.heap!, sp);
      this.pristine = undefined;
    },
  });
  private fuel: WebAssembly.Global | undefined;
  private globals: WebAssembly.Global[] = [];
  private probe: BreakProbe | undefined;
  private pristine: Pristine | undefined;
  private readonly rate: number;
  private readonly stackBytes: number;
  /** The heap size growth may reach now: unlimited between runs, the run's limit during one. */
  private heapCap = Number.POSITIVE_INFINITY;
  private heapRefused = false;
  private heap: WebAssembly.Memory | undefined;
  /** The run in progress: what the host functions, built once per module, report to. */
  private current: RunState | undefined;
  readonly stats: SandboxStats = {
    builds: 0,
    dropped: 0,
    broken: 0,
    coldStartMs: null,
    restores: 0,
    snapshotBytes: 0,
  };

  constructor(private readonly opts: QuickJsSandboxOptions) {
    this.rate = opts.fuelPerMs ?? FUEL_PER_MS;
    this.stackBytes = opts.stackBytes ?? STACK_LIMIT_BYTES;
  }

  /** The loaded module, loading it on first use. */
  ready(): Promise<QuickJSWASMModule> {
    return this.loaded.get().then((l) => l.module);
  }

  /** A heap whose growth (always through Memory#grow from Emscripten's JS) respects heapCap. */
  private newHeap(): WebAssembly.Memory {
    const memory = new WebAssembly.Memory({ initial: HEAP_INITIAL_PAGES, maximum: HEAP_MAX_PAGES });
    this.heap = memory;
    const grow = WebAssembly.Memory.prototype.grow;
    Object.defineProperty(memory, "grow", {
      value: (delta: number) => {
        if (memory.buffer.byteLength + delta * PAGE > this.heapCap) {
          this.heapRefused = true;
          throw new RangeError("the sandbox heap is at its cap");
        }
        return grow.call(memory, delta);
      },
    });
    return memory;
  }

  async run(job: RunJob, limits: RunLimits): Promise<RunOutcome> {
    for (;;) {
      const module = await this.ready();
      // Another run may have dropped the module while this one waited: never run on a dropped one.
      if (this.loaded.peek()?.module !== module) continue;
      // A heap grown by an earlier run with a larger limit would let this run's ArrayBuffers past its cap.
      if (this.heap && this.heap.buffer.byteLength > limits.memoryBytes + HEAP_HEADROOM_BYTES) {
        this.drop(module);
        continue;
      }
      return this.runSync(module, job, limits);
    }
  }

  private drop(module: QuickJSWASMModule) {
    const loaded = this.loaded.peek();
    if (loaded?.module === module) {
      this.loaded.drop(loaded);
      this.pristine = undefined;
    }
    this.stats.dropped++;
  }

  /** Sets up the runtime, context, host functions and prelude on a fresh module, and snapshots it. */
  private setUp(module: QuickJSWASMModule): Pristine {
    const rt = module.newRuntime();
    // Between runs the handler is a no-op; a run's state decides while it runs.
    rt.setInterruptHandler(() => {
      const s = this.current;
      if (!s) return false;
      if (!this.fuel) s.unmeteredSpent += this.rate / INTERRUPTS_PER_MS;
      if (this.heapRefused) s.abort ??= "memory";
      return this.overTime(s);
    });
    const c = rt.newContext();
    const str = (h: QuickJSHandle | undefined) => (h && c.typeof(h) === "string" ? c.getString(h) : "");
    const run = () => this.current!;
    const host = c.newObject();
    const fns: Record<string, (...args: QuickJSHandle[]) => QuickJSHandle | undefined> = {
      write: (stream, text) => {
        const s = run();
        if (s.abort === "output") return undefined;
        const t = str(text);
        const bytes = utf8Length(t);
        this.charge(s, HOST_CALL_FUEL + bytes * FUEL_PER_BYTE);
        const room = s.limits.outputBytes - s.outBytes;
        const kept = bytes > room ? t.slice(0, Math.max(0, room)) : t;
        s.outBytes += bytes;
        if (stream && c.getNumber(stream) === 2) {
          if (s.stderrKept < STDERR_KEPT) {
            const piece = kept.slice(0, STDERR_KEPT - s.stderrKept);
            s.out.stderr += piece;
            s.stderrKept += piece.length;
          }
        } else s.stdout.push(kept);
        if (s.outBytes > s.limits.outputBytes) s.abort ??= "output";
        return undefined;
      },
      // A host function reads its arguments out of the module before charging and makes no call into the
      // module once the charge has spent the fuel: the module's functions that can call without end are
      // metered, so that call would trap inside the host function instead of at the run's next loop.
      fail: (msg) => {
        const s = run();
        const text = s.out.assertionMessages.length < MESSAGES_KEPT ? str(msg).slice(0, 500) : undefined;
        this.charge(s, HOST_CALL_FUEL);
        s.out.assertionFailures++;
        if (text !== undefined) s.out.assertionMessages.push(text);
        return undefined;
      },
      readline: () => {
        const s = run();
        this.charge(s, HOST_CALL_FUEL);
        if (s.abort) return c.null;
        return s.stdinPos < s.stdinLines.length ? c.newString(s.stdinLines[s.stdinPos++]!) : c.null;
      },
      readAll: () => {
        const s = run();
        this.charge(s, HOST_CALL_FUEL);
        if (s.abort) return c.null;
        const rest = s.stdinLines.slice(s.stdinPos).join("\n");
        s.stdinPos = s.stdinLines.length;
        return c.newString(rest);
      },
      done: (n) => {
        const s = run();
        s.doneCalls++;
        if (str(n) !== s.nonce) s.forged = true;
        return undefined;
      },
      uncaught: (msg) => {
        const s = run();
        const text = s.out.asyncErrors.length < MESSAGES_KEPT ? str(msg).slice(0, 500) : undefined;
        this.charge(s, HOST_CALL_FUEL);
        if (text !== undefined) s.out.asyncErrors.push(text);
        return undefined;
      },
      rejected: (msg) => {
        run().out.asyncErrors.push(`the tests' promise was rejected: ${str(msg).slice(0, 500)}`);
        return undefined;
      },
      // Called once, by bag.prepare below, before the snapshot.
      lib: (params) => {
        const scope = c.evalCode(`(function (${str(params)}) {\n  return (\n${PRELUDE_LIB}\n  );\n})`, "assay-lib.js");
        if (scope.error) {
          const why = describe(c, scope.error);
          scope.error.dispose();
          throw new HarnessError(`the sandbox library failed to compile: ${why}`);
        }
        return scope.value;
      },
      missing: (name) => {
        run().out.missingModule ??= str(name);
        return undefined;
      },
    };
    for (const [name, fn] of Object.entries(fns)) {
      const h = c.newFunction(name, fn);
      c.setProp(host, name, h);
      h.dispose();
    }

    // The trusted prelude; it returns the bag (runTests, runTimer, start, prepare) and leaves nothing
    // private global.
    const preludeFn = c.evalCode(PRELUDE, "assay-prelude.js");
    if (preludeFn.error) throw new HarnessError(`the sandbox prelude failed: ${describe(c, preludeFn.error)}`);
    const bagResult = c.callFunction(preludeFn.value, c.undefined, host);
    if (bagResult.error) throw new HarnessError(`the sandbox prelude failed: ${describe(c, bagResult.error)}`);
    const bag = bagResult.value;
    const prepare = c.getProp(bag, "prepare");
    const prepared = c.callFunction(prepare, c.undefined);
    if (prepared.error) throw new HarnessError(`the sandbox library failed: ${describe(c, prepared.error)}`);
    prepared.value.dispose();
    prepare.dispose();
    preludeFn.value.dispose();
    host.dispose();
    const pristine: Pristine = {
      module,
      rt,
      ctx: c,
      runTests: c.getProp(bag, "runTests"),
      runTimer: c.getProp(bag, "runTimer"),
      start: c.getProp(bag, "start"),
      // Taken last: from here on, no handle above is created or freed.
      snapshot: undefined as unknown as HeapSnapshot,
      dirty: false,
    };
    bag.dispose();
    pristine.snapshot = takeSnapshot(this.heap!, this.globals, this.probe!);
    this.stats.snapshotBytes = pristine.snapshot.bytes;
    return pristine;
  }

  /** Fuel spent so far in this run. */
  private spent(s: RunState): number {
    return this.fuel ? s.budget - Number(this.fuel.value as bigint) : s.unmeteredSpent;
  }

  private overTime(s: RunState): boolean {
    if (this.spent(s) > s.budget) s.abort ??= "time";
    return s.abort !== undefined;
  }

  /** Host-side work, charged to the same fuel (the next metered loop traps when it is spent). */
  private charge(s: RunState, units: number) {
    const n = Math.ceil(units);
    if (this.fuel) this.fuel.value = (this.fuel.value as bigint) - BigInt(n);
    else s.unmeteredSpent += n;
    this.overTime(s);
  }

  /** One run, synchronously from start to end: two runs never interleave on the module. */
  private runSync(module: QuickJSWASMModule, job: RunJob, limits: RunLimits): RunOutcome {
    const t0 = performance.now();
    const fuel = this.fuel;
    const out = newRunOutcome();
    const s: RunState = {
      limits,
      out,
      nonce: randomHex(),
      abort: undefined,
      outBytes: 0,
      stdout: [],
      stderrKept: 0,
      doneCalls: 0,
      forged: false,
      stdinLines: job.kind === "stdio" ? splitLines(job.stdin) : [],
      stdinPos: 0,
      budget: Math.max(1, Math.ceil(limits.timeMs * this.rate)),
      unmeteredSpent: 0,
    };

    this.heapRefused = false;
    let dropModule = false;
    // With the stack pointer in the snapshot, a run stopped at a limit (a fuel trap included: it leaves
    // only wasm state behind, memory and globals, all written back) is undone by the next restore; only a
    // run that broke the sandbox (an Emscripten abort, a host stack overflow) or met a refused heap
    // growth costs a rebuild.
    const restorable = this.globals.length === 1;
    /** The model's code has started: from here a broken sandbox is the code's doing. */
    let sampleRunning = false;
    try {
      if (!this.pristine) this.pristine = this.setUp(module);
      const p = this.pristine;
      if (p.dirty) {
        restoreSnapshot(p.snapshot);
        this.stats.restores++;
      }
      p.dirty = true;
      const { rt, ctx: c } = p;
      rt.setMemoryLimit(limits.memoryBytes);
      rt.setMaxStackSize(this.stackBytes);
      const started = c.callFunction(p.start, c.undefined, c.newNumber(limits.outputBytes));
      if (started.error) throw new HarnessError(`the sandbox could not start a run: ${describe(c, started.error)}`);
      // The handles a run creates are not freed one by one: the next run's restore drops them all.
      this.heapCap = limits.memoryBytes + HEAP_HEADROOM_BYTES;
      this.current = s;
      if (fuel) fuel.value = BigInt(s.budget);

      // 1. The model's code, as a script in the global scope.
      sampleRunning = true;
      const loaded = c.evalCode(job.code, "solution.js");
      if (loaded.error) out.loadError = describe(c, loaded.error);

      // 2. The tests, through the wrapper the prelude built before the model's code ran.
      if (!out.loadError && !s.abort && job.kind === "tests") {
        const r = c.callFunction(p.runTests, c.undefined, c.newString(job.tests), c.newString(s.nonce));
        if (r.error) out.runError = describe(c, r.error);
      }

      // 3. Drain microtasks and (virtual) timers until nothing is left, or a limit stops the run.
      if (!s.abort && !out.loadError) {
        let timerRuns = 0;
        while (!s.abort) {
          const jobs = rt.executePendingJobs(JOBS_PER_SLICE);
          if (jobs.error) {
            out.asyncErrors.push(`a job failed: ${describe(c, jobs.error)}`);
            break;
          }
          this.charge(s, jobs.value * JOB_FUEL);
          if (s.abort) break;
          if (rt.hasPendingJob()) continue;
          if (++timerRuns > MAX_TIMER_RUNS) {
            s.abort = "time";
            break;
          }
          this.charge(s, TIMER_FUEL);
          const t = c.callFunction(p.runTimer, c.undefined);
          if (t.error) {
            out.asyncErrors.push(`a timer failed: ${describe(c, t.error)}`);
            break;
          }
          const ran = c.typeof(t.value) === "boolean" && c.dump(t.value) === true;
          if (!ran) break;
        }
      }

      out.stdout = s.stdout.join("");
      const errorLimit =
        limitOf(out.loadError) ?? limitOf(out.runError) ?? out.asyncErrors.map(limitOf).find((l) => l !== undefined);
      if (this.heapRefused) s.abort ??= "memory";
      out.limit = s.abort ?? errorLimit;
      if (job.kind === "tests") {
        out.completed = !out.limit && !out.loadError && !out.runError && s.doneCalls === 1 && !s.forged;
      } else {
        out.completed = !out.limit && !out.loadError && out.asyncErrors.length === 0;
      }
      if (s.forged || s.doneCalls > 1) out.asyncErrors.push("the completion callback was called more than once");
      dropModule = out.limit !== undefined && !restorable;
    } catch (err) {
      if (err instanceof HarnessError) {
        out.sandboxError = err.message;
        dropModule = true;
      } else if (fuel && (fuel.value as bigint) < 0n) {
        // The metered binary trapped at its fuel budget: the time limit, whatever was running. The
        // module's memory is mid-operation: the next run's restore writes it back (or it is dropped).
        out.limit = "time";
        dropModule = !restorable;
      } else {
        // A WASM trap or an Emscripten abort: the module's state is unknown from here on.
        this.stats.broken++;
        const why = err instanceof Error ? err.message : String(err);
        // Once the model's code runs, what breaks the sandbox is its doing: a host stack overflow (deep
        // native recursion) is the stack limit, anything else a crash scored 0. Before that, the evaluator failed.
        if (!sampleRunning) out.sandboxError = `the JavaScript sandbox broke: ${why}`;
        else if (err instanceof RangeError && /call stack/i.test(why)) out.limit = "stack";
        else out.crash = why;
        dropModule = true;
      }
      out.completed = false;
      out.stdout = s.stdout.join("");
    }
    this.current = undefined;
    this.heapCap = Number.POSITIVE_INFINITY;
    out.ticks = this.spent(s);
    if (fuel) {
      // Fuel below zero means some loop ran past the budget (and trapped, or was cut short by a charge):
      // the time limit, even where the code caught what that caused.
      if ((fuel.value as bigint) < 0n && !out.limit && !out.sandboxError) {
        out.limit = "time";
        out.completed = false;
        dropModule ||= !restorable;
      }
      fuel.value = FUEL_UNLIMITED;
    }
    if (this.heapRefused) {
      // Whatever broke after a refused growth broke because the code wanted more memory than allowed.
      delete out.sandboxError;
      out.limit = "memory";
      out.completed = false;
      dropModule = true;
    }
    out.ms = performance.now() - t0;
    // Direct-eval'd code (the tests) is "<input>" to QuickJS.
    const named = (m: string) => m.replaceAll("<input>", "tests.js");
    out.assertionMessages = out.assertionMessages.map(named);
    out.asyncErrors = out.asyncErrors.map(named);
    if (out.runError) out.runError = named(out.runError);

    if (dropModule) this.drop(module);
    return out;
  }
}

class HarnessError extends Error {}

/** Lines of stdin without their line breaks; a final newline does not add an empty line. */
function splitLines(stdin: string): string[] {
  if (stdin === "") return [];
  const lines = stdin.split(/\r?\n/);
  if (lines.at(-1) === "") lines.pop();
  return lines;
}

/** An exception as text, read without calling into the sandbox's code where possible. */
function describe(ctx: QuickJSContext, h: QuickJSHandle): string {
  try {
    const t = ctx.typeof(h);
    if (t === "string") return `uncaught ${JSON.stringify(ctx.getString(h).slice(0, 300))}`;
    if (t === "number" || t === "boolean" || t === "undefined" || t === "bigint")
      return `uncaught ${String(ctx.dump(h))}`;
    if (t !== "object") return `uncaught ${t}`;
    if (ctx.typeof(h) === "object" && isNull(ctx, h)) return "uncaught null";
    const name = readString(ctx, h, "name");
    const message = readString(ctx, h, "message");
    const stack = readString(ctx, h, "stack");
    if (name === undefined && message === undefined) return "uncaught object";
    const at = stack
      ?.split("\n")
      .map((l) => l.trim())
      .find(
        (l) =>
          l.startsWith("at ") && !l.includes("assay-prelude") && !l.includes("assay-lib") && !l.includes("(native)"),
      );
    const head = `${name ?? "Error"}: ${(message ?? "").slice(0, 500)}`;
    return at ? `${head} (${at})` : head;
  } catch {
    return "an exception that cannot be read";
  }
}

function isNull(ctx: QuickJSContext, h: QuickJSHandle): boolean {
  const eq = ctx.eq(h, ctx.null);
  return eq;
}

function readString(ctx: QuickJSContext, h: QuickJSHandle, key: string): string | undefined {
  try {
    const v = ctx.getProp(h, key);
    try {
      return ctx.typeof(v) === "string" ? ctx.getString(v) : undefined;
    } finally {
      v.dispose();
    }
  } catch {
    return undefined;
  }
}
