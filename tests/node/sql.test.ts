import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { dirFixtureStore } from "../../functions/lib/node-services";
import { nodeSqliteEngine } from "../../functions/lib/sql-engine-node";
import type { FixtureStore } from "../../rewards/core/types";
import {
  checkReadOnlyQuery,
  compareResults,
  createSqlVerifier,
  EngineHolder,
  extractSql,
  hasTopLevelOrderBy,
  newSqlCaches,
  splitStatements,
  tokenize,
} from "../../rewards/verifiers/sql";

const ROOT = resolve(__dirname, "../..");
const CORPUS = resolve(ROOT, "../shared/corpora/sql");
const hasCorpus = existsSync(CORPUS);
const exact = { orderMatters: false, setSemantics: false, floatTolerance: 1e-9 };
const r = (columns: string[], rows: unknown[][]) => ({ columns, rows: rows as (number | string | null)[][] });

describe("compareResults (Spider test-suite semantics)", () => {
  it("compares rows as a multiset when order does not matter", () => {
    expect(compareResults(r(["a"], [[1], [2], [2]]), r(["a"], [[2], [1], [2]]), exact).match).toBe(true);
    expect(compareResults(r(["a"], [[1], [2], [2]]), r(["a"], [[1], [1], [2]]), exact)).toEqual({
      match: false,
      reason: "the result's rows differ from the reference's",
    });
  });

  it("compares rows in order when order matters, and says when only the order differs", () => {
    const opts = { ...exact, orderMatters: true };
    expect(compareResults(r(["a"], [[1], [2]]), r(["a"], [[1], [2]]), opts).match).toBe(true);
    expect(compareResults(r(["a"], [[1], [2]]), r(["a"], [[2], [1]]), opts)).toEqual({
      match: false,
      reason: "the rows match but not in the reference's order",
    });
  });

  it("matches columns up to a permutation, whatever their names", () => {
    const out = compareResults(
      r(
        ["name", "age"],
        [
          ["a", 1],
          ["b", 2],
        ],
      ),
      r(
        ["x", "y"],
        [
          [2, "b"],
          [1, "a"],
        ],
      ),
      exact,
    );
    expect(out).toEqual({
      match: true,
      reason: "the result matches the reference with its columns in another order (2 rows, 2 columns)",
      permutation: [1, 0],
    });
  });

  it("needs one permutation for all rows, not one per row", () => {
    // Each row matches under some column swap, but no single swap makes both rows match.
    expect(
      compareResults(
        r(
          ["a", "b"],
          [
            [1, 2],
            [3, 4],
          ],
        ),
        r(
          ["a", "b"],
          [
            [1, 2],
            [4, 3],
          ],
        ),
        exact,
      ).match,
    ).toBe(false);
  });

  it("refuses a different number of rows or columns, and accepts two empty results", () => {
    expect(compareResults(r(["a"], [[1]]), r(["a"], [[1], [1]]), exact).reason).toBe(
      "the result has 2 rows, the reference has 1",
    );
    expect(compareResults(r(["a"], [[1]]), r(["a", "b"], [[1, 1]]), exact).reason).toBe(
      "the result has 2 columns, the reference has 1",
    );
    expect(compareResults(r(["a"], []), r(["a", "b"], []), exact)).toEqual({
      match: true,
      reason: "both results are empty",
    });
  });

  it("compares sets of rows under set semantics", () => {
    const opts = { ...exact, setSemantics: true };
    expect(compareResults(r(["a"], [[1], [2]]), r(["a"], [[2], [1], [1]]), opts).match).toBe(true);
    expect(compareResults(r(["a"], [[1], [2]]), r(["a"], [[2], [2]]), opts).match).toBe(false);
  });

  it("treats NULL as equal to NULL, 1 as equal to 1.0, and the text '1' as different from 1", () => {
    expect(compareResults(r(["a"], [[null]]), r(["a"], [[null]]), exact).match).toBe(true);
    expect(compareResults(r(["a"], [[1]]), r(["a"], [[1.0]]), exact).match).toBe(true);
    expect(compareResults(r(["a"], [[1]]), r(["a"], [["1"]]), exact).match).toBe(false);
    expect(compareResults(r(["a"], [[null]]), r(["a"], [[0]]), exact).match).toBe(false);
  });

  it("compares floats within the relative tolerance", () => {
    expect(compareResults(r(["a"], [[0.1 + 0.2]]), r(["a"], [[0.3]]), exact).match).toBe(true);
    expect(compareResults(r(["a"], [[1e12 + 0.5]]), r(["a"], [[1e12 + 0.5005]]), exact).match).toBe(true);
    expect(compareResults(r(["a"], [[2.5]]), r(["a"], [[2.51]]), exact).match).toBe(false);
    expect(compareResults(r(["a"], [[2.5]]), r(["a"], [[2.51]]), { ...exact, floatTolerance: 0.01 }).match).toBe(true);
    expect(compareResults(r(["a"], [[2.5]]), r(["a"], [[2.5000001]]), { ...exact, floatTolerance: 0 }).match).toBe(
      false,
    );
  });
});

describe("statement checks", () => {
  it("tokenizes strings, quoted identifiers and comments without splitting inside them", () => {
    const sql = `SELECT 'a;b''c', "x;y", \`z;\`, [w;] -- c;\n /* d; */ FROM t; ;`;
    expect(splitStatements(tokenize(sql))).toHaveLength(1);
    expect(tokenize("SELECT 'it''s'")).toEqual([
      { kind: "word", text: "SELECT", depth: 0 },
      { kind: "string", text: "'it''s'", depth: 0 },
    ]);
  });

  it("accepts one SELECT or WITH query with a trailing semicolon", () => {
    expect(checkReadOnlyQuery("SELECT 1;")).toEqual({ ok: true, sql: "SELECT 1;" });
    expect(checkReadOnlyQuery("  with x as (select 1) select * from x ; -- done")).toMatchObject({ ok: true });
  });

  it("refuses several statements, other statement kinds, denied functions and open quotes", () => {
    expect(checkReadOnlyQuery("SELECT 1; SELECT 2")).toEqual({
      ok: false,
      reason: "more than one statement (2): only one query may run",
    });
    expect(checkReadOnlyQuery("PRAGMA writable_schema=1")).toEqual({
      ok: false,
      reason: "only SELECT or WITH … SELECT may run, not PRAGMA",
    });
    expect(checkReadOnlyQuery("SELECT LOAD_EXTENSION('x')")).toEqual({
      ok: false,
      reason: "the function load_extension() is not allowed",
    });
    expect(checkReadOnlyQuery("SELECT 'open")).toEqual({
      ok: false,
      reason: "the SQL does not parse: unterminated ' quote",
    });
    expect(checkReadOnlyQuery(" -- nothing\n ;")).toEqual({ ok: false, reason: "the SQL is empty" });
    // A denied name inside a string is only text.
    expect(checkReadOnlyQuery("SELECT 'load_extension(1)'")).toMatchObject({ ok: true });
  });

  it("sees an ORDER BY only at the statement's own level", () => {
    expect(hasTopLevelOrderBy("SELECT a FROM t ORDER BY a")).toBe(true);
    expect(hasTopLevelOrderBy("SELECT a FROM t UNION SELECT b FROM u ORDER BY 1")).toBe(true);
    expect(hasTopLevelOrderBy("SELECT a FROM t WHERE a = (SELECT b FROM u ORDER BY b LIMIT 1)")).toBe(false);
    expect(hasTopLevelOrderBy("SELECT rank() OVER (ORDER BY a) FROM t")).toBe(false);
    expect(hasTopLevelOrderBy("SELECT 'order by' FROM t")).toBe(false);
  });

  it("extracts the SQL from a ```sql block, else takes the whole completion", () => {
    expect(extractSql("Here:\n```sql\nSELECT 1\n```\nDone")).toBe("SELECT 1");
    expect(extractSql("  SELECT 2  ")).toBe("SELECT 2");
  });
});

describe("the SQLite engine in Node", () => {
  it("runs a query on a script fixture and keeps the fixture unchanged for the next query", async () => {
    const engine = await nodeSqliteEngine();
    const img = engine.buildImage("CREATE TABLE t(x); INSERT INTO t VALUES (1), (2);");
    expect(engine.execute(img, "DELETE FROM t", { maxOps: 1e6 })).toMatchObject({ ok: false, kind: "rejected" });
    expect(engine.execute(img, "SELECT x FROM t ORDER BY x", { maxOps: 1e6 })).toEqual({
      ok: true,
      columns: ["x"],
      rows: [[1], [2]],
      ops: 0,
    });
  });

  it("reuses a kept connection after a refused write and a stopped query, and still answers past its bound of kept images", async () => {
    const engine = await nodeSqliteEngine();
    const images = Array.from({ length: 12 }, (_, i) =>
      engine.buildImage(`CREATE TABLE t(x); INSERT INTO t VALUES (${i});`),
    );
    const first = images[0]!;
    const runaway = "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c) SELECT max(n) FROM c";
    expect(engine.execute(first, "UPDATE t SET x = 99", { maxOps: 1e6 })).toMatchObject({
      ok: false,
      kind: "rejected",
    });
    expect(engine.execute(first, runaway, { maxOps: 10_000 })).toMatchObject({ ok: false, kind: "interrupted" });
    expect(engine.execute(first, "SELECT x FROM t", { maxOps: 1e6 })).toMatchObject({ ok: true, rows: [[0]] });
    // Twelve images through a cache of eight, twice: each query sees its own image, kept or reopened.
    for (let round = 0; round < 2; round++) {
      const seen = images.map((img) => engine.execute(img, "SELECT x, count(*) FROM t", { maxOps: 1e6 }));
      expect(seen.map((o) => (o.ok ? o.rows : o.message))).toEqual(images.map((_, i) => [[i, 1]]));
    }
  });

  it("stops a query at its VM-step budget", async () => {
    const engine = await nodeSqliteEngine();
    const img = engine.buildImage("CREATE TABLE t(x);");
    const out = engine.execute(
      img,
      "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c) SELECT max(n) FROM c",
      {
        maxOps: 1_000_000,
      },
    );
    expect(out).toEqual({
      ok: false,
      kind: "interrupted",
      ops: 1_001_000,
      message: "the query was stopped after 1001000 VM steps (its budget is 1000000)",
    });
  });

  it("stops a query that returns more rows than allowed", async () => {
    const engine = await nodeSqliteEngine({ maxRows: 10 });
    const img = engine.buildImage("CREATE TABLE t(x);");
    expect(
      engine.execute(img, "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c LIMIT 11) SELECT n FROM c", {
        maxOps: 1e6,
      }),
    ).toEqual({ ok: false, kind: "too_many_rows", message: "the query returned more than 10 rows" });
  });

  it("reads integers past 2^53 exactly, text as UTF-8 and blobs as bytes", async () => {
    const engine = await nodeSqliteEngine();
    const img = engine.buildImage("CREATE TABLE t(x);");
    expect(
      engine.execute(img, "SELECT 9223372036854775807, 'héllo ✓', x'00ff', NULL, 2.5", { maxOps: 1e6 }),
    ).toMatchObject({
      ok: true,
      rows: [[9223372036854775807n, "héllo ✓", new Uint8Array([0, 255]), null, 2.5]],
    });
  });

  it("answers date functions in UTC", async () => {
    const engine = await nodeSqliteEngine();
    const img = engine.buildImage("CREATE TABLE t(x);");
    expect(engine.execute(img, "SELECT datetime(0, 'unixepoch', 'localtime')", { maxOps: 1e6 })).toMatchObject({
      ok: true,
      rows: [["1970-01-01 00:00:00"]],
    });
  });
});

describe("the SQL verifier in Node", () => {
  const failing: FixtureStore = {
    get: async (name) =>
      name === "broken"
        ? { name, kind: "sql", sha256: "broken-1", bytes: new TextEncoder().encode("CREATE TABLE") }
        : null,
  };

  it("answers valid: false for a fixture whose script does not load", async () => {
    const v = createSqlVerifier({
      engine: new EngineHolder(() => nodeSqliteEngine()),
      fixtures: failing,
      caches: newSqlCaches(),
    });
    expect(
      await v.execMatch({
        database: "broken",
        predicted: "SELECT 1",
        reference: "SELECT 1",
        deadline: Date.now() + 5000,
      }),
    ).toEqual({
      score: 0,
      valid: false,
      reason: "the fixture broken does not load: incomplete input",
      error: { code: "EVALUATOR_ERROR", message: "the fixture broken does not load: incomplete input" },
    });
  });

  it("answers DEADLINE_EXCEEDED when the deadline has already passed", async () => {
    const fixtures: FixtureStore = {
      get: async (name) => ({
        name,
        kind: "sql",
        sha256: "t-1",
        bytes: new TextEncoder().encode("CREATE TABLE t(x);"),
      }),
    };
    const v = createSqlVerifier({
      engine: new EngineHolder(() => nodeSqliteEngine()),
      fixtures,
      caches: newSqlCaches(),
    });
    const out = await v.execMatch({
      database: "t",
      predicted: "SELECT 1",
      reference: "SELECT 1",
      deadline: Date.now() - 1,
    });
    expect(out).toMatchObject({ valid: false, error: { code: "DEADLINE_EXCEEDED" } });
  });

  it.skipIf(!hasCorpus)("scores the labelled cases as labelled", async () => {
    const v = createSqlVerifier({
      engine: new EngineHolder(() => nodeSqliteEngine()),
      fixtures: dirFixtureStore([CORPUS]),
    });
    const lines = readFileSync(join(ROOT, "rewards/verifiers/sql/cases.jsonl"), "utf8").split("\n").filter(Boolean);
    const got: Record<string, number> = {};
    const want: Record<string, number> = {};
    for (const line of lines) {
      const c = JSON.parse(line);
      const out = await v.execMatch({
        database: c.db_id,
        predicted: c.predicted,
        reference: c.reference,
        deadline: Date.now() + 10_000,
        ...(c.set_semantics !== undefined ? { setSemantics: c.set_semantics } : {}),
        ...(c.order_matters !== undefined ? { orderMatters: c.order_matters } : {}),
        ...(c.float_tolerance !== undefined ? { floatTolerance: c.float_tolerance } : {}),
      });
      expect(out.valid, `${c.name}: ${JSON.stringify(out)}`).toBe(true);
      got[c.name] = out.score;
      want[c.name] = c.expect;
    }
    expect(got).toEqual(want);
  });
});
