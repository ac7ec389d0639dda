export interface LazyEngineOptions<E> {
  /** Whether a built engine can still serve (checked on every get); an unusable one is rebuilt. */
  usable?: (engine: E) => boolean;
  /** Called once per successful build with the time it took, for a sandbox's stats. */
  onBuilt?: (engine: E, ms: number) => void;
}

/**
 * An engine (a WASM module, an interpreter) built on first use and again after it broke. Starting one
 * costs tens to hundreds of milliseconds, so callers share one per isolate; a crash or a limit hit leaves
 * its state unknown, so the caller drops it and the next get() builds a fresh one. Concurrent callers
 * during a build share that build. A failed build is not kept: the next get() tries again.
 *
 * @example
 * const holder = new LazyEngine(() => SqliteEngine.load(wasm), { usable: (e) => e.usable });
 * const engine = await holder.get();
 * // A run on it trapped:
 * holder.drop(engine);
 */
export class LazyEngine<E> {
  private current: E | undefined;
  private loading: Promise<E> | undefined;

  constructor(
    private readonly create: () => Promise<E> | E,
    private readonly opts: LazyEngineOptions<E> = {},
  ) {}

  /** The engine, building it when there is none or it is no longer usable. */
  get(): Promise<E> {
    const cur = this.current;
    if (cur !== undefined) {
      if (this.opts.usable?.(cur) ?? true) return Promise.resolve(cur);
      this.current = undefined;
    }
    if (!this.loading) {
      const t0 = performance.now();
      const loading: Promise<E> = Promise.resolve()
        .then(() => this.create())
        .then(
          (engine) => {
            if (this.loading === loading) this.loading = undefined;
            this.current = engine;
            this.opts.onBuilt?.(engine, performance.now() - t0);
            return engine;
          },
          (err: unknown) => {
            if (this.loading === loading) this.loading = undefined;
            throw err;
          },
        );
      this.loading = loading;
    }
    return this.loading;
  }

  /**
   * Whether `engine` is still the one get() hands out: a caller that awaited get() while another run
   * dropped that engine must not run on it.
   */
  isCurrent(engine: E): boolean {
    return this.current === engine;
  }

  /** The engine built now, if any, without building one (for reading its size). */
  peek(): E | undefined {
    return this.current;
  }

  /** Forgets `engine` (not disposed: its state is unknown) so that the next get() builds a fresh one. */
  drop(engine: E): void {
    if (this.current === engine) this.current = undefined;
  }
}
