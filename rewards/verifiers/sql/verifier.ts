import type { SqlExecMatchInput, SqlVerifier } from "../../core/services";
import { type Fixture, type FixtureStore, invalid, type RewardResult } from "../../core/types";
import { LazyEngine } from "../../lib/lazy-engine";
import { Lru } from "../../lib/lru";
import { compareResults, DEFAULT_FLOAT_TOLERANCE } from "./compare";
import {
  EngineCrashed,
  EngineOutOfMemory,
  type QueryOutcome,
  type QueryResult,
  type SqliteEngine,
  SqlScriptError,
} from "./sqlite";
import { checkReadOnlyQuery, hasTopLevelOrderBy } from "./statement";

/**
 * VM steps granted per millisecond of the sample's remaining time. SQLite in WASM ran 70–170 million
 * steps a second in the runs measured (docs/sql.md), so this stops a runaway in 10–30% of its
 * time; a clock cannot be used instead because production Workers freeze it during synchronous work.
 */
export const DEFAULT_OPS_PER_MS = 20_000;
/** Steps no single query may pass, whatever the deadline (~1.5–3.5 s of work). */
export const DEFAULT_MAX_OPS = 250_000_000;
/** Share of the remaining time the two queries may use together; the rest is headroom. */
const TIME_SHARE = 0.8;

type ReferenceEntry = { ok: true; result: QueryResult } | { ok: false; outcome: QueryOutcome & { ok: false } };

/** Database images by fixture sha256, and reference results by (sha256, reference SQL). Shared per isolate. */
export interface SqlCaches {
  images: Lru<string, Uint8Array>;
  references: Lru<string, ReferenceEntry>;
}

export function newSqlCaches(opts: { imageBytes?: number; references?: number } = {}): SqlCaches {
  return {
    images: new Lru<string, Uint8Array>(opts.imageBytes ?? 96 * 1024 * 1024, (b) => b.length),
    references: new Lru<string, ReferenceEntry>(opts.references ?? 1024),
  };
}

const sharedCaches = newSqlCaches();

/**
 * Builds the SQLite engine on first use and again after a crash. `create` is runtime-specific (the
 * loaders in functions/lib/sql-engine-*.ts); it runs once per isolate in the normal case.
 */
export class EngineHolder extends LazyEngine<SqliteEngine> {
  constructor(create: () => Promise<SqliteEngine> | SqliteEngine) {
    // An engine that trapped or ran out of memory says so itself (`usable`), so no caller drops it.
    super(create, { usable: (e) => e.usable });
  }
}

export interface SqlVerifierOptions {
  engine: EngineHolder;
  fixtures: FixtureStore;
  caches?: SqlCaches;
  opsPerMs?: number;
  maxOps?: number;
}

/** A runaway reference or prediction: how it is reported. */
function describeFailure(outcome: QueryOutcome & { ok: false }): string {
  return outcome.message;
}

/**
 * The SQL execution-match verifier (`ctx.services.sql`): runs the reference and the prediction on fresh
 * read-only copies of a fixture and compares their results (docs/sql.md).
 */
export function createSqlVerifier(opts: SqlVerifierOptions): SqlVerifier & {
  /** The database image a fixture stands for (a script is run into a database), cached by sha256. */
  image(fixture: Fixture): Promise<Uint8Array>;
} {
  const caches = opts.caches ?? sharedCaches;
  const opsPerMs = opts.opsPerMs ?? DEFAULT_OPS_PER_MS;
  const maxOpsCap = opts.maxOps ?? DEFAULT_MAX_OPS;

  async function image(fixture: Fixture): Promise<Uint8Array> {
    const hit = caches.images.get(fixture.sha256);
    if (hit) return hit;
    let img: Uint8Array;
    if (fixture.kind === "sqlite") img = fixture.bytes;
    else {
      const engine = await opts.engine.get();
      img = engine.buildImage(new TextDecoder().decode(fixture.bytes));
    }
    caches.images.set(fixture.sha256, img);
    return img;
  }

  async function execMatch(input: SqlExecMatchInput): Promise<RewardResult> {
    const fixture = await opts.fixtures.get(input.database);
    if (!fixture) return invalid("FIXTURE_NOT_FOUND", `no SQL fixture named ${JSON.stringify(input.database)}`);
    let engine: SqliteEngine;
    let img: Uint8Array;
    try {
      engine = await opts.engine.get();
      img = await image(fixture);
    } catch (err) {
      if (err instanceof SqlScriptError)
        return invalid("EVALUATOR_ERROR", `the fixture ${fixture.name} does not load: ${err.message}`);
      return invalid("SANDBOX_FAILED", `the SQL engine did not start: ${(err as Error).message}`);
    }
    const remainingMs = input.deadline - Date.now();
    if (remainingMs <= 0) return invalid("DEADLINE_EXCEEDED", "the deadline passed before the SQL ran");
    let budget = Math.min(2 * maxOpsCap, Math.floor(remainingMs * TIME_SHARE * opsPerMs));

    try {
      const refKey = `${fixture.sha256}\u0000${input.reference}`;
      let ref = caches.references.get(refKey);
      if (!ref) {
        const check = checkReadOnlyQuery(input.reference);
        if (!check.ok) {
          return invalid("EVALUATOR_ERROR", `the reference SQL is refused: ${check.reason}`);
        }
        const out = engine.execute(img, check.sql, { maxOps: Math.min(maxOpsCap, Math.ceil(budget / 2)) });
        if (out.ok) {
          budget -= out.ops;
          ref = { ok: true, result: { columns: out.columns, rows: out.rows } };
          caches.references.set(refKey, ref);
        } else if (out.kind === "interrupted") {
          return invalid("DEADLINE_EXCEEDED", `the reference query did not finish: ${out.message}`);
        } else {
          ref = { ok: false, outcome: out };
          caches.references.set(refKey, ref);
        }
      }
      if (!ref.ok) {
        return invalid(
          "EVALUATOR_ERROR",
          `the reference SQL fails on fixture ${fixture.name}: ${describeFailure(ref.outcome)}`,
        );
      }

      const check = checkReadOnlyQuery(input.predicted);
      if (!check.ok) return { score: 0, valid: true, reason: `the predicted SQL is refused: ${check.reason}` };
      const pred = engine.execute(img, check.sql, { maxOps: Math.max(1, Math.min(maxOpsCap, budget)) });
      if (!pred.ok) {
        const what =
          pred.kind === "rejected"
            ? "is refused"
            : pred.kind === "error"
              ? "fails"
              : pred.kind === "interrupted"
                ? "was stopped"
                : "returns too much";
        return { score: 0, valid: true, reason: `the predicted SQL ${what}: ${describeFailure(pred)}` };
      }
      const orderMatters = input.orderMatters ?? hasTopLevelOrderBy(input.reference);
      const cmp = compareResults(ref.result, pred, {
        orderMatters,
        setSemantics: input.setSemantics ?? false,
        floatTolerance: input.floatTolerance ?? DEFAULT_FLOAT_TOLERANCE,
      });
      return { score: cmp.match ? 1 : 0, valid: true, reason: cmp.reason };
    } catch (err) {
      if (err instanceof EngineCrashed) return invalid("SANDBOX_FAILED", err.message);
      if (err instanceof EngineOutOfMemory)
        return invalid("EVALUATOR_ERROR", `the SQL engine ran out of memory: ${err.message}`);
      throw err;
    }
  }

  return { execMatch, image };
}
