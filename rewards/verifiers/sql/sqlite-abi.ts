/**
 * The C ABI of the sqlite3.wasm build this engine binds to: the result codes, flags and limit ids of
 * sqlite3.h it uses, the exports it calls, and the host imports the module expects. The imports give the
 * engine no filesystem, no environment and UTC time, so a query answers the same in every runtime.
 */

export const SQLITE_OK = 0;
export const SQLITE_ROW = 100;
export const SQLITE_DONE = 101;
export const SQLITE_INTERRUPT = 9;
export const SQLITE_DENY = 1;

export const OPEN_READWRITE = 0x2;
export const OPEN_CREATE = 0x4;
export const OPEN_MEMORY = 0x80;
export const DESERIALIZE_FREEONCLOSE = 1;
export const DESERIALIZE_READONLY = 4;

export const LIMIT_LENGTH = 0;
export const LIMIT_SQL_LENGTH = 1;
export const LIMIT_COLUMN = 2;
export const LIMIT_VDBE_OP = 5;
export const LIMIT_ATTACHED = 7;

export const DBCONFIG_ENABLE_LOAD_EXTENSION = 1005;
export const DBCONFIG_DEFENSIVE = 1010;
export const DBCONFIG_DQS_DML = 1013;
export const DBCONFIG_DQS_DDL = 1014;

export const COLUMN_INTEGER = 1;
export const COLUMN_FLOAT = 2;
export const COLUMN_TEXT = 3;
export const COLUMN_BLOB = 4;

export const AUTH_PRAGMA = 19;
export const AUTH_READ = 20;
export const AUTH_SELECT = 21;
export const AUTH_FUNCTION = 31;
export const AUTH_RECURSIVE = 33;

/** The i64 global scripts/meter-wasm.mjs adds to the binary: loop iterations left before it traps. */
export const FUEL_EXPORT = "assay_fuel";

export const PAGE = 65536;
const ENOSYS = 52;
const WASI_EBADF = 8;

export interface Exports {
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
export function importedMemoryLimits(bytes: Uint8Array | null, fallback: { initial: number; maximum: number }) {
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

/**
 * The imports sqlite3.wasm asks for, bound to `memory`: every file, mmap and environment call fails
 * (the engine has only in-memory databases), the heap grows up to `heapMaxBytes`, and clocks and time
 * zones answer in UTC.
 */
export function hostImports(
  sqlite: WebAssembly.Module,
  memory: WebAssembly.Memory,
  heapMaxBytes: number,
): Record<string, Record<string, WebAssembly.ImportValue>> {
  const view = () => new DataView(memory.buffer);
  const imports: Record<string, Record<string, WebAssembly.ImportValue>> = { env: {}, wasi_snapshot_preview1: {} };
  for (const imp of WebAssembly.Module.imports(sqlite)) {
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
  return imports;
}
