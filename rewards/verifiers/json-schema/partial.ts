import type { CompiledSchema } from "./compile";
import { FORMATS } from "./formats";
import { encodePointer } from "./uri";
import { codePointLength, deepEqual, firstDuplicate, isMultipleOf, kindOf } from "./values";

type Schema = Record<string, any>;

/**
 * Partial credit: how much of a schema a document satisfies. See README.md beside this file for the
 * definition; in short:
 *
 * - A *constraint* is one check made at one instance location: an assertion keyword that applies to the
 *   value's type (`type`, `enum`, `const`, `minimum`, `pattern`, `format`, `minItems`, `uniqueItems`,
 *   `minProperties`, `contains`, `not`, a `dependentRequired` pair, ...), scored 1 or 0; or a *field*:
 *   each property named by `required` or present in the document and covered by `properties`,
 *   `patternProperties` or `additionalProperties`, and each tuple position (`prefixItems`, array
 *   `items`), scored by its own subschema (0 when a required property is missing); or an *item group*
 *   (`items`, `additionalItems`, `unevaluatedItems`, `propertyNames`) scored by the mean over the values.
 *   `anyOf`/`oneOf` are one constraint scored by their best branch.
 * - In-place applicators (`allOf`, `$ref`, `then`/`else`, `dependentSchemas`) add their constraints to
 *   the location they apply at, as if written inline.
 * - A location's score is the mean of its constraints' scores (1 when it has none).
 *
 * So each field of an object weighs the same within that object whatever its own depth: an object with
 * four required properties, one of the wrong type, scores 4/5 (the object's `type` plus four fields).
 */

export interface Failure {
  /** JSON pointer to the failing value in the document ("" is the whole document). */
  instancePath: string;
  /** JSON pointer to the keyword in the schema. */
  schemaPath: string;
  keyword: string;
  message: string;
}

export interface PartialResult {
  score: number;
  failures: Failure[];
  /** Leaf checks made and failed (unweighted), for reporting. */
  checked: number;
  failed: number;
}

/** Work units (keyword checks) one document may cost before partial credit gives up. */
export const PARTIAL_BUDGET = 200_000;

export class PartialBudgetExceeded extends Error {}

interface Acc {
  units: number[];
  failures: Failure[];
  props: Set<string>;
  items: Set<number>;
}

interface Evaluation {
  score: number;
  failures: Failure[];
  props: Set<string>;
  items: Set<number>;
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

const hasOwn = (o: object, k: string) => Object.hasOwn(o, k);

function typeMatches(type: unknown, v: unknown): boolean {
  const k = kindOf(v);
  const one = (t: unknown) => t === k || (t === "number" && k === "integer");
  return Array.isArray(type) ? type.some(one) : one(type);
}

const short = (v: unknown) => {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
};

const mean = (xs: number[]) => (xs.length ? xs.reduce((s, x) => s + x, 0) / xs.length : 1);

class Walker {
  private work = 0;
  private readonly regexes = new Map<string, RegExp>();
  checked = 0;
  failed = 0;

  private readonly draft: CompiledSchema["draft"];

  constructor(private readonly compiled: CompiledSchema) {
    this.draft = compiled.draft;
  }

  private regex(source: string) {
    let re = this.regexes.get(source);
    if (!re) {
      re = new RegExp(source, "u");
      this.regexes.set(source, re);
    }
    return re;
  }

  /** Evaluates a schema at one location, as a fresh location with its own constraints. */
  evaluate(schema: unknown, v: unknown, ip: string, sp: string, depth: number): Evaluation {
    const acc: Acc = { units: [], failures: [], props: new Set(), items: new Set() };
    this.apply(schema, v, ip, sp, acc, depth);
    return { score: mean(acc.units), failures: acc.failures, props: acc.props, items: acc.items };
  }

  private check(acc: Acc, ok: boolean, ip: string, sp: string, keyword: string, message: () => string) {
    this.checked++;
    acc.units.push(ok ? 1 : 0);
    if (!ok) {
      this.failed++;
      acc.failures.push({ instancePath: ip, schemaPath: `${sp}/${keyword}`, keyword, message: message() });
    }
  }

  /** A constraint scored by sub-evaluations (a field, an item group); their failures become ours. */
  private unit(acc: Acc, score: number, failures: Failure[]) {
    acc.units.push(score);
    for (const f of failures) acc.failures.push(f);
  }

  /** Adds the constraints of `schema` at this location to `acc` (in-place application). */
  private apply(schema: unknown, v: unknown, ip: string, sp: string, acc: Acc, depth: number): void {
    if (++this.work > PARTIAL_BUDGET || depth > 200) throw new PartialBudgetExceeded();
    if (schema === true || schema === undefined) return;
    if (schema === false) {
      this.check(acc, false, ip, sp, "false", () => "no value is allowed here (false schema)");
      return;
    }
    if (schema === null || typeof schema !== "object") return;
    const s = schema as Schema;

    // Static targets: partial credit reads $recursiveRef/$dynamicRef as plain $refs (the verdict does not).
    for (const kw of ["$ref", "$recursiveRef", "$dynamicRef"]) {
      if (typeof s[kw] !== "string") continue;
      this.apply(this.compiled.resolve(s, kw), v, ip, `${sp}/${kw}`, acc, depth + 1);
      if (kw === "$ref" && (this.draft === "4" || this.draft === "7")) return;
    }

    if (s.type !== undefined) {
      this.check(
        acc,
        typeMatches(s.type, v),
        ip,
        sp,
        "type",
        () => `expected ${[s.type].flat().join(" or ")}, got ${kindOf(v)}`,
      );
    }
    if (s.const !== undefined) {
      this.check(acc, deepEqual(v, s.const), ip, sp, "const", () => `expected ${short(s.const)}, got ${short(v)}`);
    }
    if (Array.isArray(s.enum)) {
      this.check(
        acc,
        s.enum.some((e) => deepEqual(v, e)),
        ip,
        sp,
        "enum",
        () => `${short(v)} is not one of ${short(s.enum)}`,
      );
    }
    if (s.not !== undefined) {
      const r = this.evaluate(s.not, v, ip, `${sp}/not`, depth + 1);
      this.check(acc, r.failures.length > 0, ip, sp, "not", () => "the value matches the schema under not");
    }
    if (Array.isArray(s.allOf)) {
      for (const [i, b] of s.allOf.entries()) this.apply(b, v, ip, `${sp}/allOf/${i}`, acc, depth + 1);
    }
    if (Array.isArray(s.anyOf)) this.choice(s.anyOf, "anyOf", v, ip, sp, acc, depth);
    if (Array.isArray(s.oneOf)) this.choice(s.oneOf, "oneOf", v, ip, sp, acc, depth);
    if (s.if !== undefined) {
      const cond = this.evaluate(s.if, v, ip, `${sp}/if`, depth + 1);
      if (cond.failures.length === 0) {
        for (const p of cond.props) acc.props.add(p);
        for (const i of cond.items) acc.items.add(i);
        if (s.then !== undefined) this.apply(s.then, v, ip, `${sp}/then`, acc, depth + 1);
      } else if (s.else !== undefined) this.apply(s.else, v, ip, `${sp}/else`, acc, depth + 1);
    }

    const k = kindOf(v);
    if (k === "object") this.object(s, v as Record<string, Json>, ip, sp, acc, depth);
    else if (k === "array") this.array(s, v as Json[], ip, sp, acc, depth);
    else if (k === "integer" || k === "number") this.number(s, v as number, ip, sp, acc);
    else if (k === "string") this.string(s, v as string, ip, sp, acc);
  }

  /** anyOf / oneOf: one constraint, scored by the best branch (1 when the rule is met). */
  private choice(
    branches: unknown[],
    kw: "anyOf" | "oneOf",
    v: unknown,
    ip: string,
    sp: string,
    acc: Acc,
    depth: number,
  ) {
    const results = branches.map((b, i) => this.evaluate(b, v, ip, `${sp}/${kw}/${i}`, depth + 1));
    const passing = results.filter((r) => r.failures.length === 0);
    for (const r of passing) {
      for (const p of r.props) acc.props.add(p);
      for (const i of r.items) acc.items.add(i);
    }
    if (kw === "oneOf" && passing.length > 1) {
      this.check(
        acc,
        false,
        ip,
        sp,
        kw,
        () => `the value matches ${passing.length} branches of oneOf, not exactly one`,
      );
      return;
    }
    this.checked++;
    if (passing.length > 0) {
      acc.units.push(1);
      return;
    }
    this.failed++;
    const best = results.reduce((a, b) => (b.score > a.score ? b : a));
    this.unit(acc, best.score, best.failures);
  }

  private object(s: Schema, o: Record<string, Json>, ip: string, sp: string, acc: Acc, depth: number) {
    const keys = Object.keys(o);
    const at = (key: string) => `${ip}/${encodePointer(key)}`;
    if (s.minProperties !== undefined) {
      this.check(
        acc,
        keys.length >= s.minProperties,
        ip,
        sp,
        "minProperties",
        () => `has ${keys.length} properties, fewer than ${s.minProperties}`,
      );
    }
    if (s.maxProperties !== undefined) {
      this.check(
        acc,
        keys.length <= s.maxProperties,
        ip,
        sp,
        "maxProperties",
        () => `has ${keys.length} properties, more than ${s.maxProperties}`,
      );
    }
    if (s.propertyNames !== undefined && keys.length) {
      const rs = keys.map((key) => this.evaluate(s.propertyNames, key, at(key), `${sp}/propertyNames`, depth + 1));
      this.unit(
        acc,
        mean(rs.map((r) => r.score)),
        rs.flatMap((r) => r.failures),
      );
    }
    const dependentRequired = s.dependentRequired as Record<string, string[]> | undefined;
    if (dependentRequired) {
      for (const [key, needs] of Object.entries(dependentRequired)) {
        if (!hasOwn(o, key)) continue;
        for (const n of needs)
          this.check(acc, hasOwn(o, n), at(n), sp, "dependentRequired", () => `required because "${key}" is present`);
      }
    }
    const dependentSchemas = s.dependentSchemas as Record<string, unknown> | undefined;
    if (dependentSchemas) {
      for (const [key, sub] of Object.entries(dependentSchemas)) {
        if (hasOwn(o, key)) this.apply(sub, o, ip, `${sp}/dependentSchemas/${encodePointer(key)}`, acc, depth + 1);
      }
    }
    const dependencies = s.dependencies as Record<string, unknown> | undefined;
    if (dependencies) {
      for (const [key, dep] of Object.entries(dependencies)) {
        if (!hasOwn(o, key)) continue;
        if (Array.isArray(dep)) {
          for (const n of dep)
            this.check(acc, hasOwn(o, n), at(n), sp, "dependencies", () => `required because "${key}" is present`);
        } else this.apply(dep, o, ip, `${sp}/dependencies/${encodePointer(key)}`, acc, depth + 1);
      }
    }

    // Fields: each required or covered property is one constraint, scored by its subschemas.
    const required = new Set(Array.isArray(s.required) ? s.required : []);
    const properties = s.properties as Record<string, unknown> | undefined;
    const patterns = s.patternProperties ? Object.entries(s.patternProperties as Record<string, unknown>) : [];
    for (const name of required) {
      if (!hasOwn(o, name)) {
        this.check(acc, false, at(name), sp, "required", () => "required property is missing");
      }
    }
    for (const key of keys) {
      const subs: [unknown, string][] = [];
      if (properties && hasOwn(properties, key)) subs.push([properties[key], `${sp}/properties/${encodePointer(key)}`]);
      for (const [p, sub] of patterns) {
        if (this.regex(p).test(key)) subs.push([sub, `${sp}/patternProperties/${encodePointer(p)}`]);
      }
      if (subs.length === 0 && s.additionalProperties !== undefined) {
        subs.push([s.additionalProperties, `${sp}/additionalProperties`]);
      }
      if (subs.length === 0) {
        if (required.has(key)) {
          this.checked++;
          acc.units.push(1);
        }
        continue;
      }
      acc.props.add(key);
      const rs = subs.map(([sub, path]) => this.evaluate(sub, o[key], at(key), path, depth + 1));
      this.unit(
        acc,
        mean(rs.map((r) => r.score)),
        rs.flatMap((r) => r.failures),
      );
    }
    if (s.unevaluatedProperties !== undefined && s.additionalProperties === undefined) {
      for (const key of keys) {
        if (acc.props.has(key)) continue;
        const r = this.evaluate(s.unevaluatedProperties, o[key], at(key), `${sp}/unevaluatedProperties`, depth + 1);
        acc.props.add(key);
        this.unit(acc, r.score, r.failures);
      }
    }
  }

  private array(s: Schema, a: Json[], ip: string, sp: string, acc: Acc, depth: number) {
    if (s.minItems !== undefined) {
      this.check(
        acc,
        a.length >= s.minItems,
        ip,
        sp,
        "minItems",
        () => `has ${a.length} items, fewer than ${s.minItems}`,
      );
    }
    if (s.maxItems !== undefined) {
      this.check(
        acc,
        a.length <= s.maxItems,
        ip,
        sp,
        "maxItems",
        () => `has ${a.length} items, more than ${s.maxItems}`,
      );
    }
    if (s.uniqueItems === true) {
      const dup = firstDuplicate(a);
      this.check(acc, dup === null, ip, sp, "uniqueItems", () => `items ${dup![0]} and ${dup![1]} are equal`);
    }
    // Tuple positions are fields; the rest of the items form one group scored by their mean.
    const tuple = Array.isArray(s.prefixItems) ? s.prefixItems : Array.isArray(s.items) ? s.items : null;
    const tupleKw = Array.isArray(s.prefixItems) ? "prefixItems" : "items";
    let i = 0;
    if (tuple) {
      for (; i < Math.min(tuple.length, a.length); i++) {
        const r = this.evaluate(tuple[i], a[i], `${ip}/${i}`, `${sp}/${tupleKw}/${i}`, depth + 1);
        acc.items.add(i);
        this.unit(acc, r.score, r.failures);
      }
    }
    const rest =
      s.items !== undefined && !Array.isArray(s.items)
        ? { kw: "items", sub: s.items }
        : Array.isArray(s.items) && s.additionalItems !== undefined
          ? { kw: "additionalItems", sub: s.additionalItems }
          : null;
    if (rest && i < a.length) {
      const rs: Evaluation[] = [];
      for (let j = i; j < a.length; j++) {
        rs.push(this.evaluate(rest.sub, a[j], `${ip}/${j}`, `${sp}/${rest.kw}`, depth + 1));
        acc.items.add(j);
      }
      this.unit(
        acc,
        mean(rs.map((r) => r.score)),
        rs.flatMap((r) => r.failures),
      );
    }
    if (s.contains !== undefined) {
      const min = typeof s.minContains === "number" ? s.minContains : 1;
      const max = typeof s.maxContains === "number" ? s.maxContains : Number.POSITIVE_INFINITY;
      let matched = 0;
      a.forEach((x, j) => {
        if (this.evaluate(s.contains, x, `${ip}/${j}`, `${sp}/contains`, depth + 1).failures.length === 0) {
          matched++;
          acc.items.add(j);
        }
      });
      this.check(acc, matched >= min && matched <= max, ip, sp, "contains", () =>
        matched < min
          ? `${matched} items match contains, fewer than ${min}`
          : `${matched} items match contains, more than ${max}`,
      );
    }
    if (s.unevaluatedItems !== undefined) {
      const rs: Evaluation[] = [];
      for (let j = 0; j < a.length; j++) {
        if (!acc.items.has(j))
          rs.push(this.evaluate(s.unevaluatedItems, a[j], `${ip}/${j}`, `${sp}/unevaluatedItems`, depth + 1));
      }
      if (rs.length)
        this.unit(
          acc,
          mean(rs.map((r) => r.score)),
          rs.flatMap((r) => r.failures),
        );
    }
  }

  private number(s: Schema, n: number, ip: string, sp: string, acc: Acc) {
    const exMin = s.exclusiveMinimum;
    const exMax = s.exclusiveMaximum;
    if (typeof s.minimum === "number") {
      const ok = exMin === true ? n > s.minimum : n >= s.minimum;
      this.check(
        acc,
        ok,
        ip,
        sp,
        "minimum",
        () => `${n} is less than ${exMin === true ? "or equal to " : ""}${s.minimum}`,
      );
    }
    if (typeof s.maximum === "number") {
      const ok = exMax === true ? n < s.maximum : n <= s.maximum;
      this.check(
        acc,
        ok,
        ip,
        sp,
        "maximum",
        () => `${n} is greater than ${exMax === true ? "or equal to " : ""}${s.maximum}`,
      );
    }
    if (typeof exMin === "number") {
      this.check(acc, n > exMin, ip, sp, "exclusiveMinimum", () => `${n} is not greater than ${exMin}`);
    }
    if (typeof exMax === "number") {
      this.check(acc, n < exMax, ip, sp, "exclusiveMaximum", () => `${n} is not less than ${exMax}`);
    }
    if (typeof s.multipleOf === "number") {
      // The validator's own arithmetic, so the two never disagree on 0.1-style divisors.
      const ok = isMultipleOf(n, s.multipleOf);
      this.check(acc, ok, ip, sp, "multipleOf", () => `${n} is not a multiple of ${s.multipleOf}`);
    }
  }

  private string(s: Schema, str: string, ip: string, sp: string, acc: Acc) {
    const needLength = s.minLength !== undefined || s.maxLength !== undefined;
    const len = needLength ? codePointLength(str) : 0;
    if (s.minLength !== undefined) {
      this.check(
        acc,
        len >= s.minLength,
        ip,
        sp,
        "minLength",
        () => `is ${len} characters, shorter than ${s.minLength}`,
      );
    }
    if (s.maxLength !== undefined) {
      this.check(
        acc,
        len <= s.maxLength,
        ip,
        sp,
        "maxLength",
        () => `is ${len} characters, longer than ${s.maxLength}`,
      );
    }
    if (typeof s.pattern === "string") {
      this.check(acc, this.regex(s.pattern).test(str), ip, sp, "pattern", () => `does not match /${s.pattern}/`);
    }
    const f = typeof s.format === "string" && this.compiled.format === "assert" ? FORMATS[s.format] : undefined;
    if (f) {
      this.check(acc, f(str), ip, sp, "format", () => `is not a valid ${s.format}`);
    }
  }
}

/**
 * Scores how much of `compiled`'s schema a document satisfies, in [0, 1]. Throws PartialBudgetExceeded
 * when the document and schema together need more than PARTIAL_BUDGET checks.
 */
export function partialCredit(compiled: CompiledSchema, instance: unknown): PartialResult {
  const w = new Walker(compiled);
  const r = w.evaluate(compiled.root, instance, "", "", 0);
  return { score: r.score, failures: r.failures, checked: w.checked, failed: w.failed };
}
