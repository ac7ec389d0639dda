/**
 * A JSON Schema interpreter (draft 4/7, 2019-09, 2020-12) without code generation, since workerd forbids
 * eval and new Function. Each schema object is turned once into a node holding its keyword checks as
 * closures; `$ref`s are linked to their target nodes at build time, `$dynamicRef`/`$recursiveRef` look
 * the dynamic scope (the schema resources entered on the way to the current location) up at run time.
 * Annotations for `unevaluatedProperties`/`unevaluatedItems` are collected only when the schema uses
 * one of them somewhere, and only for object and array instances.
 *
 * The pieces: schema-index.ts (resources, anchors, where each `$ref` points), nodes.ts (the compiled form
 * and one evaluation's state), keywords-*.ts (the keywords on strings and numbers, objects, arrays),
 * values.ts (equality, types and lengths of instance values). This file builds the nodes: references,
 * the any-type validation keywords and the in-place applicators, and runs an evaluation.
 */

import { arrayKeywords } from "./keywords-arrays";
import { objectKeywords } from "./keywords-objects";
import { numberKeywords, stringKeywords } from "./keywords-scalars";
import {
  type Ann,
  type Builder,
  Ctx,
  EvaluationLimit,
  MAX_EVAL_DEPTH,
  MAX_EVAL_STEPS,
  mergeAnn,
  type Node,
  newAnn,
  type OutputUnit,
  TOO_DEEP,
  type ValidatorOptions,
  type Vocab,
} from "./nodes";
import { isObj, type SchemaIndex } from "./schema-index";
import { splitFragment } from "./uri";
import { bitsOf, deepEqual, kindOf, short, TYPE_BITS } from "./values";

export {
  EvaluationLimit,
  type FormatMode,
  MAX_EVAL_DEPTH,
  MAX_EVAL_STEPS,
  type OutputUnit,
  type ValidatorOptions,
} from "./nodes";
export { type SchemaDraft, SchemaIndex, type UnresolvedRef } from "./schema-index";
export { codePointLength, deepEqual, firstDuplicate, isMultipleOf, kindOf } from "./values";

/** Builds nodes from an index and evaluates instances against them. */
export class Validator implements Builder {
  private readonly nodes = new Map<object, Node>();
  private readonly track: boolean;
  readonly root: Node;

  constructor(
    readonly index: SchemaIndex,
    rootSchema: unknown,
    readonly opts: ValidatorOptions,
  ) {
    this.track = index.usesUnevaluated;
    this.root = this.node(rootSchema, "");
  }

  on(v: Vocab) {
    return !this.opts.vocabularies || this.opts.vocabularies.has(v);
  }

  validate(instance: unknown): { valid: boolean; errors: OutputUnit[] } {
    const c = new Ctx();
    let valid: boolean;
    try {
      valid = this.evaluate(this.root, instance, c, this.annFor(instance));
    } catch (err) {
      if (!(err instanceof EvaluationLimit) && !(err instanceof RangeError)) throw err;
      // A schema that loops ($ref chains that never reach the instance) or explodes combinatorially.
      const error = err instanceof EvaluationLimit ? err.message : TOO_DEEP;
      c.errors = [{ keyword: "$ref", keywordLocation: "#", instanceLocation: "#", error }];
      valid = false;
    }
    return { valid, errors: c.errors };
  }

  annFor(v: unknown): Ann | null {
    return this.track && v !== null && typeof v === "object" ? newAnn() : null;
  }

  evaluate(node: Node, v: unknown, c: Ctx, ann: Ann | null): boolean {
    if (node.bool !== null) return node.bool || c.fail(node, "false", "no value is allowed here (false schema)");
    if (++c.steps > MAX_EVAL_STEPS) throw new EvaluationLimit("validation exceeded its work budget");
    if (++c.depth > MAX_EVAL_DEPTH) throw new EvaluationLimit(TOO_DEEP);
    const pushed = node.res !== c.scope[c.scope.length - 1];
    if (pushed) c.scope.push(node.res);
    let ok = true;
    for (const check of node.any) {
      if (!check(v, c, ann)) {
        ok = false;
        break;
      }
    }
    if (ok) {
      const typed =
        typeof v === "string"
          ? node.str
          : typeof v === "number"
            ? node.num
            : v === null || typeof v !== "object"
              ? null
              : Array.isArray(v)
                ? node.arr
                : node.obj;
      if (typed) {
        for (const check of typed) {
          if (!check(v, c, ann)) {
            ok = false;
            break;
          }
        }
      }
    }
    if (pushed) c.scope.pop();
    c.depth--;
    return ok;
  }

  /** In-place application where failure fails the caller (allOf, $ref): annotations go straight up. */
  inPlace(node: Node, v: unknown, c: Ctx, ann: Ann | null): boolean {
    if (ann === null || !node.readsAnn) return this.evaluate(node, v, c, ann);
    const own = newAnn();
    const ok = this.evaluate(node, v, c, own);
    if (ok) mergeAnn(ann, own);
    return ok;
  }

  /** A branch whose failure the caller may survive (anyOf, oneOf, if, not): its own annotations and errors. */
  private branch(node: Node, v: unknown, c: Ctx, ann: Ann | null): { ok: boolean; ann: Ann | null } {
    const own = ann === null ? null : newAnn();
    return { ok: this.evaluate(node, v, c, own), ann: own };
  }

  /** Evaluates a child value (a property, an item) under its own path segment and annotations. */
  child(node: Node, v: unknown, seg: string, c: Ctx): boolean {
    c.path.push(seg);
    const ok = this.evaluate(node, v, c, this.annFor(v));
    c.path.pop();
    return ok;
  }

  node(schema: unknown, loc: string): Node {
    if (typeof schema === "boolean" || !isObj(schema)) {
      return { bool: schema !== false, res: null, loc, any: [], str: [], num: [], obj: [], arr: [], readsAnn: false };
    }
    if ("__boolean__" in schema) return this.node((schema as { __boolean__: boolean }).__boolean__, loc);
    const hit = this.nodes.get(schema);
    if (hit) return hit;
    const info = this.index.info.get(schema);
    const n: Node = {
      bool: null,
      res: info?.resource ?? null,
      loc: info?.loc ?? loc,
      any: [],
      str: [],
      num: [],
      obj: [],
      arr: [],
      readsAnn: false,
    };
    this.nodes.set(schema, n);
    this.build(n, schema);
    return n;
  }

  private target(schema: object, keyword: string): unknown {
    const t = this.index.refTargets.get(schema)?.[keyword];
    return t === undefined ? undefined : this.index.locate(t);
  }

  private build(n: Node, s: Record<string, unknown>) {
    const draft = n.res?.draft ?? this.opts.draft;
    const legacy = draft === "4" || draft === "7";
    const modern = !legacy;
    const sub = (v: unknown, path: string) => this.node(v, `${n.loc}${path}`);

    // --- references ---
    if (typeof s.$ref === "string") {
      const t = this.node(this.target(s, "$ref"), `${n.loc}/$ref`);
      n.any.push((v, c, ann) => this.inPlace(t, v, c, ann));
      if (legacy) return; // drafts 4 and 7: $ref overrides its siblings
    }
    if (draft === "2019-09" && typeof s.$recursiveRef === "string") this.recursiveRef(n, s);
    if (draft === "2020-12" && typeof s.$dynamicRef === "string") this.dynamicRef(n, s);

    const validation = this.on("validation");
    const applicator = this.on("applicator");

    // --- validation, any type ---
    if (validation) {
      if (s.type !== undefined) {
        const names = (Array.isArray(s.type) ? s.type : [s.type]) as string[];
        const mask = names.reduce((m, t) => m | (TYPE_BITS[t] ?? 0), 0);
        const expected = names.join(" or ");
        n.any.push((v, c) => (bitsOf(v) & mask) !== 0 || c.fail(n, "type", `expected ${expected}, got ${kindOf(v)}`));
      }
      if ("const" in s && (modern || draft === "7")) {
        const k = s.const;
        n.any.push((v, c) => deepEqual(v, k) || c.fail(n, "const", `expected ${short(k)}, got ${short(v)}`));
      }
      if (Array.isArray(s.enum)) {
        const e = s.enum;
        n.any.push(
          (v, c) => e.some((x) => deepEqual(v, x)) || c.fail(n, "enum", `${short(v)} is not one of ${short(e)}`),
        );
      }
    }

    // --- in-place applicators ---
    if (applicator) {
      if (Array.isArray(s.allOf)) {
        const bs = s.allOf.map((b, i) => sub(b, `/allOf/${i}`));
        n.any.push((v, c, ann) => {
          for (const b of bs) if (!this.inPlace(b, v, c, ann)) return false;
          return true;
        });
      }
      if (Array.isArray(s.anyOf)) {
        const bs = s.anyOf.map((b, i) => sub(b, `/anyOf/${i}`));
        n.any.push((v, c, ann) => {
          const mark = c.errors.length;
          let ok = false;
          for (const b of bs) {
            const r = this.branch(b, v, c, ann);
            if (r.ok) {
              ok = true;
              if (ann === null) break; // without annotations to collect, one passing branch decides
              mergeAnn(ann, r.ann!);
            }
          }
          if (ok) {
            c.errors.length = mark;
            return true;
          }
          return c.fail(n, "anyOf", "the value matches none of the anyOf branches");
        });
      }
      if (Array.isArray(s.oneOf)) {
        const bs = s.oneOf.map((b, i) => sub(b, `/oneOf/${i}`));
        n.any.push((v, c, ann) => {
          const mark = c.errors.length;
          let passed = 0;
          let won: Ann | null = null;
          for (const b of bs) {
            const r = this.branch(b, v, c, ann);
            if (r.ok && ++passed === 1) won = r.ann;
          }
          if (passed === 1) {
            c.errors.length = mark;
            if (ann && won) mergeAnn(ann, won);
            return true;
          }
          if (passed > 1) {
            c.errors.length = mark;
            return c.fail(n, "oneOf", `the value matches ${passed} branches of oneOf, not exactly one`);
          }
          return c.fail(n, "oneOf", "the value matches none of the oneOf branches");
        });
      }
      if ("not" in s) {
        const b = sub(s.not, "/not");
        n.any.push((v, c, ann) => {
          const mark = c.errors.length;
          const r = this.branch(b, v, c, ann);
          c.errors.length = mark;
          return !r.ok || c.fail(n, "not", "the value matches the schema under not");
        });
      }
      if ("if" in s && (modern || draft === "7")) {
        const cond = sub(s.if, "/if");
        const then = "then" in s ? sub(s.then, "/then") : null;
        const els = "else" in s ? sub(s.else, "/else") : null;
        if (then || els || this.track) {
          n.any.push((v, c, ann) => {
            const mark = c.errors.length;
            const r = this.branch(cond, v, c, ann);
            c.errors.length = mark;
            if (r.ok) {
              if (ann && r.ann) mergeAnn(ann, r.ann);
              return then === null || this.inPlace(then, v, c, ann);
            }
            return els === null || this.inPlace(els, v, c, ann);
          });
        }
      }
    }

    stringKeywords(this, n, s, validation);
    if (validation) numberKeywords(n, s);
    objectKeywords(this, n, s, validation, applicator);
    arrayKeywords(this, n, s, validation, applicator);
  }

  private recursiveRef(n: Node, s: Record<string, unknown>) {
    const staticTarget = this.target(s, "$recursiveRef");
    const t = this.node(staticTarget, `${n.loc}/$recursiveRef`);
    const info = isObj(staticTarget) ? this.index.info.get(staticTarget) : undefined;
    const dynamic = info !== undefined && info.resource.root === staticTarget && info.resource.recursive;
    n.any.push((v, c, ann) => {
      let target = t;
      if (dynamic) {
        // The outermost resource in the dynamic scope that also has $recursiveAnchor: true.
        for (const r of c.scope) {
          if (r?.recursive) {
            target = this.node(r.root, "");
            break;
          }
        }
      }
      return this.inPlace(target, v, c, ann);
    });
  }

  private dynamicRef(n: Node, s: Record<string, unknown>) {
    const ref = s.$dynamicRef as string;
    const staticTarget = this.target(s, "$dynamicRef");
    const t = this.node(staticTarget, `${n.loc}/$dynamicRef`);
    const [, frag] = splitFragment(ref);
    const name = frag && !frag.startsWith("/") ? frag : null;
    const info = isObj(staticTarget) ? this.index.info.get(staticTarget) : undefined;
    // Dynamic only when the static target is itself a $dynamicAnchor of that name (the "bookend").
    const dynamic = name !== null && info !== undefined && info.resource.dynamic.get(name) === staticTarget;
    n.any.push((v, c, ann) => {
      let target = t;
      if (dynamic) {
        for (const r of c.scope) {
          const a = r?.dynamic.get(name!);
          if (a) {
            target = this.node(a, "");
            break;
          }
        }
      }
      return this.inPlace(target, v, c, ann);
    });
  }
}
