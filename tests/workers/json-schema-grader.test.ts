import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { scoreBatch } from "../../rewards/core/engine";
import { buildGrader } from "../../rewards/graders/index";
import { bucketSchemaStore, schemaCacheStats } from "../../rewards/verifiers/json-schema";
import { call, expectStatus } from "./helpers";

const quiet = { debug() {}, info() {}, warn() {} };
const context = () => ({
  fixtures: { get: async () => null },
  log: quiet,
  services: { jsonSchemas: bucketSchemaStore(env.BLOBS) },
});

const line = {
  $id: "https://schemas.test/grader/line.json",
  type: "object",
  required: ["sku", "qty"],
  properties: { sku: { type: "string", pattern: "^[A-Z]{3}-\\d+$" }, qty: { type: "integer", minimum: 1 } },
};
const order = {
  type: "object",
  required: ["id", "lines"],
  properties: {
    id: { type: "string" },
    lines: { type: "array", minItems: 1, items: { $ref: "https://schemas.test/grader/line.json" } },
  },
};

describe("json_schema grader in workerd", () => {
  it("scores a batch through the engine with a $ref to a schema registered over HTTP", async () => {
    expectStatus(await call("PUT", "/v1/schemas", { body: line }), 201);
    const grader = buildGrader({ type: "json_schema", name: "order", schema: order });
    const buildsBefore = schemaCacheStats().builds;
    const samples = [
      { completion: '{"id":"o1","lines":[{"sku":"ABC-1","qty":2}]}', item: {} },
      { completion: 'Sure:\n```json\n{"id":"o2","lines":[{"sku":"abc","qty":0}]}\n```', item: {} },
      { completion: "no idea", item: {} },
      ...Array.from({ length: 20 }, (_, i) => ({
        completion: `{"id":"o${i}","lines":[{"sku":"XYZ-${i}","qty":1}]}`,
        item: {},
      })),
    ];
    const out = await scoreBatch(grader.score, samples, { context: context() });
    expect(out.results).toHaveLength(23);
    expect(out.results[0]).toMatchObject({ score: 1, valid: true });
    // The item: its type, then sku and qty at 1/2 each (right type, wrong pattern / minimum): 2/3. The
    // array (type, minItems, items): (1 + 1 + 2/3) / 3 = 8/9. The root (type, id, lines): (1 + 1 + 8/9) / 3.
    expect(out.results[1]!.score).toBeCloseTo((1 + 1 + 8 / 9) / 3, 10);
    expect(out.results[1]!.metrics).toMatchObject({
      "#/lines/0/sku": { score: 0, reason: "pattern: does not match /^[A-Z]{3}-\\d+$/" },
      "#/lines/0/qty": { score: 0, reason: "minimum: 0 is less than 1" },
    });
    expect(out.results[2]).toEqual({
      score: 0,
      valid: true,
      reason: "no JSON found in the completion",
      metrics: { json_parsed: { score: 0, reason: "no JSON found in the completion" } },
    });
    expect(out.results.slice(3).every((r) => r.score === 1 && r.valid)).toBe(true);
    expect(out.summary).toMatchObject({ count: 23, validCount: 23 });
    expect(schemaCacheStats().builds - buildsBefore).toBeLessThanOrEqual(1);
  });

  it("reports an unregistered $ref as the evaluator's failure for every sample", async () => {
    const grader = buildGrader({
      type: "json_schema",
      name: "t",
      schema: { $ref: "https://schemas.test/grader/never-registered.json" },
    });
    const out = await scoreBatch(
      grader.score,
      [
        { completion: "{}", item: {} },
        { completion: "[]", item: {} },
      ],
      {
        context: context(),
      },
    );
    for (const r of out.results) {
      expect(r).toMatchObject({ valid: false, score: 0, error: { code: "INVALID_INPUT" } });
      expect(r.error!.message).toContain("https://schemas.test/grader/never-registered.json");
    }
    expect(out.summary.validCount).toBe(0);
  });

  it("validates per-item schemas that $ref registered ones", async () => {
    expectStatus(
      await call("PUT", "/v1/schemas", { body: { ...line, $id: "https://schemas.test/grader/line2.json" } }),
      201,
    );
    const grader = buildGrader({ type: "json_schema", name: "t", schema: "{{item.schema}}", partial_credit: false });
    const schema = { type: "array", items: { $ref: "https://schemas.test/grader/line2.json" } };
    const out = await scoreBatch(
      grader.score,
      [
        { completion: '[{"sku":"ABC-9","qty":3}]', item: { schema } },
        { completion: '[{"sku":"ABC-9","qty":"3"}]', item: { schema: JSON.stringify(schema) } },
      ],
      { context: context() },
    );
    expect(out.results.map((r) => [r.valid, r.score])).toEqual([
      [true, 1],
      [true, 0],
    ]);
  });
});
