import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { r2FixtureStore } from "../../functions/lib/fixtures";
import { DEFAULT_PROJECT_ID } from "../../functions/lib/project";
import { workerdSqlEngine } from "../../functions/lib/sql-engine-workerd";
import type { RewardResult } from "../../rewards/core/types";
import { createSqlVerifier, hasTopLevelOrderBy } from "../../rewards/verifiers/sql";
import casesText from "../../rewards/verifiers/sql/cases.jsonl?raw";
import { corpus, hasCorpora } from "./corpora";
import { call, expectStatus } from "./helpers";

interface GoldPair {
  id: string;
  db_id: string;
  gold_sql: string;
  gold_sql_spider_original: string;
  order_matters: boolean;
  orig_equal_strict: boolean;
}

interface LabelledCase {
  name: string;
  db_id: string;
  reference: string;
  predicted: string;
  expect: number;
  set_semantics?: boolean;
  order_matters?: boolean;
  float_tolerance?: number;
}

const SPIDER = ["concert_singer", "pets_1", "world_1"];
const cases: LabelledCase[] = casesText
  .split("\n")
  .filter((l) => l.trim())
  .map((l) => JSON.parse(l));

const verifier = () =>
  createSqlVerifier({ engine: workerdSqlEngine, fixtures: r2FixtureStore(env.BLOBS, DEFAULT_PROJECT_ID) });
const deadline = (ms = 10_000) => Date.now() + ms;

async function runGrader(grader: Record<string, unknown>, samples: unknown[], deadlineMs?: number) {
  const res = await call("POST", "/v1/graders/run", {
    body: { grader, samples, ...(deadlineMs ? { deadlineMs } : {}) },
  });
  expectStatus(res, 200);
  return res.json as { results: RewardResult[]; summary: { count: number; validCount: number } };
}

const spiderGrader = {
  type: "sql_exec_match",
  name: "spider",
  database: "{{item.db_id}}",
  reference: "{{item.query}}",
};

describe.skipIf(!hasCorpora())("sql_exec_match in workerd", () => {
  let pairs: GoldPair[] = [];

  beforeAll(async () => {
    for (const db of SPIDER) {
      const res = await corpus(`sql/${db}.sqlite`);
      const put = await call("PUT", `/v1/fixtures/${db}`, {
        raw: await res!.arrayBuffer(),
        headers: { "content-type": "application/octet-stream" },
      });
      expect([200, 201]).toContain(put.status);
      // The SQL dumps too, so the conformance run also covers databases built from scripts.
      const script = await corpus(`sql/${db}.sql`);
      const putScript = await call("PUT", `/v1/fixtures/${db}-script`, {
        raw: await script!.text(),
        headers: { "content-type": "application/sql" },
      });
      expect([200, 201]).toContain(putScript.status);
    }
    pairs = (await (await corpus("sql/spider_gold_pairs.json"))!.json()) as GoldPair[];
  });

  it("scores each of the 207 Spider originals 1 against itself", async () => {
    expect(pairs.length).toBe(207);
    const v = verifier();
    const failed: string[] = [];
    for (const p of pairs) {
      const r = await v.execMatch({
        database: p.db_id,
        predicted: p.gold_sql_spider_original,
        reference: p.gold_sql_spider_original,
        deadline: deadline(),
      });
      if (r.score !== 1 || !r.valid) failed.push(`${p.id}: ${JSON.stringify(r)}`);
    }
    expect(failed).toEqual([]);
  });

  it("scores gold_sql against the original 1, except the three pairs marked orig_equal_strict: false (0)", async () => {
    const v = verifier();
    const got: Record<string, number> = {};
    const want: Record<string, number> = {};
    for (const p of pairs) {
      const r = await v.execMatch({
        database: p.db_id,
        predicted: p.gold_sql,
        reference: p.gold_sql_spider_original,
        deadline: deadline(),
      });
      expect(r.valid, `${p.id}: ${JSON.stringify(r)}`).toBe(true);
      got[p.id] = r.score;
      want[p.id] = p.orig_equal_strict ? 1 : 0;
    }
    expect(got).toEqual(want);
    expect(Object.values(want).filter((s) => s === 0)).toHaveLength(3);
  });

  it("runs the conformance pairs the same on databases built from the .sql dumps", async () => {
    const v = verifier();
    const failed: string[] = [];
    for (const p of pairs) {
      const r = await v.execMatch({
        database: `${p.db_id}-script`,
        predicted: p.gold_sql,
        reference: p.gold_sql_spider_original,
        deadline: deadline(),
      });
      if (!r.valid || r.score !== (p.orig_equal_strict ? 1 : 0)) failed.push(`${p.id}: ${JSON.stringify(r)}`);
    }
    expect(failed).toEqual([]);
  });

  it("finds a top-level ORDER BY where the corpus says order matters, except ORDER BYs inside a subquery", () => {
    // The corpus follows Spider's exec_eval.py ('order by' anywhere in the text); an ORDER BY that only picks
    // the row of a scalar subquery does not order the result, so it does not make order count here.
    const mismatched = pairs.filter((p) => hasTopLevelOrderBy(p.gold_sql_spider_original) !== p.order_matters);
    expect(mismatched.map((p) => [p.id, p.order_matters])).toEqual([
      ["concert_singer-043", true],
      ["concert_singer-044", true],
    ]);
    for (const p of mismatched) expect(p.gold_sql_spider_original).toMatch(/\(select [^)]* order by [^)]*\)/i);
  });

  it("scores the labelled predictions as labelled, through POST /v1/graders/run", async () => {
    const got: Record<string, number> = {};
    const want: Record<string, number> = {};
    for (const c of cases) {
      const grader = {
        ...spiderGrader,
        ...(c.set_semantics !== undefined ? { set_semantics: c.set_semantics } : {}),
        ...(c.order_matters !== undefined ? { order_matters: c.order_matters } : {}),
        ...(c.float_tolerance !== undefined ? { float_tolerance: c.float_tolerance } : {}),
      };
      const out = await runGrader(grader, [{ completion: c.predicted, item: { db_id: c.db_id, query: c.reference } }]);
      expect(out.results[0]!.valid, `${c.name}: ${JSON.stringify(out.results[0])}`).toBe(true);
      got[c.name] = out.results[0]!.score;
      want[c.name] = c.expect;
    }
    expect(got).toEqual(want);
  });

  it("reads the SQL from a ```sql fenced block after prose", async () => {
    const out = await runGrader(spiderGrader, [
      {
        completion: "The query:\n```sql\nSELECT count(*) FROM singer;\n```\nThis counts singers.",
        item: { db_id: "concert_singer", query: "SELECT count(*) FROM singer" },
      },
    ]);
    expect(out.results).toEqual([
      { score: 1, valid: true, reason: "the result matches the reference (1 row, 1 column)" },
    ]);
  });

  it("uses a fixed database name and a fixed reference from the config", async () => {
    const grader = {
      type: "sql_exec_match",
      name: "fixed",
      database: "pets_1",
      reference: "SELECT count(*) FROM pets",
    };
    const out = await runGrader(grader, [
      { completion: "SELECT count(petid) FROM pets", item: {} },
      { completion: "SELECT count(*) FROM student", item: {} },
    ]);
    expect(out.results).toEqual([
      { score: 1, valid: true, reason: "the result matches the reference (1 row, 1 column)" },
      { score: 0, valid: true, reason: "the result's rows differ from the reference's" },
    ]);
  });

  it("answers FIXTURE_NOT_FOUND (valid: false) for a database nobody uploaded", async () => {
    const out = await runGrader(spiderGrader, [
      { completion: "SELECT 1", item: { db_id: "no_such_db", query: "SELECT 1" } },
    ]);
    expect(out.results).toEqual([
      {
        score: 0,
        valid: false,
        reason: 'no SQL fixture named "no_such_db"',
        error: { code: "FIXTURE_NOT_FOUND", message: 'no SQL fixture named "no_such_db"' },
      },
    ]);
  });

  it("answers valid: false when the reference fails to run, and score 0 when the prediction does", async () => {
    const out = await runGrader(spiderGrader, [
      { completion: "SELECT name FROM singer", item: { db_id: "concert_singer", query: "SELECT nme FROM singer" } },
      { completion: "SELECT nme FROM singer", item: { db_id: "concert_singer", query: "SELECT name FROM singer" } },
      { completion: "SELEC name FROM singer", item: { db_id: "concert_singer", query: "SELECT name FROM singer" } },
    ]);
    expect(out.results).toEqual([
      {
        score: 0,
        valid: false,
        reason: "the reference SQL fails on fixture concert_singer: no such column: nme",
        error: {
          code: "EVALUATOR_ERROR",
          message: "the reference SQL fails on fixture concert_singer: no such column: nme",
        },
      },
      { score: 0, valid: true, reason: "the predicted SQL fails: no such column: nme" },
      {
        score: 0,
        valid: true,
        reason: "the predicted SQL is refused: only SELECT or WITH … SELECT may run, not SELEC",
      },
    ]);
  });

  it("rejects a database value that is not a fixture name, and a missing item field, as evaluator input errors", async () => {
    const out = await runGrader(spiderGrader, [
      { completion: "SELECT 1", item: { db_id: "../etc", query: "SELECT 1" } },
      { completion: "SELECT 1", item: { query: "SELECT 1" } },
    ]);
    expect(out.results.map((r) => [r.valid, r.error?.code])).toEqual([
      [false, "FIXTURE_NOT_FOUND"],
      [false, "INVALID_INPUT"],
    ]);
  });

  it("refuses an invalid config before scoring", async () => {
    const res = await call("POST", "/v1/graders/validate", {
      body: { grader: { type: "sql_exec_match", name: "x", database: "Not A Name", reference: "{{item.query}}" } },
    });
    expectStatus(res, 200);
    expect(res.json.valid).toBe(false);
    expect(res.json.errors).toEqual([
      {
        path: ["database"],
        message: "database must be a fixture name ([a-z0-9_-]{1,64}) or a template such as {{item.db_id}}",
      },
    ]);
  });
});

describe.skipIf(!hasCorpora())("hostile predictions in workerd", () => {
  beforeAll(async () => {
    const res = await corpus("sql/concert_singer.sqlite");
    await call("PUT", "/v1/fixtures/hostile_cs", {
      raw: await res!.arrayBuffer(),
      headers: { "content-type": "application/octet-stream" },
    });
  });

  const hostile: [string, RegExp][] = [
    ["DROP TABLE singer", /only SELECT or WITH/],
    ["DELETE FROM singer", /only SELECT or WITH/],
    ["SELECT 1; DROP TABLE singer", /more than one statement/],
    ["SELECT 1; -- fine\nDELETE FROM singer;", /more than one statement/],
    ["SELECT ';'; DROP TABLE singer", /more than one statement/],
    ["WITH x AS (SELECT 1) DELETE FROM singer", /DELETE is not allowed/],
    ["WITH x AS (SELECT 1) INSERT INTO singer(singer_id) SELECT 99 FROM x", /INSERT is not allowed/],
    ["PRAGMA writable_schema = 1", /only SELECT or WITH/],
    ["ATTACH DATABASE ':memory:' AS other", /only SELECT or WITH/],
    ["VACUUM", /only SELECT or WITH/],
    ["SELECT load_extension('/tmp/x.so')", /load_extension\(\) is not allowed/],
    ["SELECT writefile('/tmp/x', 'data')", /writefile\(\) is not allowed/],
    ["SELECT readfile('/etc/passwd')", /readfile\(\) is not allowed/],
    ["SELECT \"fts3_tokenizer\"('simple')", /fts3_tokenizer\(\) is not allowed/],
    ["SELECT * FROM pragma_table_info('singer')", /PRAGMA table_info is not allowed/],
  ];

  it("scores each hostile prediction 0 (valid) with the reason, and leaves the fixture unchanged", async () => {
    const item = { db_id: "hostile_cs", query: "SELECT count(*) FROM singer" };
    const out = await runGrader(
      spiderGrader,
      hostile.map(([sql]) => ({ completion: sql, item })),
    );
    out.results.forEach((r, i) => {
      expect(r, hostile[i]![0]).toEqual({ score: 0, valid: true, reason: expect.stringMatching(hostile[i]![1]) });
    });
    const after = await runGrader(spiderGrader, [
      { completion: "SELECT count(*) FROM singer", item },
      {
        completion: "SELECT name FROM sqlite_schema WHERE type = 'table'",
        item: {
          db_id: "hostile_cs",
          query:
            "SELECT 'concert' UNION ALL SELECT 'singer' UNION ALL SELECT 'singer_in_concert' UNION ALL SELECT 'stadium'",
        },
      },
    ]);
    expect(after.results.map((r) => r.score)).toEqual([1, 1]);
  });

  it("gives the engine's own guard the last word when the text check is bypassed", async () => {
    const v = verifier();
    const engine = await workerdSqlEngine.get();
    const img = await v.image((await r2FixtureStore(env.BLOBS, DEFAULT_PROJECT_ID).get("hostile_cs"))!);
    expect(engine.execute(img, "DROP TABLE singer", { maxOps: 1e6 })).toEqual({
      ok: false,
      kind: "rejected",
      message: "DELETE is not allowed: only read-only queries may run",
    });
    expect(engine.execute(img, "CREATE TEMP TABLE t AS SELECT 1", { maxOps: 1e6 })).toMatchObject({
      ok: false,
      kind: "rejected",
    });
    expect(engine.execute(img, "SELECT 1; DELETE FROM singer", { maxOps: 1e6 })).toMatchObject({
      ok: false,
      kind: "rejected",
      message: "more than one statement: only one query may run",
    });
    expect(engine.execute(img, "SELECT count(*) FROM singer", { maxOps: 1e6 })).toMatchObject({
      ok: true,
      rows: [[6]],
    });
  });
});

describe.skipIf(!hasCorpora())("runaway queries in workerd", () => {
  beforeAll(async () => {
    const res = await corpus("sql/world_1.sqlite");
    await call("PUT", "/v1/fixtures/runaway_world", {
      raw: await res!.arrayBuffer(),
      headers: { "content-type": "application/octet-stream" },
    });
  });

  const runaways: [string, string, RegExp][] = [
    ["a cross join with count(*)", "SELECT count(*) FROM city a, city b, city c, city d", /stopped/],
    [
      "a recursive CTE that never ends",
      "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c) SELECT count(*) FROM c",
      /stopped/,
    ],
    ["randomblob(1e9)", "SELECT length(randomblob(1e9))", /string or blob too big/],
  ];

  for (const [what, sql, reason] of runaways) {
    it(`stops ${what} with score 0 and the reason, and the Worker keeps serving`, async () => {
      const started = Date.now();
      const out = await runGrader(
        spiderGrader,
        [{ completion: sql, item: { db_id: "runaway_world", query: "SELECT count(*) FROM city" } }],
        3000,
      );
      const tookMs = Date.now() - started;
      console.log(`[runaway] ${what}: ${tookMs} ms, ${out.results[0]!.reason}`);
      expect(out.results).toEqual([{ score: 0, valid: true, reason: expect.stringMatching(reason) }]);
      const health = await call("GET", "/healthz", { key: null });
      expectStatus(health, 200);
      const next = await runGrader(spiderGrader, [
        {
          completion: "SELECT count(*) FROM city",
          item: { db_id: "runaway_world", query: "SELECT count(*) FROM city" },
        },
      ]);
      expect(next.results[0]).toMatchObject({ score: 1, valid: true });
    });
  }

  it("reports a runaway reference as the evaluator's failure", async () => {
    const out = await runGrader(
      spiderGrader,
      [
        {
          completion: "SELECT 1",
          item: {
            db_id: "runaway_world",
            query: "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c) SELECT max(n) FROM c",
          },
        },
      ],
      2000,
    );
    expect(out.results).toEqual([
      {
        score: 0,
        valid: false,
        reason: expect.stringMatching(/^the reference query did not finish: the query was stopped/),
        error: { code: "DEADLINE_EXCEEDED", message: expect.any(String) },
      },
    ]);
  });
});
