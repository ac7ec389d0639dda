/**
 * The host's view of CPython inside the WASM instance: the exports it calls, and thin wrappers over the
 * exported C API where objects are addresses (CPython's id()).
 */

export type Exports = Record<string, unknown> & {
  memory: WebAssembly.Memory;
  __indirect_function_table: WebAssembly.Table;
  __stack_pointer: WebAssembly.Global;
  __stack_low: WebAssembly.Global;
};
export type Fn = (...args: number[]) => number;

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** Thin wrappers over the exported C API; objects are addresses (CPython's id()). */
export class CApi {
  private readonly f: Record<string, Fn>;
  constructor(
    private readonly M: any,
    ex: Exports,
  ) {
    this.f = ex as unknown as Record<string, Fn>;
  }
  str(s: string): number {
    const bytes = encoder.encode(s);
    const p = this.f.malloc!(bytes.length + 1);
    const heap = new Uint8Array(this.M.HEAPU8.buffer);
    heap.set(bytes, p);
    heap[p + bytes.length] = 0;
    const o = this.f.PyUnicode_DecodeUTF8!(p, bytes.length, 0);
    this.f.free!(p);
    return o;
  }
  readStr(o: number): string {
    const sizeP = this.f.malloc!(4);
    const p = this.f.PyUnicode_AsUTF8AndSize!(o, sizeP);
    const view = new DataView(this.M.HEAPU8.buffer);
    const n = view.getUint32(sizeP, true);
    this.f.free!(sizeP);
    if (!p) {
      this.clearError();
      return "";
    }
    return decoder.decode(new Uint8Array(this.M.HEAPU8.buffer, p, n));
  }
  longValue(o: number): number {
    const v = this.f.PyLong_AsDouble!(o);
    return v;
  }
  call0(fn: number): number {
    return this.f.PyObject_CallNoArgs!(fn);
  }
  call1(fn: number, a: number): number {
    return this.f.PyObject_CallOneArg!(fn, a);
  }
  evalCode(code: number, ns: number): number {
    return this.f.PyEval_EvalCode!(code, ns, ns);
  }
  takeRaised(): number {
    return this.f.PyErr_GetRaisedException!();
  }
  clearError(): void {
    this.f.PyErr_Clear!();
  }
  incref(o: number): void {
    this.f.Py_IncRef!(o);
  }
  decref(o: number): void {
    this.f.Py_DecRef!(o);
  }
  dictMerge(dst: number, src: number): boolean {
    const r = this.f.PyDict_Merge!(dst, src, 0);
    if (r !== 0) this.clearError();
    return r === 0;
  }
  dictGetStr(d: number, key: string): string | undefined {
    const k = encoder.encode(key);
    const p = this.f.malloc!(k.length + 1);
    const heap = new Uint8Array(this.M.HEAPU8.buffer);
    heap.set(k, p);
    heap[p + k.length] = 0;
    const v = this.f.PyDict_GetItemString!(d, p);
    this.f.free!(p);
    if (!v) return undefined;
    if (!isStr(this.M, v, this.f)) return undefined;
    return this.readStr(v);
  }
}

function isStr(M: any, o: number, f: Record<string, Fn>): boolean {
  const view = new DataView(M.HEAPU8.buffer);
  const type = view.getUint32(o + 4, true);
  return type === (f.PyUnicode_Type as unknown as WebAssembly.Global).value;
}
