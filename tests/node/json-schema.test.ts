import { beforeEach, describe, expect, it } from "vitest";
import { scoreBatch, scoreOne } from "../../rewards/core/engine";
import type { ScoreContext } from "../../rewards/core/types";
import { buildGrader, GraderConfigError, validateGrader } from "../../rewards/graders/index";
import {
  bucketSchemaStore,
  compileSchemaSync,
  contentHash,
  normalizeSchemaId,
  partialCredit,
  type RegisteredSchema,
  registerSchema,
  resetSchemaCache,
  type SchemaBucket,
  schemaCacheStats,
  verifyDocument,
} from "../../rewards/verifiers/json-schema";

const quiet = { debug() {}, info() {}, warn() {} };
const context = (services: ScoreContext["services"] = {}): Omit<ScoreContext, "signal" | "deadline"> => ({
  fixtures: { get: async () => null },
  log: quiet,
  services,
});

const person = {
  type: "object",
  required: ["name", "age", "email", "active"],
  properties: {
    name: { type: "string" },
    age: { type: "integer" },
    email: { type: "string" },
    active: { type: "boolean" },
  },
};

const grader = (extra: Record<string, unknown> = {}) =>
  buildGrader({ type: "json_schema", name: "person", schema: person, ...extra });

const sample = (completion: string, item: Record<string, unknown> = {}) => ({ completion, item });

/** An in-memory double of the R2 bucket, for the registry functions. */
function memoryBucket(): SchemaBucket & { objects: Map<string, { body: string; meta: Record<string, string> }> } {
  const objects = new Map<string, { body: string; meta: Record<string, string> }>();
  return {
    objects,
    async get(key) {
      const o = objects.get(key);
      return o ? { text: async () => o.body, customMetadata: o.meta } : null;
    },
    async put(key, value, options) {
      objects.set(key, { body: value, meta: options?.customMetadata ?? {} });
    },
    async list(options) {
      const keys = [...objects.keys()].filter((k) => k.startsWith(options?.prefix ?? "")).sort();
      return {
        objects: keys.map((k) => ({ key: k, size: objects.get(k)!.body.length, customMetadata: objects.get(k)!.meta })),
        truncated: false,
      };
    },
  };
}

beforeEach(() => resetSchemaCache());

describe("json_schema grader scoring", () => {
  it("scores a valid document 1 with its metrics", async () => {
    const r = await scoreOne(
      grader().score,
      sample('{"name":"Ada","age":36,"email":"ada@example.com","active":true}'),
      context(),
    );
    expect(r).toEqual({
      score: 1,
      valid: true,
      reason: "the JSON satisfies the schema",
      metrics: { json_parsed: { score: 1 }, schema_valid: { score: 1 }, constraints: { score: 1 } },
    });
  });

  it("gives 4/5 to an object with four required fields where one has the wrong type", async () => {
    const r = await scoreOne(
      grader().score,
      sample('{"name":"Ada","age":"36","email":"ada@example.com","active":true}'),
      context(),
    );
    expect(r.valid).toBe(true);
    expect(r.score).toBeCloseTo(4 / 5, 10);
    expect(r.metrics).toEqual({
      json_parsed: { score: 1 },
      schema_valid: { score: 0 },
      constraints: { score: r.score, reason: "1 of 5 checks failed" },
      "#/age": { score: 0, reason: "type: expected integer, got string" },
    });
    expect(r.reason).toBe(
      "the JSON does not satisfy the schema (partial credit 0.8): #/age type: expected integer, got string",
    );
  });

  it("scores a missing required property as a failed field at its pointer", async () => {
    const r = await scoreOne(grader().score, sample('{"name":"Ada","age":36,"active":true}'), context());
    expect(r.score).toBeCloseTo(4 / 5, 10);
    expect(r.metrics?.["#/email"]).toEqual({ score: 0, reason: "required: required property is missing" });
  });

  it("scores 0 when partial credit is off and the document is invalid", async () => {
    const r = await scoreOne(
      grader({ partial_credit: false }).score,
      sample('{"name":"Ada","age":"36","email":"a@b.c","active":true}'),
      context(),
    );
    expect(r.score).toBe(0);
    expect(r.valid).toBe(true);
    expect(r.metrics?.["#/age"]).toEqual({ score: 0, reason: "type: expected integer, got string" });
    expect(r.reason).toBe("the JSON does not satisfy the schema: #/age type: expected integer, got string");
  });

  it("scores an answer with no JSON 0 and valid, saying why", async () => {
    const r = await scoreOne(grader().score, sample("I cannot answer that."), context());
    expect(r).toEqual({
      score: 0,
      valid: true,
      reason: "no JSON found in the completion",
      metrics: { json_parsed: { score: 0, reason: "no JSON found in the completion" } },
    });
  });

  it("finds the JSON in a fenced block by default and refuses it in bare mode", async () => {
    const text = 'Here:\n```json\n{"name":"Ada","age":36,"email":"a@b.c","active":true}\n```';
    expect((await scoreOne(grader().score, sample(text), context())).score).toBe(1);
    const bare = await scoreOne(grader({ extract: "bare" }).score, sample(text), context());
    expect(bare).toMatchObject({ score: 0, valid: true, reason: "the completion is not valid JSON" });
  });

  it("reads the schema from the item, as an object or as JSON text", async () => {
    const g = buildGrader({ type: "json_schema", name: "t", schema: "{{item.schema}}" });
    const doc = '{"name":"Ada","age":36,"email":"a@b.c","active":true}';
    expect((await scoreOne(g.score, sample(doc, { schema: person }), context())).score).toBe(1);
    expect((await scoreOne(g.score, sample(doc, { schema: JSON.stringify(person) }), context())).score).toBe(1);
    const wrong = await scoreOne(g.score, sample(doc, { schema: { ...person, required: ["nickname"] } }), context());
    expect(wrong.score).toBeLessThan(1);
    expect(wrong.metrics?.["#/nickname"]).toEqual({ score: 0, reason: "required: required property is missing" });
  });

  it("marks a broken schema from the item as the evaluator's failure", async () => {
    const g = buildGrader({ type: "json_schema", name: "t", schema: "{{item.schema}}" });
    const r = await scoreOne(g.score, sample("{}", { schema: { type: "objekt" } }), context());
    expect(r).toMatchObject({ valid: false, score: 0, error: { code: "INVALID_INPUT" } });
    expect(r.error?.message).toContain("/type: type must be one of");
    const notJson = await scoreOne(g.score, sample("{}", { schema: "{nope" }), context());
    expect(notJson).toMatchObject({
      valid: false,
      error: { code: "INVALID_INPUT", message: "{{item.schema}} is a string that is not JSON" },
    });
    const missing = await scoreOne(g.score, sample("{}", {}), context());
    expect(missing).toMatchObject({ valid: false, error: { code: "INVALID_INPUT" } });
  });

  it("validates a value taken from the item when input says so", async () => {
    const g = grader({ input: "{{item.answer}}" });
    const r = await scoreOne(
      g.score,
      sample("ignored", { answer: { name: "A", age: 1, email: "e", active: false } }),
      context(),
    );
    expect(r.score).toBe(1);
  });

  it("compiles an inline schema once for a whole batch", async () => {
    const g = grader();
    const samples = Array.from({ length: 50 }, (_, i) =>
      sample(`{"name":"n${i}","age":${i},"email":"e","active":true}`),
    );
    const out = await scoreBatch(g.score, samples, { context: context() });
    expect(out.results.every((r) => r.score === 1)).toBe(true);
    expect(schemaCacheStats().builds).toBe(1);
  });

  it("builds one validator for an item schema shared by many samples, and another for a different one", async () => {
    const g = buildGrader({ type: "json_schema", name: "t", schema: "{{item.schema}}" });
    // Same content with keys in another order: the same validator.
    const reordered = { properties: person.properties, required: person.required, type: "object" };
    const samples = Array.from({ length: 40 }, (_, i) =>
      sample('{"name":"A","age":1,"email":"e","active":true}', { schema: i % 2 ? person : reordered }),
    );
    samples.push(sample('{"x":1}', { schema: { type: "object", required: ["x"] } }));
    const out = await scoreBatch(g.score, samples, { context: context() });
    expect(out.results.map((r) => r.score)).toEqual(Array(41).fill(1));
    expect(schemaCacheStats().builds).toBe(2);
  });

  it("picks the draft from $schema unless the config names one", async () => {
    // Draft 7 ignores the siblings of $ref, so a maxLength that 2020-12 enforces does not apply.
    const schema = { $ref: "#/definitions/s", definitions: { s: { type: "string" } }, maxLength: 2 };
    const d7 = buildGrader({
      type: "json_schema",
      name: "t",
      schema: { $schema: "http://json-schema.org/draft-07/schema#", ...schema },
    });
    const d2020 = buildGrader({ type: "json_schema", name: "t", schema, partial_credit: false });
    const forced = buildGrader({ type: "json_schema", name: "t", schema, draft: "7" });
    expect((await scoreOne(d7.score, sample('"abc"'), context())).score).toBe(1);
    expect((await scoreOne(d2020.score, sample('"abc"'), context())).score).toBe(0);
    expect((await scoreOne(forced.score, sample('"abc"'), context())).score).toBe(1);
  });
});

describe("json_schema format option", () => {
  const event = {
    type: "object",
    required: ["when", "contact"],
    properties: { when: { type: "string", format: "date" }, contact: { type: "string", format: "email" } },
  };

  it("asserts format by default, so a bad date fails and is located", async () => {
    const g = buildGrader({ type: "json_schema", name: "t", schema: event });
    const r = await scoreOne(g.score, sample('{"when":"2024-02-30","contact":"a@example.com"}'), context());
    // The object's type and two fields; "when" meets its type, not its format: (1 + 1/2 + 1) / 3.
    expect(r).toEqual({
      score: 5 / 6,
      valid: true,
      reason: "the JSON does not satisfy the schema (partial credit 0.833): #/when format: is not a valid date",
      metrics: {
        json_parsed: { score: 1 },
        schema_valid: { score: 0 },
        constraints: { score: 5 / 6, reason: "1 of 5 checks failed" },
        "#/when": { score: 0, reason: "format: is not a valid date" },
      },
    });
    const ok = await scoreOne(g.score, sample('{"when":"2024-02-29","contact":"a@example.com"}'), context());
    expect(ok.score).toBe(1);
  });

  it("treats format as an annotation under format: annotate, in partial credit too", async () => {
    const g = buildGrader({ type: "json_schema", name: "t", schema: event, format: "annotate" });
    const r = await scoreOne(g.score, sample('{"when":"not a date","contact":"nobody"}'), context());
    expect(r.score).toBe(1);
    const c = compileSchemaSync(event, { draft: "2020-12", format: "annotate" });
    expect(partialCredit(c, { when: "x", contact: "y" })).toEqual({ score: 1, failures: [], checked: 3, failed: 0 });
  });

  it("refuses a format mode it does not know", () => {
    const out = validateGrader({ type: "json_schema", name: "t", schema: event, format: "strict" });
    expect(out.valid).toBe(false);
  });
});

describe("json_schema validator", () => {
  it("follows $dynamicRef through the dynamic scope, and partial credit locates the failure", () => {
    // The generic list's items are whatever the extending schema's "item" anchor says: strings here.
    const list = {
      $id: "https://schemas.test/strings.json",
      $ref: "list.json",
      $defs: {
        list: {
          $id: "list.json",
          type: "array",
          items: { $dynamicRef: "#item" },
          $defs: { item: { $dynamicAnchor: "item" } },
        },
        item: { $dynamicAnchor: "item", type: "string" },
      },
    };
    const c = compileSchemaSync(list, { draft: "2020-12" });
    expect(c.validate(["a", "b"]).valid).toBe(true);
    expect(c.validate(["a", 2])).toEqual({
      valid: false,
      errors: [
        {
          keyword: "type",
          keywordLocation: "#/$defs/item/type",
          instanceLocation: "#/1",
          error: "expected string, got integer",
        },
      ],
    });
    const v = verifyDocument(c, ["a", 2], { partialCredit: true });
    expect(v.valid).toBe(false);
    expect(v.score).toBeGreaterThan(0);
    expect(v.score).toBeLessThan(1);
  });

  it("reads a referenced document by the draft its own $schema names", () => {
    // A draft-07 schema $refs the 2020-12 metaschema: $dynamicRef there must still follow the dynamic scope.
    const meta = compileSchemaSync(
      { $schema: "http://json-schema.org/draft-07/schema#", $ref: "https://json-schema.org/draft/2020-12/schema" },
      { draft: "7" },
    );
    expect(meta.validate({ properties: { a: { minLength: 1 } } }).valid).toBe(true);
    expect(meta.validate({ properties: { a: { minLength: -1 } } })).toEqual({
      valid: false,
      errors: [
        {
          keyword: "minimum",
          keywordLocation: "#/$defs/nonNegativeInteger/minimum",
          instanceLocation: "#/properties/a/minLength",
          error: "-1 is less than 0",
        },
      ],
    });
  });

  it('finds equal items for uniqueItems whatever their key order, and tells 1 from true and from "1"', () => {
    const c = compileSchemaSync({ uniqueItems: true }, { draft: "2020-12" });
    expect(c.validate([1, true, "1", null, [1], { a: 1 }]).valid).toBe(true);
    expect(c.validate([{ a: 1, b: [2, { c: 3 }] }, 0, { b: [2, { c: 3 }], a: 1 }])).toEqual({
      valid: false,
      errors: [
        {
          keyword: "uniqueItems",
          keywordLocation: "#/uniqueItems",
          instanceLocation: "#",
          error: "items 0 and 2 are equal",
        },
      ],
    });
    expect(c.validate([1, 1.0]).valid).toBe(false);
  });

  it("counts string lengths in code points", () => {
    const c = compileSchemaSync({ type: "string", maxLength: 2 }, { draft: "2020-12" });
    expect(c.validate("\u{1F600}\u{1F600}").valid).toBe(true);
    expect(c.validate("abc").valid).toBe(false);
  });

  it("reports a $ref loop that never reaches the instance as invalid, not a crash", () => {
    const c = compileSchemaSync(
      { $defs: { a: { $ref: "#/$defs/b" }, b: { $ref: "#/$defs/a" } }, $ref: "#/$defs/a" },
      { draft: "2020-12" },
    );
    const r = c.validate(1);
    expect(r.valid).toBe(false);
    expect(r.errors[0]!.error).toContain("recursion too deep");
  });

  it("validates a schema against the built-in 2020-12 metaschema", () => {
    const meta = compileSchemaSync({ $ref: "https://json-schema.org/draft/2020-12/schema" }, { draft: "2020-12" });
    expect(meta.validate({ type: "object", properties: { a: { minLength: 1 } } }).valid).toBe(true);
    expect(meta.validate({ properties: { a: { minLength: -1 } } }).valid).toBe(false);
  });
});

describe("json_schema grader config", () => {
  it("reports a broken inline schema with the path of the bad keyword", () => {
    const out = validateGrader({
      type: "json_schema",
      name: "t",
      schema: { type: "object", properties: { age: { type: "integer", minimum: "zero" }, tag: { pattern: "(" } } },
    });
    expect(out.valid).toBe(false);
    expect(out.errors).toEqual([
      { path: ["schema", "properties", "age", "minimum"], message: "minimum must be a number" },
      {
        path: ["schema", "properties", "tag", "pattern"],
        message: expect.stringMatching(/^pattern does not compile: /),
      },
    ]);
  });

  it("reports a $ref inside the schema that resolves nowhere", () => {
    const out = validateGrader({ type: "json_schema", name: "t", schema: { $ref: "#/$defs/missing" } });
    expect(out).toEqual({
      valid: false,
      errors: [
        {
          path: ["schema", "$ref"],
          message: '$ref "#/$defs/missing" does not resolve',
        },
      ],
    });
  });

  it("accepts a $ref to a registered schema, which is resolved when scoring", () => {
    expect(validateGrader({ type: "json_schema", name: "t", schema: { $ref: "https://schemas.test/x.json" } })).toEqual(
      {
        valid: true,
        errors: [],
      },
    );
  });

  it("refuses unknown template references and non-template strings", () => {
    expect(validateGrader({ type: "json_schema", name: "t", schema: "{{itme.schema}}" }).errors).toEqual([
      { path: ["schema"], message: "unknown template reference {{itme.schema}}" },
    ]);
    expect(validateGrader({ type: "json_schema", name: "t", schema: "person" }).errors).toEqual([
      { path: ["schema"], message: "schema must be an object, JSON text or a template such as {{item.schema}}" },
    ]);
    expect(() => buildGrader({ type: "json_schema", name: "t", schema: person, draft: "4" })).toThrow(
      GraderConfigError,
    );
  });
});

describe("partial credit", () => {
  const score = (schema: unknown, doc: unknown) =>
    verifyDocument(compileSchemaSync(schema, { draft: "2020-12" }), doc, { partialCredit: true }).score;

  it("weighs each field of an object equally, whatever its depth", () => {
    const schema = {
      type: "object",
      required: ["a", "b"],
      properties: {
        a: { type: "string" },
        b: {
          type: "object",
          required: ["x", "y", "z"],
          properties: { x: { type: "number" }, y: { type: "number" }, z: { type: "number" } },
        },
      },
    };
    // b is an object with one of its three fields wrong: b scores 3/4, the root (type, a, b) 1, 1, 3/4.
    expect(score(schema, { a: "s", b: { x: 1, y: 2, z: "3" } })).toBeCloseTo((1 + 1 + 3 / 4) / 3, 10);
    // Omitting b entirely scores lower than attempting it.
    expect(score(schema, { a: "s" })).toBeCloseTo(2 / 3, 10);
  });

  it("scores the items of an array as one group, by their mean", () => {
    const schema = { type: "array", minItems: 1, items: { type: "integer" } };
    expect(score(schema, [1, 2, "3", 4])).toBeCloseTo((1 + 1 + 3 / 4) / 3, 10);
  });

  it("credits anyOf and oneOf by their closest branch", () => {
    const schema = {
      oneOf: [
        {
          type: "object",
          required: ["kind", "radius"],
          properties: { kind: { const: "circle" }, radius: { type: "number" } },
        },
        {
          type: "object",
          required: ["kind", "side"],
          properties: { kind: { const: "square" }, side: { type: "number" } },
        },
      ],
    };
    expect(score(schema, { kind: "circle", radius: 1 })).toBe(1);
    expect(score(schema, { kind: "circle", radius: "big" })).toBeCloseTo(2 / 3, 10);
  });

  it("counts each extra property against additionalProperties: false", () => {
    const schema = { type: "object", properties: { a: { type: "integer" } }, additionalProperties: false };
    const c = compileSchemaSync(schema, { draft: "2020-12" });
    const p = partialCredit(c, { a: 1, b: 2, c: 3 });
    expect(p.score).toBeCloseTo(2 / 4, 10);
    expect(p.failures.map((f) => f.instancePath)).toEqual(["/b", "/c"]);
  });

  it("never gives 1 to a document the validator rejects", () => {
    // $dynamicRef is outside the walker; the validator still decides.
    const schema = { type: "string", not: { const: "x" } };
    const v = verifyDocument(compileSchemaSync(schema, { draft: "2020-12" }), "x", { partialCredit: true });
    expect(v.valid).toBe(false);
    expect(v.score).toBeLessThan(1);
    expect(v.failures).toEqual([
      { instancePath: "", schemaPath: "/not", keyword: "not", message: "the value matches the schema under not" },
    ]);
  });
});

describe("registered schemas", () => {
  const address = {
    $id: "https://schemas.test/address.json",
    type: "object",
    required: ["city"],
    properties: { city: { type: "string" } },
  };
  const order = {
    type: "object",
    required: ["ship_to"],
    properties: { ship_to: { $ref: "https://schemas.test/address.json" } },
  };

  it("resolves a $ref to a registered schema through the store on ctx.services", async () => {
    const bucket = memoryBucket();
    expect((await registerSchema(bucket, address.$id, address)).status).toBe("created");
    const g = buildGrader({ type: "json_schema", name: "order", schema: order });
    const services = { jsonSchemas: bucketSchemaStore(bucket) };
    expect((await scoreOne(g.score, sample('{"ship_to":{"city":"Oslo"}}'), context(services))).score).toBe(1);
    const bad = await scoreOne(g.score, sample('{"ship_to":{"city":7}}'), context(services));
    expect(bad.metrics?.["#/ship_to/city"]).toEqual({ score: 0, reason: "type: expected string, got integer" });
  });

  it("is an evaluator error when the referenced schema is not registered", async () => {
    const g = buildGrader({ type: "json_schema", name: "order", schema: order });
    const r = await scoreOne(
      g.score,
      sample('{"ship_to":{}}'),
      context({ jsonSchemas: bucketSchemaStore(memoryBucket()) }),
    );
    expect(r).toMatchObject({ valid: false, error: { code: "INVALID_INPUT" } });
    expect(r.error?.message).toContain(
      "$ref to https://schemas.test/address.json, which is neither defined in the schema nor registered",
    );
  });

  it("keys validators on the registered schemas' content too", () => {
    const v1: RegisteredSchema = { id: address.$id, sha256: contentHash(address), schema: address };
    const changed = { ...address, required: [] };
    const v2: RegisteredSchema = { id: address.$id, sha256: contentHash(changed), schema: changed };
    const a = compileSchemaSync(order, { draft: "2020-12", registered: new Map([[v1.id, v1]]) });
    const b = compileSchemaSync(order, { draft: "2020-12", registered: new Map([[v2.id, v2]]) });
    expect(a.key).not.toBe(b.key);
    expect(a.validate({ ship_to: {} }).valid).toBe(false);
    expect(b.validate({ ship_to: {} }).valid).toBe(true);
    expect(schemaCacheStats().builds).toBe(2);
  });

  it("registers idempotently and refuses new content under a taken $id", async () => {
    const bucket = memoryBucket();
    expect((await registerSchema(bucket, address.$id, address)).status).toBe("created");
    const reordered = Object.fromEntries(Object.entries(address).reverse());
    expect((await registerSchema(bucket, address.$id, reordered)).status).toBe("unchanged");
    const out = await registerSchema(bucket, address.$id, { ...address, required: [] });
    expect(out).toMatchObject({ status: "conflict", info: { id: address.$id, sha256: contentHash(address) } });
    expect(bucket.objects.size).toBe(1);
  });

  it("normalizes $id and refuses ids that cannot name a schema", () => {
    expect(normalizeSchemaId("HTTPS://Schemas.Test/a.json#")).toEqual({ ok: true, id: "https://schemas.test/a.json" });
    expect(normalizeSchemaId("urn:uuid:1234")).toEqual({ ok: true, id: "urn:uuid:1234" });
    expect(normalizeSchemaId("a.json")).toEqual({ ok: false, message: '$id "a.json" is not an absolute URI' });
    expect(normalizeSchemaId("https://x.test/a#frag")).toEqual({
      ok: false,
      message: '$id "https://x.test/a#frag" must not have a fragment',
    });
    expect(normalizeSchemaId(undefined)).toEqual({ ok: false, message: "the schema needs a string $id" });
  });
});
