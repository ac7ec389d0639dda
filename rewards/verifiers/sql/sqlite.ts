/**
 * A small binding to SQLite compiled to WebAssembly (the sqlite3.wasm of @sqlite.org/sqlite-wasm), written
 * for scoring untrusted SQL. It calls the C API directly and supplies the module's imports itself, so the
 * same code runs in workerd and Node and needs neither `eval` nor compiling WASM from bytes: the caller
 * hands in the two compiled modules (see functions/lib/sql-engine-*.ts for how each runtime loads them).
 *
 * What it guards, on every query connection:
 * - a progress handler that counts VM steps and interrupts a query past its budget (a clock cannot be
 *   trusted: production Workers freeze `Date.now()` during synchronous work, and a verdict must not depend
 *   on the machine's load);
 * - fuel (scripts/meter-wasm.mjs meters the binary): every loop iteration inside SQLite spends one unit,
 *   so long work inside one VM step (a sort, a big aggregate) is bounded too; a query that spends its
 *   fuel traps, is reported as interrupted, and the engine is rebuilt;
 * - an authorizer that allows reading and nothing else (no writes, PRAGMA, ATTACH, transactions, and no
 *   function on the deny list);
 * - `sqlite3_limit` on string/blob length (so `randomblob(1e9)` fails at once), SQL length, ATTACHed
 *   databases and program size; a hard heap limit for the whole engine;
 * - the database is a read-only in-memory copy of the fixture image (`sqlite3_deserialize` with
 *   SQLITE_DESERIALIZE_READONLY): no statement can change it, so one connection per image is kept open
 *   and reused by later queries (a few, bounded by their bytes). A query that is allowed to run is a single
 *   read-only statement on a read-only database: it leaves nothing behind for the next query to see
 *   (no table, no temp object, no setting), only SQLite's page cache.
 *
 * The C ABI and host imports are in sqlite-abi.ts, what a query may do and spend in sqlite-policy.ts, the
 * kept connections in sqlite-connections.ts.
 */

import {
  COLUMN_BLOB,
  COLUMN_FLOAT,
  COLUMN_INTEGER,
  COLUMN_TEXT,
  DESERIALIZE_FREEONCLOSE,
  DESERIALIZE_READONLY,
  type Exports,
  FUEL_EXPORT,
  hostImports,
  importedMemoryLimits,
  OPEN_CREATE,
  OPEN_MEMORY,
  OPEN_READWRITE,
  PAGE,
  SQLITE_DENY,
  SQLITE_DONE,
  SQLITE_INTERRUPT,
  SQLITE_OK,
  SQLITE_ROW,
} from "./sqlite-abi";
import { ConnectionCache } from "./sqlite-connections";
import {
  configureConnection,
  DEFAULT_LIMITS,
  type EngineLimits,
  FUEL_BASE,
  FUEL_PER_OP,
  FUEL_UNLIMITED,
  refusal,
  stripComments,
} from "./sqlite-policy";

export { DEFAULT_LIMITS, DENIED_FUNCTIONS, type EngineLimits, FUEL_PER_OP, stripComments } from "./sqlite-policy";

export interface SqliteModules {
  /** sqlite3.wasm from @sqlite.org/sqlite-wasm, compiled. */
  sqlite: WebAssembly.Module;
  /** rewards/verifiers/sql/wasm/sqlite-callbacks.wasm, compiled. */
  callbacks: WebAssembly.Module;
}

/** A cell as read from SQLite: INTEGER (a number, or a bigint past 2^53), REAL, TEXT, BLOB, NULL. */
export type SqlValue = number | bigint | string | Uint8Array | null;

export interface QueryResult {
  columns: string[];
  rows: SqlValue[][];
}

/** Why a query did not produce a result. */
export type QueryFailure =
  /** SQLite refused or failed the statement (syntax, unknown column, not authorized, too big…). */
  | { kind: "error"; message: string }
  /** The statement is not a single read-only query. */
  | { kind: "rejected"; message: string }
  /** The VM-step budget, or the fuel behind it, ran out. */
  | { kind: "interrupted"; message: string; ops: number }
  /** More rows than `maxRows`. */
  | { kind: "too_many_rows"; message: string };

export type QueryOutcome = ({ ok: true } & QueryResult & { ops: number }) | ({ ok: false } & QueryFailure);

export interface QueryOptions {
  /** VM instructions the query may run (rounded to `opsPerTick`). */
  maxOps: number;
  maxRows?: number;
}

/** The engine itself broke (a WASM trap): it is discarded and the next use builds a new one. */
export class EngineCrashed extends Error {}

/**
 * One SQLite engine: a WASM instance with its own memory. Not reentrant (queries run synchronously, one at
 * a time, which is how a Worker isolate runs them anyway).
 */
export class SqliteEngine {
  readonly version: string;
  readonly limits: EngineLimits;
  private readonly x: Exports;
  private readonly memory: WebAssembly.Memory;
  private readonly progressPtr: number;
  private readonly authorizerPtr: number;
  private readonly encoder = new TextEncoder();
  private readonly decoder = new TextDecoder();
  private ticks = 0;
  private tickBudget = 0;
  /** The metered binary's fuel counter; undefined for an unmetered binary. */
  private readonly fuel: WebAssembly.Global | undefined;
  private guardMessage: string | null = null;
  private crashed = false;
  private readonly open = new ConnectionCache((db) => this.x.sqlite3_close_v2(db));

  /**
   * @param wasmBytes the sqlite3.wasm bytes when the caller has them (Node), to size the imported memory
   * exactly as the module declares it; without them the defaults of the pinned build are used.
   */
  constructor(modules: SqliteModules, limits: Partial<EngineLimits> = {}, wasmBytes: Uint8Array | null = null) {
    this.limits = { ...DEFAULT_LIMITS, ...limits };
    const declared = importedMemoryLimits(wasmBytes, { initial: (8 * 1024 * 1024) / PAGE, maximum: 32768 });
    const heapMaxBytes = Math.min(declared.maximum * PAGE, this.limits.maxHeapBytes + 64 * 1024 * 1024);
    const memory = new WebAssembly.Memory({ initial: declared.initial, maximum: declared.maximum });
    this.memory = memory;
    const imports = hostImports(modules.sqlite, memory, heapMaxBytes);
    const instance = new WebAssembly.Instance(modules.sqlite, imports as WebAssembly.Imports);
    this.x = instance.exports as unknown as Exports;
    const fuel = instance.exports[FUEL_EXPORT];
    this.fuel = fuel instanceof WebAssembly.Global ? fuel : undefined;
    this.x.__wasm_call_ctors();
    const rc = this.x.sqlite3_initialize();
    if (rc !== SQLITE_OK) throw new Error(`sqlite3_initialize failed with code ${rc}`);

    const callbacks = new WebAssembly.Instance(modules.callbacks, {
      e: {
        progress: () => this.onProgress(),
        authorize: (_arg: number, action: number, a: number, b: number) => this.onAuthorize(action, a, b),
      },
    });
    const table = this.x.__indirect_function_table;
    this.progressPtr = table.grow(2);
    this.authorizerPtr = this.progressPtr + 1;
    table.set(this.progressPtr, callbacks.exports.progress as (...args: unknown[]) => unknown);
    table.set(this.authorizerPtr, callbacks.exports.authorize as (...args: unknown[]) => unknown);
    this.version = this.cstr(this.x.sqlite3_libversion());
    this.withConnection(null, (db) => this.run(db, `PRAGMA hard_heap_limit=${this.limits.maxHeapBytes}`));
  }

  /** False once a WASM trap has left the instance in an unknown state. */
  get usable(): boolean {
    return !this.crashed;
  }

  /** Bytes of WASM memory the engine holds (it grows, never shrinks). */
  get memoryBytes(): number {
    return this.memory.buffer.byteLength;
  }

  private onProgress(): number {
    this.ticks++;
    if (this.ticks > this.tickBudget) return 1;
    return 0;
  }

  private onAuthorize(action: number, a: number, b: number): number {
    const why = refusal(action, a, b, (ptr) => this.cstr(ptr));
    if (why === null) return SQLITE_OK;
    this.guardMessage ??= why;
    return SQLITE_DENY;
  }

  private heap(): Uint8Array {
    return new Uint8Array(this.memory.buffer);
  }

  private cstr(ptr: number, len?: number): string {
    if (!ptr) return "";
    const heap = this.heap();
    let end = ptr;
    if (len === undefined) while (heap[end] !== 0) end++;
    else end = ptr + len;
    return this.decoder.decode(heap.subarray(ptr, end));
  }

  private alloc(n: number): number {
    const p = this.x.sqlite3_malloc(Math.max(n, 1));
    if (!p) throw new EngineOutOfMemory(`could not allocate ${n} bytes`);
    return p;
  }

  private allocString(s: string): { ptr: number; bytes: number } {
    const encoded = this.encoder.encode(s);
    const ptr = this.alloc(encoded.length + 1);
    const heap = this.heap();
    heap.set(encoded, ptr);
    heap[ptr + encoded.length] = 0;
    return { ptr, bytes: encoded.length };
  }

  private errmsg(db: number): string {
    return this.cstr(this.x.sqlite3_errmsg(db));
  }

  /** Runs `fn` with a fresh connection (over a copy of `image`, or empty), closing it afterwards. */
  private withConnection<T>(image: Uint8Array | null, fn: (db: number) => T): T {
    if (this.crashed) throw new EngineCrashed("the SQL engine crashed earlier and is being replaced");
    let db = 0;
    try {
      db = this.connect(image);
      return fn(db);
    } catch (err) {
      throw this.crashCheck(err);
    } finally {
      if (db && !this.crashed) this.x.sqlite3_close_v2(db);
    }
  }

  /**
   * Runs `fn` on the kept read-only connection over `image`, opening it when there is none (a few stay
   * open, bounded by count and bytes: sqlite-connections.ts).
   */
  private withImage<T>(image: Uint8Array, fn: (db: number) => T): T {
    if (this.crashed) throw new EngineCrashed("the SQL engine crashed earlier and is being replaced");
    try {
      return fn(this.open.get(image, (img) => this.connect(img)));
    } catch (err) {
      throw this.crashCheck(err);
    }
  }

  private crashCheck(err: unknown): unknown {
    if (err instanceof WebAssembly.RuntimeError) {
      this.crashed = true;
      this.open.forgetAll();
      return new EngineCrashed(`the SQL engine crashed: ${err.message}`);
    }
    return err;
  }

  /** Opens a configured connection: empty, or a read-only copy of `image`. */
  private connect(image: Uint8Array | null): number {
    const pp = this.alloc(4);
    let db = 0;
    try {
      const name = this.allocString(":memory:");
      const rc = this.x.sqlite3_open_v2(name.ptr, pp, OPEN_READWRITE | OPEN_CREATE | OPEN_MEMORY, 0);
      this.x.sqlite3_free(name.ptr);
      db = new DataView(this.memory.buffer).getUint32(pp, true);
      if (rc !== SQLITE_OK) throw new Error(`could not open a database: ${db ? this.errmsg(db) : `code ${rc}`}`);
      configureConnection(this.x, db, this.limits, this.progressPtr);
      if (image) this.deserialize(db, image);
      const opened = db;
      db = 0;
      return opened;
    } finally {
      // A failed open or load leaves a handle to close; a crash leaves nothing worth closing.
      if (db && !this.crashed) this.x.sqlite3_close_v2(db);
      if (!this.crashed) this.x.sqlite3_free(pp);
    }
  }

  private deserialize(db: number, image: Uint8Array) {
    const data = this.alloc(image.length);
    this.heap().set(image, data);
    // A database last written in WAL mode says so in bytes 18-19; an in-memory copy must say rollback.
    if (image.length >= 20 && image[18] === 2 && image[19] === 2) {
      const heap = this.heap();
      heap[data + 18] = 1;
      heap[data + 19] = 1;
    }
    const schema = this.allocString("main");
    const size = BigInt(image.length);
    const rc = this.x.sqlite3_deserialize(
      db,
      schema.ptr,
      data,
      size,
      size,
      DESERIALIZE_FREEONCLOSE | DESERIALIZE_READONLY,
    );
    this.x.sqlite3_free(schema.ptr);
    if (rc !== SQLITE_OK) throw new Error(`could not load the database image: ${this.errmsg(db)}`);
  }

  private arm(maxOps: number) {
    this.ticks = 0;
    this.tickBudget = Math.max(1, Math.ceil(maxOps / this.limits.opsPerTick));
    this.guardMessage = null;
    if (this.fuel) this.fuel.value = BigInt(Math.ceil(maxOps * FUEL_PER_OP) + FUEL_BASE);
  }

  /** True when the metered binary has spent the fuel it was given (it traps at its next loop). */
  private get fuelSpent(): boolean {
    return this.fuel !== undefined && (this.fuel.value as bigint) < 0n;
  }

  /** Runs trusted setup SQL on `db` with a generous budget; throws on failure. */
  private run(db: number, sql: string, maxOps = 1e9) {
    this.arm(maxOps);
    const text = this.allocString(sql);
    const errPtr = this.alloc(4);
    try {
      const dv = new DataView(this.memory.buffer);
      dv.setUint32(errPtr, 0, true);
      const rc = this.x.sqlite3_exec(db, text.ptr, 0, 0, errPtr);
      if (rc !== SQLITE_OK) {
        const msgPtr = new DataView(this.memory.buffer).getUint32(errPtr, true);
        const msg = msgPtr ? this.cstr(msgPtr) : this.cstr(this.x.sqlite3_errstr(rc));
        if (msgPtr) this.x.sqlite3_free(msgPtr);
        throw new SqlScriptError(rc === SQLITE_INTERRUPT ? `the script ran past ${maxOps} VM steps` : msg);
      }
    } finally {
      this.x.sqlite3_free(text.ptr);
      this.x.sqlite3_free(errPtr);
    }
  }

  /**
   * Runs a SQL script into a fresh database and returns the database image (`sqlite3_serialize`).
   * Throws SqlScriptError when the script fails.
   */
  buildImage(script: string, maxOps = 2e9): Uint8Array {
    return this.withConnection(null, (db) => {
      this.run(db, script, maxOps);
      const schema = this.allocString("main");
      const sizePtr = this.alloc(8);
      try {
        const ptr = this.x.sqlite3_serialize(db, schema.ptr, sizePtr, 0);
        if (!ptr) throw new SqlScriptError("the database built from the script could not be serialized");
        const size = Number(new DataView(this.memory.buffer).getBigInt64(sizePtr, true));
        const out = this.heap().slice(ptr, ptr + size);
        this.x.sqlite3_free(ptr);
        return out;
      } finally {
        this.x.sqlite3_free(schema.ptr);
        this.x.sqlite3_free(sizePtr);
      }
    });
  }

  /**
   * Opens a database image and checks it (`PRAGMA quick_check`), returning its tables. Throws SqlScriptError
   * when the image does not open or is damaged.
   */
  inspect(image: Uint8Array, maxOps = 2e9): { tables: string[] } {
    return this.withConnection(null, (db) => {
      const schemaName = this.allocString("main");
      const data = this.alloc(image.length);
      this.heap().set(image, data);
      const size = BigInt(image.length);
      const rc = this.x.sqlite3_deserialize(db, schemaName.ptr, data, size, size, DESERIALIZE_FREEONCLOSE);
      this.x.sqlite3_free(schemaName.ptr);
      if (rc !== SQLITE_OK) throw new SqlScriptError(`the file does not open as a SQLite database: ${this.errmsg(db)}`);
      const check = this.query(db, "PRAGMA quick_check", { maxOps }, false);
      if (!check.ok) throw new SqlScriptError(`the database does not open: ${check.message}`);
      const verdict = check.rows.map((r) => String(r[0])).join("; ");
      if (verdict !== "ok") throw new SqlScriptError(`the database is damaged: ${verdict.slice(0, 500)}`);
      const tables = this.query(
        db,
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
        { maxOps },
        false,
      );
      if (!tables.ok) throw new SqlScriptError(`the schema does not read: ${tables.message}`);
      return { tables: tables.rows.map((r) => String(r[0])) };
    });
  }

  /**
   * Runs one read-only query on a read-only copy of `image` (kept open for the next query on the same
   * image). Never throws for the query's own failures (they come back as `ok: false`); throws
   * EngineCrashed if the engine itself broke.
   */
  execute(image: Uint8Array, sql: string, opts: QueryOptions): QueryOutcome {
    return this.withImage(image, (db) => this.query(db, sql, opts, true));
  }

  private query(db: number, sql: string, opts: QueryOptions, guarded: boolean): QueryOutcome {
    const maxRows = opts.maxRows ?? this.limits.maxRows;
    if (guarded) this.x.sqlite3_set_authorizer(db, this.authorizerPtr, 0);
    this.arm(opts.maxOps);
    const text = this.allocString(sql);
    const slots = this.alloc(8);
    let stmt = 0;
    let trapped = false;
    try {
      const rc = this.x.sqlite3_prepare_v3(db, text.ptr, text.bytes + 1, 0, slots, slots + 4);
      const dv = new DataView(this.memory.buffer);
      stmt = dv.getUint32(slots, true);
      const tail = dv.getUint32(slots + 4, true);
      if (rc !== SQLITE_OK) {
        if (this.guardMessage) return { ok: false, kind: "rejected", message: this.guardMessage };
        if (rc === SQLITE_INTERRUPT) return this.interrupted(opts);
        return { ok: false, kind: "error", message: this.errmsg(db) };
      }
      if (!stmt) return { ok: false, kind: "rejected", message: "the SQL holds no statement" };
      if (guarded) {
        const rest = tail ? this.cstr(tail) : "";
        if (/[^\s;]/.test(stripComments(rest)))
          return { ok: false, kind: "rejected", message: "more than one statement: only one query may run" };
        if (!this.x.sqlite3_stmt_readonly(stmt) || this.x.sqlite3_stmt_isexplain(stmt))
          return { ok: false, kind: "rejected", message: "the statement is not a read-only query" };
      }
      const n = this.x.sqlite3_column_count(stmt);
      const columns: string[] = [];
      for (let i = 0; i < n; i++) columns.push(this.cstr(this.x.sqlite3_column_name(stmt, i)));
      const rows: SqlValue[][] = [];
      for (;;) {
        const step = this.x.sqlite3_step(stmt);
        if (step === SQLITE_DONE) break;
        if (step !== SQLITE_ROW) {
          if (step === SQLITE_INTERRUPT) return this.interrupted(opts);
          if (this.guardMessage) return { ok: false, kind: "rejected", message: this.guardMessage };
          return { ok: false, kind: "error", message: this.errmsg(db) };
        }
        if (rows.length >= maxRows) {
          return { ok: false, kind: "too_many_rows", message: `the query returned more than ${maxRows} rows` };
        }
        rows.push(this.readRow(stmt, n));
      }
      return { ok: true, columns, rows, ops: this.ticks * this.limits.opsPerTick };
    } catch (err) {
      if (!(err instanceof WebAssembly.RuntimeError && this.fuelSpent)) throw err;
      // The fuel ran out inside one long VM step: SQLite's memory is mid-operation, so this engine is
      // done (the holder builds a new one); the query itself was interrupted, like one past its steps.
      trapped = true;
      this.crashed = true;
      this.open.forgetAll();
      return {
        ok: false,
        kind: "interrupted",
        ops: this.ticks * this.limits.opsPerTick,
        message: `the query was stopped when it ran out of fuel (its budget is ${opts.maxOps} VM steps)`,
      };
    } finally {
      if (!trapped) {
        if (stmt) this.x.sqlite3_finalize(stmt);
        this.x.sqlite3_free(text.ptr);
        this.x.sqlite3_free(slots);
        if (guarded) this.x.sqlite3_set_authorizer(db, 0, 0);
        if (this.fuel) this.fuel.value = FUEL_UNLIMITED;
      }
    }
  }

  private interrupted(opts: QueryOptions): QueryOutcome {
    const ops = this.ticks * this.limits.opsPerTick;
    return {
      ok: false,
      kind: "interrupted",
      ops,
      message: `the query was stopped after ${ops} VM steps (its budget is ${opts.maxOps})`,
    };
  }

  private readRow(stmt: number, n: number): SqlValue[] {
    const row: SqlValue[] = new Array(n);
    for (let i = 0; i < n; i++) {
      switch (this.x.sqlite3_column_type(stmt, i)) {
        case COLUMN_INTEGER: {
          const v = this.x.sqlite3_column_int64(stmt, i);
          row[i] = v >= -9007199254740991n && v <= 9007199254740991n ? Number(v) : v;
          break;
        }
        case COLUMN_FLOAT:
          row[i] = this.x.sqlite3_column_double(stmt, i);
          break;
        case COLUMN_TEXT: {
          const p = this.x.sqlite3_column_text(stmt, i);
          row[i] = this.cstr(p, this.x.sqlite3_column_bytes(stmt, i));
          break;
        }
        case COLUMN_BLOB: {
          const p = this.x.sqlite3_column_blob(stmt, i);
          const len = this.x.sqlite3_column_bytes(stmt, i);
          row[i] = p ? this.heap().slice(p, p + len) : new Uint8Array(0);
          break;
        }
        default:
          row[i] = null;
      }
    }
    return row;
  }
}

/** A fixture script or database that SQLite refuses. */
export class SqlScriptError extends Error {}
/** The engine could not allocate memory for a copy of the database or the SQL text. */
export class EngineOutOfMemory extends Error {}
