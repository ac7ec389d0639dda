import { toHex } from "../../lib/hex";
import type { SqlValue } from "./sqlite";

/**
 * Result comparison with the semantics of Spider's test-suite evaluation (taoyds/test-suite-sql-eval,
 * exec_eval.py `result_eq`), made deterministic and given a float tolerance. See docs/sql.md.
 */
export interface CompareOptions {
  /** Rows must appear in the same order (Spider: when the reference has a top-level ORDER BY). */
  orderMatters: boolean;
  /** Compare the sets of rows, ignoring duplicates (BIRD) instead of multisets (Spider). */
  setSemantics: boolean;
  /** Two numbers a, b where either is not an integer are equal when |a − b| ≤ tol × max(1, |a|, |b|). */
  floatTolerance: number;
}

export const DEFAULT_FLOAT_TOLERANCE = 1e-9;

export interface CompareOutcome {
  match: boolean;
  reason: string;
  /** For a match with columns in another order: permutation[i] is the predicted column for reference column i. */
  permutation?: number[];
}

/** Full permutations tried before giving up (only reachable with many interchangeable columns). */
const MAX_PERMUTATIONS = 5000;

const typeRank = (v: SqlValue) =>
  v === null ? 0 : typeof v === "number" || typeof v === "bigint" ? 1 : typeof v === "string" ? 2 : 3;

function compareNumbers(a: number | bigint, b: number | bigint): number {
  if (typeof a === "bigint" && typeof b === "bigint") return a < b ? -1 : a > b ? 1 : 0;
  const x = Number(a);
  const y = Number(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** A total order on values (SQLite's: NULL < numbers < text < blobs), used to pair rows up. */
export function compareValues(a: SqlValue, b: SqlValue): number {
  const ra = typeRank(a);
  const rb = typeRank(b);
  if (ra !== rb) return ra - rb;
  if (ra === 0) return 0;
  if (ra === 1) return compareNumbers(a as number | bigint, b as number | bigint);
  if (ra === 2) return (a as string) < (b as string) ? -1 : (a as string) > (b as string) ? 1 : 0;
  const x = a as Uint8Array;
  const y = b as Uint8Array;
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return x.length - y.length;
}

const isFloat = (v: number | bigint) => typeof v === "number" && !Number.isInteger(v);

/** Equality as Python compares fetched rows (1 == 1.0, None == None), with a tolerance for floats. */
export function valuesEqual(a: SqlValue, b: SqlValue, tol: number): boolean {
  const ra = typeRank(a);
  if (ra !== typeRank(b)) return false;
  if (ra === 1) {
    const x = a as number | bigint;
    const y = b as number | bigint;
    if (tol > 0 && (isFloat(x) || isFloat(y))) {
      const nx = Number(x);
      const ny = Number(y);
      if (!Number.isFinite(nx) || !Number.isFinite(ny)) return nx === ny;
      return Math.abs(nx - ny) <= tol * Math.max(1, Math.abs(nx), Math.abs(ny));
    }
    return compareNumbers(x, y) === 0;
  }
  return compareValues(a, b) === 0;
}

function compareRows(a: SqlValue[], b: SqlValue[]): number {
  for (let i = 0; i < a.length; i++) {
    const c = compareValues(a[i]!, b[i]!);
    if (c !== 0) return c;
  }
  return 0;
}

const rowsEqual = (a: SqlValue[], b: SqlValue[], tol: number) => a.every((v, i) => valuesEqual(v, b[i]!, tol));

/** Sequences equal pairwise; as multisets when `sorted` copies are passed. */
function listsEqual(a: SqlValue[][], b: SqlValue[][], tol: number): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!rowsEqual(a[i]!, b[i]!, tol)) return false;
  return true;
}

const sortRows = (rows: SqlValue[][]) => [...rows].sort(compareRows);

function valueKey(v: SqlValue): string {
  if (v === null) return "n";
  if (typeof v === "bigint") return `i${v}`;
  if (typeof v === "number") return Number.isInteger(v) ? `i${BigInt(v)}` : `f${v}`;
  if (typeof v === "string") return `s${v}`;
  return `b${toHex(v)}`;
}

function distinctRows(rows: SqlValue[][]): SqlValue[][] {
  const seen = new Set<string>();
  const out: SqlValue[][] = [];
  for (const r of rows) {
    const k = JSON.stringify(r.map(valueKey));
    if (seen.has(k)) continue;
    seen.add(k);
    out.push(r);
  }
  return out;
}

const column = (rows: SqlValue[][], j: number) => rows.map((r) => [r[j]!]);

/**
 * Compares a predicted result with the reference's. Columns may come in any order (a permutation of the
 * predicted columns must make the rows match); names never matter.
 */
export function compareResults(
  reference: { columns: string[]; rows: SqlValue[][] },
  predicted: { columns: string[]; rows: SqlValue[][] },
  opts: CompareOptions,
): CompareOutcome {
  const tol = opts.floatTolerance;
  let ref = reference.rows;
  let pred = predicted.rows;
  if (opts.setSemantics) {
    ref = distinctRows(ref);
    pred = distinctRows(pred);
  }
  const rowsOf = (n: number) => `${n} ${opts.setSemantics ? "distinct " : ""}row${n === 1 ? "" : "s"}`;
  if (ref.length === 0 && pred.length === 0) return { match: true, reason: "both results are empty" };
  if (ref.length !== pred.length) {
    return {
      match: false,
      reason: `the result has ${rowsOf(pred.length)}, the reference has ${ref.length}`,
    };
  }
  const nc = reference.columns.length;
  if (predicted.columns.length !== nc) {
    return {
      match: false,
      reason: `the result has ${predicted.columns.length} columns, the reference has ${nc}`,
    };
  }
  // A predicted column can stand for a reference column only if their values agree (in order when order
  // matters, as multisets otherwise); this prunes the permutations before rows are compared.
  const refCols = Array.from({ length: nc }, (_, i) => column(ref, i));
  const predCols = Array.from({ length: nc }, (_, j) => column(pred, j));
  const sortedRefCols = opts.orderMatters ? refCols : refCols.map(sortRows);
  const sortedPredCols = opts.orderMatters ? predCols : predCols.map(sortRows);
  const compatible = sortedRefCols.map((rc) => sortedPredCols.map((pc) => listsEqual(rc, pc, tol)));

  const sortedRef = opts.orderMatters ? ref : sortRows(ref);
  const used = new Array<boolean>(nc).fill(false);
  const perm: number[] = [];
  let tried = 0;
  const search = (i: number): boolean => {
    if (i === nc) {
      tried++;
      const permuted = pred.map((r) => perm.map((j) => r[j]!));
      return listsEqual(sortedRef, opts.orderMatters ? permuted : sortRows(permuted), tol);
    }
    // The identity first, so the common case costs one comparison.
    const order = [i, ...Array.from({ length: nc }, (_, j) => j).filter((j) => j !== i)];
    for (const j of order) {
      if (used[j] || !compatible[i]![j]) continue;
      used[j] = true;
      perm.push(j);
      if (search(i + 1)) return true;
      perm.pop();
      used[j] = false;
      if (tried >= MAX_PERMUTATIONS) return false;
    }
    return false;
  };
  if (search(0)) {
    const identity = perm.every((j, i) => j === i);
    const shape = `${rowsOf(ref.length)}, ${nc} column${nc === 1 ? "" : "s"}`;
    return identity
      ? { match: true, reason: `the result matches the reference (${shape})` }
      : {
          match: true,
          reason: `the result matches the reference with its columns in another order (${shape})`,
          permutation: [...perm],
        };
  }
  if (opts.orderMatters) {
    const unordered = compareResults(reference, predicted, { ...opts, orderMatters: false });
    if (unordered.match) return { match: false, reason: "the rows match but not in the reference's order" };
  }
  return { match: false, reason: "the result's rows differ from the reference's" };
}
