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
 */

const SQLITE_OK = 0;
const SQLITE_ROW = 100;
const SQLITE_DONE = 101;
const SQLITE_INTERRUPT = 9;
const SQLITE_DENY = 1;

const OPEN_READWRITE = 0x2;
const OPEN_CREATE = 0x4;
const OPEN_MEMORY = 0x80;
const DESERIALIZE_FREEONCLOSE = 1;
const DESERIALIZE_READONLY = 4;

/** Read-only connections kept open, by count and by the bytes of their images. */
const OPEN_CONNECTIONS = 8;
const OPEN_BYTES = 32 * 1024 * 1024;

const LIMIT_LENGTH = 0;
const LIMIT_SQL_LENGTH = 1;
const LIMIT_COLUMN = 2;
const LIMIT_VDBE_OP = 5;
const LIMIT_ATTACHED = 7;

const DBCONFIG_ENABLE_LOAD_EXTENSION = 1005;
const DBCONFIG_DEFENSIVE = 1010;
const DBCONFIG_DQS_DML = 1013;
const DBCONFIG_DQS_DDL = 1014;

const COLUMN_INTEGER = 1;
const COLUMN_FLOAT = 2;
const COLUMN_TEXT = 3;
const COLUMN_BLOB = 4;

const AUTH_READ = 20;
const AUTH_SELECT = 21;
const AUTH_FUNCTION = 31;
const AUTH_RECURSIVE = 33;

const AUTH_ACTIONS: Record<number, string> = {
  0: "COPY",
  1: "CREATE INDEX",
  2: "CREATE TABLE",
  3: "CREATE TEMP INDEX",
  4: "CREATE TEMP TABLE",
  5: "CREATE TEMP TRIGGER",
  6: "CREATE TEMP VIEW",
  7: "CREATE TRIGGER",
  8: "CREATE VIEW",
  9: "DELETE",
  10: "DROP INDEX",
  11: "DROP TABLE",
  12: "DROP TEMP INDEX",
  13: "DROP TEMP TABLE",
  14: "DROP TEMP TRIGGER",
  15: "DROP TEMP VIEW",
  16: "DROP TRIGGER",
  17: "DROP VIEW",
  18: "INSERT",
  19: "PRAGMA",
  22: "a transaction",
  23: "UPDATE",
  24: "ATTACH",
  25: "DETACH",
  26: "ALTER TABLE",
  27: "REINDEX",
  28: "ANALYZE",
  29: "CREATE VIRTUAL TABLE",
  30: "DROP VIRTUAL TABLE",
  32: "SAVEPOINT",
};

/**
 * Functions a query may not call, whether or not this build has them: they reach files, extensions or
 * the engine's internals (the shell's and extensions' functions are listed in case a future build adds them).
 */
export const DENIED_FUNCTIONS: ReadonlySet<string> = new Set([
  "load_extension",
  "readfile",
  "writefile",
  "edit",
  "fts3_tokenizer",
  "fts5",
  "eval",
  "zipfile",
  "sqlar_compress",
  "sqlar_uncompress",
  "lsmode",
  "sqlite_dbpage",
  "sqlite_dbdata",
  "sqlite_dbptr",
  "shell_add_schema",
  "shell_module_schema",
  "shell_escape_crnl",
  "shell_idquote",
  "fsdir",
]);

export interface SqliteModules {
  /** sqlite3.wasm from @sqlite.org/sqlite-wasm, compiled. */
  sqlite: WebAssembly.Module;
  /** rewards/verifiers/sql/wasm/sqlite-callbacks.wasm, compiled. */
  callbacks: WebAssembly.Module;
}

export interface EngineLimits {
  /** Largest string or blob a query may build (SQLITE_LIMIT_LENGTH). Default 16 MiB. */
  maxValueBytes: number;
  /** Largest SQL text accepted (SQLITE_LIMIT_SQL_LENGTH). Default 100 000 bytes. */
  maxSqlBytes: number;
  /** Largest compiled program (SQLITE_LIMIT_VDBE_OP). Default 250 000 instructions. */
  maxProgramOps: number;
  /** SQLite's hard heap limit for the whole engine (fixture copies included). Default 128 MiB. */
  maxHeapBytes: number;
  /** Rows a query may return before it is stopped. Default 100 000. */
  maxRows: number;
  /** VM instructions between two progress-handler calls. Default 1000. */
  opsPerTick: number;
}

export const DEFAULT_LIMITS: EngineLimits = {
  maxValueBytes: 16 * 1024 * 1024,
  maxSqlBytes: 100_000,
  maxProgramOps: 250_000,
  maxHeapBytes: 128 * 1024 * 1024,
  maxRows: 100_000,
  opsPerTick: 1000,
};

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

/**
 * Fuel (metered loop iterations) per VM step of a query's budget, plus a base for preparing it. Queries
 * measured here (group by, joins, sorts, LIKE, group_concat, a cross join) spent 2.3–4.1 units per VM
 * step and ~3,000 to prepare; the fuel is a backstop for work inside one step (a sort, a long string
 * function), so it is set well above what ordinary queries spend and the step budget normally ends a
 * runaway first.
 */
export const FUEL_PER_OP = 100;
const FUEL_BASE = 1_000_000;
const FUEL_EXPORT = "assay_fuel";
const FUEL_UNLIMITED = 0x7fff_ffff_ffff_ffffn;

/** The engine itself broke (a WASM trap): it is discarded and the next use builds a new one. */
export class EngineCrashed extends Error {}

interface Exports {
  memory?: WebAssembly.Memory;
  __indirect_function_table: WebAssembly.Table;
  __wasm_call_ctors(): void;
  sqlite3_initialize(): number;
  sqlite3_malloc(n: number): number;
  sqlite3_free(p: number): void;
  sqlite3_open_v2(name: number, ppDb: number, flags: number, vfs: number): number;
  sqlite3_close_v2(db: number): number;
  sqlite3_errmsg(db: number): number;
  sqlite3_errstr(rc: number): number;
  sqlite3_exec(db: number, sql: number, cb: number, arg: number, errmsg: number): number;
  sqlite3_prepare_v3(db: number, sql: number, n: number, flags: number, ppStmt: number, pzTail: number): number;
  sqlite3_step(stmt: number): number;
  sqlite3_finalize(stmt: number): number;
  sqlite3_stmt_readonly(stmt: number): number;
  sqlite3_stmt_isexplain(stmt: number): number;
  sqlite3_column_count(stmt: number): number;
  sqlite3_column_name(stmt: number, i: number): number;
  sqlite3_column_type(stmt: number, i: number): number;
  sqlite3_column_int64(stmt: number, i: number): bigint;
  sqlite3_column_double(stmt: number, i: number): number;
  sqlite3_column_text(stmt: number, i: number): number;
  sqlite3_column_blob(stmt: number, i: number): number;
  sqlite3_column_bytes(stmt: number, i: number): number;
  sqlite3_deserialize(db: number, schema: number, data: number, sz: bigint, szBuf: bigint, flags: number): number;
  sqlite3_serialize(db: number, schema: number, piSize: number, flags: number): number;
  sqlite3_limit(db: number, id: number, value: number): number;
  sqlite3_progress_handler(db: number, n: number, fn: number, arg: number): void;
  sqlite3_set_authorizer(db: number, fn: number, arg: number): number;
  sqlite3__wasm_db_config_ip(db: number, op: number, value: number, out: number): number;
  sqlite3_libversion(): number;
}

/** Reads the declared limits of the module's imported memory from its binary import section. */
function importedMemoryLimits(bytes: Uint8Array | null, fallback: { initial: number; maximum: number }) {
  if (!bytes) return fallback;
  let p = 8;
  const leb = () => {
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = bytes[p++]!;
      result += (b & 0x7f) * 2 ** shift;
      shift += 7;
      if (!(b & 0x80)) return result;
    }
  };
  const skipName = () => {
    const n = leb();
    p += n;
  };
  const limits = () => {
    const flags = bytes[p++]!;
    const initial = leb();
    const maximum = flags & 1 ? leb() : undefined;
    return { initial, maximum };
  };
  while (p < bytes.length) {
    const id = bytes[p++]!;
    const size = leb();
    const end = p + size;
    if (id !== 2) {
      p = end;
      continue;
    }
    const count = leb();
    for (let i = 0; i < count; i++) {
      skipName();
      skipName();
      const kind = bytes[p++]!;
      if (kind === 0) leb();
      else if (kind === 1) {
        p++;
        limits();
      } else if (kind === 2) {
        const l = limits();
        return { initial: l.initial, maximum: l.maximum ?? fallback.maximum };
      } else if (kind === 3) p += 2;
    }
    return fallback;
  }
  return fallback;
}

const PAGE = 65536;
const ENOSYS = 52;
const WASI_EBADF = 8;

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
  /** Open read-only connections by image, least recently used first. */
  private readonly open = new Map<Uint8Array, number>();
  private openBytes = 0;

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
    const view = () => new DataView(memory.buffer);
    const imports: Record<string, Record<string, WebAssembly.ImportValue>> = { env: {}, wasi_snapshot_preview1: {} };
    for (const imp of WebAssembly.Module.imports(modules.sqlite)) {
      if (imp.kind === "memory") {
        imports[imp.module]![imp.name] = memory;
        continue;
      }
      if (imp.kind !== "function") continue;
      // Every file, mmap and environment call fails: the engine has no filesystem, only in-memory databases.
      const wasi = imp.module === "wasi_snapshot_preview1";
      let fn: (...args: any[]) => unknown = wasi ? () => WASI_EBADF : () => -ENOSYS;
      switch (imp.name) {
        case "emscripten_date_now":
          fn = () => Date.now();
          break;
        case "emscripten_get_now":
          fn = () => performance.now();
          break;
        case "emscripten_get_heap_max":
          fn = () => heapMaxBytes;
          break;
        case "emscripten_resize_heap":
          fn = (requested: number) => {
            const want = requested >>> 0;
            if (want > heapMaxBytes) return 0;
            const have = memory.buffer.byteLength;
            const target = Math.min(heapMaxBytes, Math.max(want, Math.floor(have * 1.25)));
            try {
              memory.grow(Math.ceil((target - have) / PAGE));
              return 1;
            } catch {
              return 0;
            }
          };
          break;
        case "clock_time_get":
          fn = (_clock: number, _precision: bigint, out: number) => {
            view().setBigUint64(out, BigInt(Math.round(Date.now() * 1e6)), true);
            return 0;
          };
          break;
        case "environ_sizes_get":
          fn = (count: number, size: number) => {
            view().setUint32(count, 0, true);
            view().setUint32(size, 0, true);
            return 0;
          };
          break;
        case "environ_get":
          fn = () => 0;
          break;
        case "fd_write":
          // Nothing is printed; report every byte written so the caller does not retry.
          fn = (_fd: number, iov: number, iovcnt: number, pnum: number) => {
            const dv = view();
            let n = 0;
            for (let i = 0; i < iovcnt; i++) n += dv.getUint32(iov + i * 8 + 4, true);
            dv.setUint32(pnum, n, true);
            return 0;
          };
          break;
        case "_tzset_js":
          // UTC everywhere, so date functions answer the same in every runtime.
          fn = (timezone: number, daylight: number, stdName: number, dstName: number) => {
            const dv = view();
            dv.setUint32(timezone, 0, true);
            dv.setInt32(daylight, 0, true);
            const heap = new Uint8Array(memory.buffer);
            heap.set([0x55, 0x54, 0x43, 0], stdName);
            heap.set([0x55, 0x54, 0x43, 0], dstName);
          };
          break;
        case "_localtime_js":
          fn = (time: bigint, tm: number) => {
            const d = new Date(Number(time) * 1000);
            const dv = view();
            const fields = [
              d.getUTCSeconds(),
              d.getUTCMinutes(),
              d.getUTCHours(),
              d.getUTCDate(),
              d.getUTCMonth(),
              d.getUTCFullYear() - 1900,
              d.getUTCDay(),
              Math.floor((d.getTime() - Date.UTC(d.getUTCFullYear(), 0, 1)) / 86_400_000),
              0,
              0,
            ];
            for (const [i, v] of fields.entries()) dv.setInt32(tm + i * 4, v, true);
          };
          break;
      }
      imports[imp.module] ??= {};
      imports[imp.module]![imp.name] = fn;
    }
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
    if (action === AUTH_READ || action === AUTH_SELECT || action === AUTH_RECURSIVE) return 0;
    if (action === AUTH_FUNCTION) {
      const name = this.cstr(b).toLowerCase();
      if (!DENIED_FUNCTIONS.has(name)) return 0;
      this.guardMessage ??= `the function ${name}() is not allowed`;
      return SQLITE_DENY;
    }
    const what = AUTH_ACTIONS[action] ?? `action ${action}`;
    const target = action === 19 && a ? ` ${this.cstr(a)}` : "";
    this.guardMessage ??= `${what}${target} is not allowed: only read-only queries may run`;
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
   * Runs `fn` on the kept read-only connection over `image`, opening it when there is none. At most
   * OPEN_CONNECTIONS images of OPEN_BYTES together stay open; the least recently used is closed first.
   */
  private withImage<T>(image: Uint8Array, fn: (db: number) => T): T {
    if (this.crashed) throw new EngineCrashed("the SQL engine crashed earlier and is being replaced");
    try {
      let db = this.open.get(image);
      if (db) {
        this.open.delete(image);
      } else {
        this.evict(image.length);
        db = this.connect(image);
        this.openBytes += image.length;
      }
      this.open.set(image, db);
      return fn(db);
    } catch (err) {
      throw this.crashCheck(err);
    }
  }

  /** Closes kept connections until `incoming` more bytes fit (all of them when it does not fit at all). */
  private evict(incoming: number) {
    for (const [image, db] of this.open) {
      if (this.open.size < OPEN_CONNECTIONS && this.openBytes + incoming <= OPEN_BYTES) break;
      this.open.delete(image);
      this.openBytes -= image.length;
      this.x.sqlite3_close_v2(db);
    }
  }

  private crashCheck(err: unknown): unknown {
    if (err instanceof WebAssembly.RuntimeError) {
      this.crashed = true;
      this.open.clear();
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
      // Spider's SQL uses double-quoted string literals, which this build disables by default.
      this.x.sqlite3__wasm_db_config_ip(db, DBCONFIG_DQS_DML, 1, 0);
      this.x.sqlite3__wasm_db_config_ip(db, DBCONFIG_DQS_DDL, 1, 0);
      this.x.sqlite3__wasm_db_config_ip(db, DBCONFIG_ENABLE_LOAD_EXTENSION, 0, 0);
      this.x.sqlite3__wasm_db_config_ip(db, DBCONFIG_DEFENSIVE, 1, 0);
      this.x.sqlite3_limit(db, LIMIT_LENGTH, this.limits.maxValueBytes);
      this.x.sqlite3_limit(db, LIMIT_SQL_LENGTH, this.limits.maxSqlBytes);
      this.x.sqlite3_limit(db, LIMIT_VDBE_OP, this.limits.maxProgramOps);
      this.x.sqlite3_limit(db, LIMIT_COLUMN, 2000);
      this.x.sqlite3_limit(db, LIMIT_ATTACHED, 0);
      this.x.sqlite3_progress_handler(db, this.limits.opsPerTick, this.progressPtr, 0);
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
      this.open.clear();
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

/** Removes SQL comments (`-- …` and block comments) outside string literals. */
export function stripComments(sql: string): string {
  return sql.replace(/--[^\n]*|\/\*[\s\S]*?(\*\/|$)/g, " ");
}
