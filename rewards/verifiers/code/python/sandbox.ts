import { randomHex } from "../../../lib/hex";
import { LazyEngine } from "../../../lib/lazy-engine";
import type { LimitName, RunJob, RunLimits, RunOutcome, Sandbox } from "../types";
import { FUEL_UNLIMITED, newRunOutcome } from "../types";
import { BETWEEN_RUNS, LimitHit, type PyodideAssets, PyodideEngine, type RunHooks, StaleEngine } from "./engine";

/**
 * Fuel per millisecond of the time limit. The main module is metered (scripts/meter-wasm.mjs): every
 * loop iteration anywhere in CPython, the bytecode loop and C builtins (`sum(range(n))`, `sorted`, `re`)
 * alike, and every entry into a function on a cycle of calls (or calling through the table or into the
 * host), spends one unit, and a run that spends its budget traps, which Python cannot catch. Calibrated
 * on the 2-core dev machine from the HumanEval canonical solutions (`npm run bench -- code-python`
 * prints the fuel per ms of wall time): with loops alone the first calibration, under load ~10, measured a
 * median 63k (p10 14k, p90 94k) and set 60,000; charging calls and signal checks (CHECK_FUEL) makes the
 * same 164 runs spend 1.48x the fuel (median of the per-run ratios, p10 1.44, p90 1.53: counted, so the
 * same on any machine), and the bench on a less loaded machine then measured a median 145k per ms (p10
 * 123k, p90 172k), hence 140,000. The limit is the fuel, never the clock, so a verdict does not depend
 * on the machine or its load.
 */
export const FUEL_PER_MS = 140_000;
/**
 * Signal checks per ms, only for an unmetered binary (the bench's peer): CPython calls the check about
 * every 50 bytecodes once an interrupt buffer is set; it misses C-level work.
 */
export const CHECKS_PER_MS = 2_000;
/**
 * Fuel one signal check costs (a call out of the module into the host and back, ~1 µs), so that work
 * that reaches checks often without much metered work between them (a lock acquired with a timeout:
 * 1.4–1.7x its limit uncharged, 0.4x charged; `sorted(a, key=str)` 0.6x, 0.2x) is timed like the rest.
 */
const CHECK_FUEL = 100n;
const STDERR_KEPT = 4_096;

export interface PyodideSandboxOptions {
  /** The platform's files (workerd imports; Node reads them). Called again for every rebuild. */
  assets: () => Promise<PyodideAssets>;
  /** Fuel per ms of the time limit (default FUEL_PER_MS). */
  fuelPerMs?: number;
}

export interface PythonSandboxStats {
  /** Interpreter boots (load + pre-imports + snapshot), the first one included. */
  builds: number;
  /** Runs after which the interpreter was rebuilt instead of restored (a broken sandbox, a grown table). */
  dropped: number;
  /** Runs that ended in a WASM trap or another host-side failure. */
  broken: number;
  /** Heap restores from the snapshot. */
  restores: number;
  /** Time to boot the first interpreter. */
  coldStartMs: number | null;
  /** Total time spent restoring, for a mean. */
  restoreMs: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A python grader's run: the user's `grade(sample, item)` on one sample, both plain JSON data. */
export interface GradeJob {
  source: string;
  sample: unknown;
  item: unknown;
}

/** What grade() returned: a number, nan, an infinity, or (for anything else) its type's name. */
export type GradeValue = { number: number } | { nan: true } | { inf: 1 | -1 } | { type: string };

export interface GradeOutcome extends RunOutcome {
  /** Set when grade() returned (`completed`). */
  value?: GradeValue;
  /** The source did not compile (its SyntaxError): the grader's config is broken, not the sample. */
  compileError?: string;
}

/** Why a grader's source is unusable (a SyntaxError, no grade(sample, item)), with the line when known. */
export interface SourceProblem {
  message: string;
  line: number | null;
}

type Job = RunJob | { kind: "grade"; code: string; sample: unknown; item: unknown } | { kind: "check"; code: string };

/**
 * Runs Python in Pyodide (CPython 3.14 compiled to WASM). One interpreter is booted, the stdlib pieces
 * tests use are imported, and the whole state is snapshotted: the WASM heap (bytes), the stack pointer,
 * Pyodide's table of JS references and Emscripten's in-memory filesystem. Every run starts from that
 * snapshot (the heap is copied back, a grown heap's tail zeroed), so nothing one sample does reaches the
 * next. Limits: a count of CPython's signal checks (time), heap growth refused past the run's memory
 * limit, output counted in the write hook; reaching one throws a host error from the hook, which Python
 * cannot catch. After a WASM trap the interpreter is rebuilt.
 */
export class PyodideSandbox implements Sandbox {
  private readonly engine = new LazyEngine(() => this.opts.assets().then((a) => PyodideEngine.boot(a)), {
    onBuilt: (_, ms) => {
      this.stats.builds++;
      this.stats.coldStartMs ??= ms;
      this.dirty = false;
    },
  });
  /** The heap holds a run's leftovers: restore before the next run. */
  private dirty = false;
  private readonly rate: number;
  readonly stats: PythonSandboxStats = {
    builds: 0,
    dropped: 0,
    broken: 0,
    restores: 0,
    coldStartMs: null,
    restoreMs: 0,
  };

  /** WASM memory held now: the live heap and the snapshot copy it is restored from (0 before the first boot). */
  get heldBytes(): number {
    const e = this.engine.peek();
    return e ? e.heapBytes + e.snapshotBytes : 0;
  }

  constructor(private readonly opts: PyodideSandboxOptions) {
    this.rate = opts.fuelPerMs ?? FUEL_PER_MS;
  }

  /** The booted interpreter, booting it on first use. */
  ready(): Promise<PyodideEngine> {
    return this.engine.get();
  }

  private drop(engine: PyodideEngine) {
    this.engine.drop(engine);
    this.stats.dropped++;
  }

  async run(job: RunJob, limits: RunLimits): Promise<RunOutcome> {
    return this.exclusive(limits, (engine) => this.runSync(engine, job, limits));
  }

  /**
   * Runs a python grader's `grade(sample, item)` from `source` on one sample, in a state restored from the
   * snapshot, within the limits (the same fuel, memory and output limits as code tests).
   */
  async grade(job: GradeJob, limits: RunLimits): Promise<GradeOutcome> {
    const { source, sample, item } = job;
    return this.exclusive(limits, (engine) =>
      this.runSync(engine, { kind: "grade", code: source, sample, item }, limits),
    );
  }

  /**
   * Compiles a grader's source without running it and checks that it defines `grade(sample, item)`: null
   * when it does, else the problem. The compile spends fuel like a run, so a hostile source cannot hang it.
   */
  async checkSource(source: string, limits: RunLimits): Promise<SourceProblem | null> {
    const out = await this.exclusive(limits, (engine) => this.runSync(engine, { kind: "check", code: source }, limits));
    if (out.sandboxError) throw new Error(out.sandboxError);
    if (out.limit) return { message: `compiling the source hit the ${out.limit} limit`, line: null };
    return out.check ?? null;
  }

  /**
   * Restores the interpreter if a run left it dirty and hands it to `body`, which must be synchronous: the
   * restore and the run happen in one turn, so two runs never interleave on the interpreter.
   */
  private async exclusive<T>(limits: RunLimits, body: (engine: PyodideEngine) => T): Promise<T> {
    for (;;) {
      const engine = await this.ready();
      if (!this.engine.isCurrent(engine)) continue;
      if (this.dirty) {
        try {
          const t0 = performance.now();
          engine.restore();
          this.stats.restores++;
          this.stats.restoreMs += performance.now() - t0;
          this.dirty = false;
        } catch (err) {
          if (!(err instanceof StaleEngine)) this.stats.broken++;
          this.drop(engine);
          continue;
        }
      }
      // A heap grown by an earlier run past this run's limit would let it use that memory unasked.
      if (engine.heapBytes > engine.baseBytes + limits.memoryBytes + HEADROOM) {
        this.drop(engine);
        continue;
      }
      return body(engine);
    }
  }

  /** One run, synchronously from start to end: two runs never interleave on the interpreter. */
  private runSync(engine: PyodideEngine, job: Job, limits: RunLimits): GradeOutcome & { check?: SourceProblem | null } {
    const t0 = performance.now();
    const out: GradeOutcome & { check?: SourceProblem | null } = newRunOutcome();
    const nonce = randomHex();
    const budget = Math.max(1, Math.ceil(limits.timeMs * this.rate));
    const fuel = engine.fuel;
    const checkFuel = this.rate / CHECKS_PER_MS;
    let checks = 0;
    const fuelOut = () => (fuel ? (fuel.value as bigint) < 0n : checks * checkFuel > budget);
    const cap = engine.baseBytes + limits.memoryBytes;
    let memRefused = false;
    let outBytes = 0;
    const stdout: Uint8Array[] = [];
    const stderr: Uint8Array[] = [];
    let stderrKept = 0;
    const stdin = job.kind === "stdio" ? encoder.encode(job.stdin) : new Uint8Array(0);
    let stdinPos = 0;
    let hit: LimitName | undefined;
    let outputOver = false;

    const limited: RunHooks = {
      check: () => {
        checks++;
        if (fuel) fuel.value = (fuel.value as bigint) - CHECK_FUEL;
        if (memRefused) throw new LimitHit("memory");
        if (outputOver) throw new LimitHit("output");
        if (fuelOut()) throw new LimitHit("time");
      },
      mayGrow: (bytes) => {
        if (bytes > cap) {
          memRefused = true;
          return false;
        }
        return true;
      },
      ceiling: () => cap,
      write: (fd, bytes) => {
        outBytes += bytes.length;
        const room = limits.outputBytes - (outBytes - bytes.length);
        const kept = room >= bytes.length ? bytes : bytes.subarray(0, Math.max(0, room));
        if (fd === 1) stdout.push(kept.slice());
        else if (stderrKept < STDERR_KEPT) {
          const piece = kept.slice(0, STDERR_KEPT - stderrKept);
          stderr.push(piece);
          stderrKept += piece.length;
        }
        // Throwing here would only become an OSError (Pyodide's stream catches it): the next check stops the run.
        if (outBytes > limits.outputBytes) outputOver = true;
      },
      read: (into) => {
        const n = Math.min(into.length, stdin.length - stdinPos);
        into.set(stdin.subarray(stdinPos, stdinPos + n));
        stdinPos += n;
        return n;
      },
    };
    const trusted: RunHooks = {
      ...limited,
      check: () => {},
      mayGrow: () => true,
      ceiling: () => Number.POSITIVE_INFINITY,
    };

    /** Runs a step; a host error from a hook becomes the run's limit. Returns false when the run must stop. */
    const step = <T>(f: () => T): T | undefined => {
      try {
        return f();
      } catch (err) {
        if (err instanceof LimitHit) hit ??= err.limit;
        // The metered binary trapped at the end of its fuel: the time limit. The heap is mid-operation,
        // as after a LimitHit thrown from a hook; the next run restores the snapshot either way.
        else if (err instanceof WebAssembly.RuntimeError && fuel && (fuel.value as bigint) < 0n) hit ??= "time";
        else if (err instanceof RangeError && /call stack/i.test(err.message)) hit ??= "stack";
        else if (isExit(err))
          out.runError = `the code ended the interpreter (os._exit(${(err as { status?: number }).status ?? "?"}))`;
        else throw err;
        return undefined;
      }
    };

    let dropEngine = false;
    /** The model's code has started: from here a broken sandbox is the code's doing. */
    let sampleRunning = false;
    // The whole run spends the fuel, the trusted harness's compile of the model's code included.
    if (fuel) fuel.value = BigInt(budget);
    try {
      engine.hooks = trusted;
      const prepared = engine.prepare(
        JSON.stringify({
          kind: job.kind,
          code: job.code,
          tests: job.kind === "tests" ? job.tests : "",
          nonce,
          ...(job.kind === "grade" ? { sample: job.sample, item: job.item } : {}),
        }),
      );
      this.dirty = true;
      if (prepared === null) throw new HarnessError("the sandbox could not prepare the run");
      const p = JSON.parse(prepared) as {
        loadError?: string;
        code?: number;
        ns: number;
        tests?: number;
        testsError?: string;
        check?: SourceProblem | null;
      };
      if (job.kind === "check") {
        out.check = p.check ?? null;
        out.completed = true;
        return out;
      }
      if (p.loadError) out.loadError = p.loadError;
      if (p.loadError && job.kind === "grade") out.compileError = p.loadError;

      engine.hooks = limited;
      sampleRunning = true;
      if (p.code !== undefined) {
        const r = step(() => engine.eval(p.code!, p.ns));
        if (r !== undefined && r !== true) {
          if (job.kind === "stdio" && r.type === "SystemExit" && r.exitCode === 0) out.completed = true;
          else this.classify(out, r, "load");
        } else if (r === true && job.kind === "stdio") out.completed = true;
      }
      if (job.kind === "stdio") step(() => engine.flush());
      if (job.kind === "grade" && !out.loadError && !out.runError && !hit && p.tests !== undefined) {
        const r = step(() => engine.eval(p.tests!, p.ns));
        if (r === true) {
          const v = step(() => engine.gradeResult(p.ns));
          if (v === null) throw new HarnessError("the sandbox could not read what grade() returned");
          if (v !== undefined) {
            out.value = JSON.parse(v) as GradeValue;
            out.completed = true;
          }
        } else if (r !== undefined) this.classifyGrade(out, r);
      }
      if (job.kind === "tests" && !out.loadError && !out.runError && !hit) {
        if (p.testsError) out.runError = `the tests do not compile: ${p.testsError}`;
        else {
          const tns = step(() => engine.seal());
          if (tns !== undefined && tns !== null) {
            engine.mergeInto(tns, p.ns);
            const r = step(() => engine.eval(p.tests!, tns));
            if (r === true) {
              if (engine.dictGetStr(tns, "__assay_done__") === nonce) out.completed = true;
              else out.runError = "the tests did not record their completion";
            } else if (r !== undefined) this.classify(out, r, "tests");
          } else if (!hit) throw new HarnessError("the sandbox could not seal the run");
        }
      }
      if (memRefused) hit = "memory";
      else if (outputOver) hit ??= "output";
      else if (fuelOut()) hit ??= "time";
      if (hit) out.limit = hit;
      if (out.limit) out.completed = false;
    } catch (err) {
      out.completed = false;
      if (err instanceof WebAssembly.RuntimeError && fuel && (fuel.value as bigint) < 0n) {
        // A fuel trap outside a step (in the harness's own calls): still the run's time limit; restore.
        out.limit = memRefused ? "memory" : "time";
      } else if (err instanceof HarnessError) out.sandboxError = err.message;
      else {
        this.stats.broken++;
        const why = err instanceof Error ? err.message : String(err);
        // Once the model's code runs, an abort or trap is its doing (faulthandler._sigabrt(), a ctypes-free
        // crash): scored 0, not a skip. Before that, the evaluator failed.
        if (sampleRunning) out.crash = why;
        else out.sandboxError = `the Python sandbox broke: ${why}`;
      }
      // (After a fuel trap the snapshot restore is enough, as after a limit thrown from a hook.)
      if (out.limit !== "time") dropEngine = true;
      if (memRefused) {
        // Whatever broke after a refused growth broke because the code wanted more memory than allowed.
        delete out.sandboxError;
        out.limit = "memory";
      }
    } finally {
      engine.hooks = BETWEEN_RUNS;
      out.ticks = fuel ? budget - Number(fuel.value as bigint) : Math.round(checks * checkFuel);
      if (fuel) fuel.value = FUEL_UNLIMITED;
    }
    out.stdout = decodeAll(stdout);
    out.stderr = decodeAll(stderr);
    out.ms = performance.now() - t0;
    if (dropEngine) this.drop(engine);
    return out;
  }

  /** grade() raised: its limits are limits, anything else is the error the result reports. */
  private classifyGrade(out: RunOutcome, r: Record<string, unknown>) {
    const text = `${r.text}${r.at ? ` (${r.at})` : ""}`;
    if (r.kind === "RecursionError") out.limit = "stack";
    else if (r.kind === "MemoryError") out.limit = "memory";
    else if (r.type === "SystemExit") out.runError = `grade called sys.exit(${r.exitCode})`;
    else out.runError = text;
  }

  private classify(out: RunOutcome, r: Record<string, unknown>, phase: "load" | "tests") {
    const text = `${r.text}${r.at ? ` (${r.at})` : ""}`;
    if (r.kind === "RecursionError") out.limit = "stack";
    else if (r.kind === "MemoryError") out.limit = "memory";
    else if (r.type === "SystemExit")
      out.runError = `the code called sys.exit(${r.exitCode}) before the tests finished`;
    else if (phase === "tests" && r.kind === "AssertionError") {
      out.assertionFailures++;
      out.assertionMessages.push(text.slice(0, 500));
    } else if (phase === "load") out.loadError = text;
    else out.runError = text;
    if (phase === "load" && r.type === "SystemExit") {
      delete out.runError;
      out.loadError = `the code called sys.exit(${r.exitCode})`;
    }
  }
}

/** Growth above the run's memory limit that an earlier run may leave without forcing a rebuild. */
const HEADROOM = 64 * 2 ** 20;

class HarnessError extends Error {}

function isExit(err: unknown): boolean {
  return typeof err === "object" && err !== null && (err as { name?: string }).name === "ExitStatus";
}

function decodeAll(chunks: Uint8Array[]): string {
  if (chunks.length === 0) return "";
  let n = 0;
  for (const c of chunks) n += c.length;
  const all = new Uint8Array(n);
  let o = 0;
  for (const c of chunks) {
    all.set(c, o);
    o += c.length;
  }
  return decoder.decode(all);
}
