import { canonicalJson } from "../../core/canonical";
import { declaredDraft } from "./draft";
import { FORMATS } from "./formats";
import { encodePointer, pointerTokens, resolveUri, splitFragment } from "./uri";

/**
 * A JSON Schema interpreter (draft 4/7, 2019-09, 2020-12) without code generation, since workerd forbids
 * eval and new Function. Each schema object is turned once into a node holding its keyword checks as
 * closures; `$ref`s are linked to their target nodes at build time, `$dynamicRef`/`$recursiveRef` look
 * the dynamic scope (the schema resources entered on the way to the current location) up at run time.
 * Annotations for `unevaluatedProperties`/`unevaluatedItems` are collected only when the schema uses
 * one of them somewhere, and only for object and array instances.
 */

export type SchemaDraft = "4" | "7" | "2019-09" | "2020-12";
export type FormatMode = "assert" | "annotate";

/** One failure: the keyword, where it is in the schema, where the value is in the instance, why. */
export interface OutputUnit {
  keyword: string;
  /** JSON pointer (as a URI fragment, "#/properties/a/type") to the keyword within its document. */
  keywordLocation: string;
  /** JSON pointer (as a URI fragment, "#/a/0") to the failing value. */
  instanceLocation: string;
  error: string;
}

/** Groups of keywords a custom metaschema's `$vocabulary` can switch off. */
type Vocab = "validation" | "applicator" | "unevaluated" | "format" | "format-assertion";

export interface ValidatorOptions {
  draft: SchemaDraft;
  format: FormatMode;
  /** Enabled vocabularies when a custom metaschema declares `$vocabulary`; undefined: all of them. */
  vocabularies?: ReadonlySet<Vocab>;
}

/** Why a schema cannot be built: a `$ref` that resolves nowhere. */
export interface UnresolvedRef {
  /** JSON pointer of the referring subschema within its document. */
  from: string;
  keyword: string;
  ref: string;
  target: string;
}

interface Resource {
  uri: string;
  /** Each resource is read by the draft its own `$schema` names, else the one of the resource around it. */
  draft: SchemaDraft;
  root: object;
  anchors: Map<string, object>;
  dynamic: Map<string, object>;
  recursive: boolean;
}

interface Info {
  resource: Resource;
  /** Pointer within the document it was found in, for keyword locations. */
  loc: string;
}

const SUB_ONE_7 = ["additionalItems", "additionalProperties", "contains", "propertyNames", "not", "if", "then", "else"];
const SUB_ONE_2019 = [...SUB_ONE_7, "unevaluatedItems", "unevaluatedProperties", "contentSchema"];
const SUB_ARRAY = ["allOf", "anyOf", "oneOf"];
const SUB_MAP_7 = ["properties", "patternProperties", "definitions"];
const SUB_MAP_2019 = [...SUB_MAP_7, "$defs", "dependentSchemas"];

const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);

/** The schema resources, anchors and refs of a set of documents (the schema and what it reaches). */
export class SchemaIndex {
  readonly resources = new Map<string, Resource>();
  readonly info = new Map<object, Info>();
  readonly refs: { schema: object; keyword: string; ref: string; target: string; from: string }[] = [];
  /** Absolute target of each reference keyword, by referring schema object. */
  readonly refTargets = new Map<object, Record<string, string>>();
  usesUnevaluated = false;
  constructor(readonly draft: SchemaDraft) {}

  /**
   * Adds a document retrieved from (or given) the absolute URI `uri`. The schema being validated is read
   * as `draft` (`forced`: the grader's choice wins over its `$schema`); a registered one by its own
   * `$schema`, else as `draft`.
   */
  add(schema: unknown, uri: string, forced = false) {
    const [doc] = splitFragment(uri);
    const draft = (forced ? undefined : declaredDraft(schema)) ?? this.draft;
    if (!isObj(schema)) {
      if (typeof schema === "boolean" && !this.resources.has(doc)) {
        // A boolean document: a resource whose root is a wrapper holding the boolean.
        const root = { __boolean__: schema };
        this.resources.set(doc, { uri: doc, draft, root, anchors: new Map(), dynamic: new Map(), recursive: false });
      }
      return;
    }
    let res = this.resources.get(doc);
    if (!res || res.root !== schema) {
      res = { uri: doc, draft, root: schema, anchors: new Map(), dynamic: new Map(), recursive: false };
      if (!this.resources.has(doc)) this.resources.set(doc, res);
    }
    this.walk(schema, res, "", true);
    // Known by its retrieval URI as well as by its own $id: both name one resource, anchors included.
    const own = this.info.get(schema)?.resource;
    if (own && this.resources.get(doc)?.root === schema) this.resources.set(doc, own);
  }

  private walk(s: unknown, res: Resource, loc: string, isRoot = false) {
    if (!isObj(s) || this.info.has(s)) return;
    // An embedded resource may name another draft; it applies once its $id makes it a resource.
    const declared = isRoot ? undefined : declaredDraft(s);
    const idDraft = declared ?? res.draft;
    const idKey = idDraft === "4" ? "id" : "$id";
    const id = s[idKey];
    // In drafts 4 and 7 every sibling of $ref is ignored, $id included.
    if (typeof id === "string" && !((idDraft === "4" || idDraft === "7") && typeof s.$ref === "string")) {
      const abs = resolveUri(res.uri, id);
      const [doc, frag] = splitFragment(abs);
      if (doc !== res.uri || (isRoot && res.root !== s)) {
        const known = this.resources.get(doc);
        if (known && known.root === s) res = known;
        else {
          res = { uri: doc, draft: idDraft, root: s, anchors: new Map(), dynamic: new Map(), recursive: false };
          if (!known) this.resources.set(doc, res);
        }
      }
      if (frag && (res.draft === "4" || res.draft === "7")) res.anchors.set(frag, s);
    }
    const draft = res.draft;
    const modern = draft === "2019-09" || draft === "2020-12";
    if (modern && typeof s.$anchor === "string") res.anchors.set(s.$anchor, s);
    if (draft === "2020-12" && typeof s.$dynamicAnchor === "string") {
      res.anchors.set(s.$dynamicAnchor, s);
      res.dynamic.set(s.$dynamicAnchor, s);
    }
    if (draft === "2019-09" && s.$recursiveAnchor === true && res.root === s) res.recursive = true;
    this.info.set(s, { resource: res, loc });
    if ("unevaluatedProperties" in s || "unevaluatedItems" in s) this.usesUnevaluated ||= modern;

    const refKeys =
      draft === "2020-12" ? ["$ref", "$dynamicRef"] : draft === "2019-09" ? ["$ref", "$recursiveRef"] : ["$ref"];
    for (const k of refKeys) {
      const ref = s[k];
      if (typeof ref !== "string") continue;
      const target = resolveUri(res.uri, ref);
      this.refs.push({ schema: s, keyword: k, ref, target, from: loc });
      const byKey = this.refTargets.get(s) ?? {};
      byKey[k] = target;
      this.refTargets.set(s, byKey);
    }
    const at = (k: string) => `${loc}/${encodePointer(k)}`;
    for (const k of modern ? SUB_ONE_2019 : SUB_ONE_7) if (k in s) this.walk(s[k], res, at(k));
    for (const k of SUB_ARRAY) {
      const v = s[k];
      if (Array.isArray(v)) for (const [i, x] of v.entries()) this.walk(x, res, `${at(k)}/${i}`);
    }
    if (Array.isArray(s.items)) for (const [i, x] of s.items.entries()) this.walk(x, res, `${loc}/items/${i}`);
    else if ("items" in s) this.walk(s.items, res, `${loc}/items`);
    if (draft === "2020-12" && Array.isArray(s.prefixItems)) {
      for (const [i, x] of s.prefixItems.entries()) this.walk(x, res, `${loc}/prefixItems/${i}`);
    }
    for (const k of modern ? SUB_MAP_2019 : SUB_MAP_7) {
      const v = s[k];
      if (isObj(v)) for (const [name, x] of Object.entries(v)) this.walk(x, res, `${at(k)}/${encodePointer(name)}`);
    }
    if (isObj(s.dependencies)) {
      for (const [name, x] of Object.entries(s.dependencies))
        this.walk(x, res, `${loc}/dependencies/${encodePointer(name)}`);
    }
  }

  /** The schema an absolute URI identifies, or undefined. A boolean document reads as its boolean. */
  locate(uri: string): unknown {
    const [doc, frag] = splitFragment(uri);
    const res = this.resources.get(doc);
    if (!res) return undefined;
    const root = "__boolean__" in res.root ? (res.root as { __boolean__: boolean }).__boolean__ : res.root;
    if (frag === "") return root;
    if (!frag.startsWith("/")) return res.anchors.get(frag);
    let cur: unknown = root;
    let loc = this.info.get(res.root)?.loc ?? "";
    for (const t of pointerTokens(frag)) {
      if (cur === null || typeof cur !== "object") return undefined;
      if (Array.isArray(cur)) {
        if (!/^(0|[1-9][0-9]*)$/.test(t)) return undefined;
        cur = cur[Number(t)];
      } else {
        if (!Object.hasOwn(cur, t)) return undefined;
        cur = (cur as Record<string, unknown>)[t];
      }
      loc += `/${encodePointer(t)}`;
    }
    // A location only a pointer reaches (inside an unknown keyword): index it as part of this resource.
    if (isObj(cur) && !this.info.has(cur)) this.walk(cur, res, loc);
    return cur;
  }

  unresolved(): UnresolvedRef[] {
    return this.refs
      .filter((r) => this.locate(r.target) === undefined)
      .map((r) => ({ from: r.from, keyword: r.keyword, ref: r.ref, target: r.target }));
  }
}

// ---------------------------------------------------------------------------------------------------
// Evaluation

interface Ann {
  props: Set<string> | null;
  allProps: boolean;
  items: number;
  allItems: boolean;
  itemSet: Set<number> | null;
}

const newAnn = (): Ann => ({ props: null, allProps: false, items: 0, allItems: false, itemSet: null });

function mergeAnn(into: Ann, from: Ann) {
  if (from.allProps) into.allProps = true;
  else if (from.props) {
    if (!into.props) into.props = new Set(from.props);
    else for (const p of from.props) into.props.add(p);
  }
  if (from.allItems) into.allItems = true;
  if (from.items > into.items) into.items = from.items;
  if (from.itemSet) {
    if (!into.itemSet) into.itemSet = new Set(from.itemSet);
    else for (const i of from.itemSet) into.itemSet.add(i);
  }
}

const addProp = (ann: Ann | null, key: string) => {
  if (!ann) return;
  if (!ann.props) ann.props = new Set();
  ann.props.add(key);
};

type Check = (v: unknown, c: Ctx, ann: Ann | null) => boolean;

interface Node {
  /** For a boolean schema: its value; checks are then empty. */
  bool: boolean | null;
  res: Resource | null;
  loc: string;
  any: Check[];
  str: Check[];
  num: Check[];
  obj: Check[];
  arr: Check[];
  /** The node reads annotations itself (has unevaluated*), so in-place callers give it its own. */
  readsAnn: boolean;
}

/** Evaluation depth (nested subschemas, $ref chains included) past which the schema is reported as looping. */
export const MAX_EVAL_DEPTH = 500;
/** Subschema evaluations one instance may cost. */
export const MAX_EVAL_STEPS = 20_000_000;

export class EvaluationLimit extends Error {}

const TOO_DEEP = `schema recursion too deep: more than ${MAX_EVAL_DEPTH} nested subschemas (a $ref loop, or a document nested too deep)`;

class Ctx {
  errors: OutputUnit[] = [];
  path: string[] = [];
  scope: (Resource | null)[] = [];
  depth = 0;
  steps = 0;

  fail(node: Node, keyword: string, error: string): false {
    this.errors.push({
      keyword,
      // A false schema is its own keyword: its location is the schema's.
      keywordLocation: keyword === "false" ? `#${node.loc}` : `#${node.loc}/${keyword}`,
      instanceLocation: `#${this.path.map((p) => `/${encodePointer(p)}`).join("")}`,
      error,
    });
    return false;
  }
}

const T_NULL = 1;
const T_BOOL = 2;
const T_OBJ = 4;
const T_ARR = 8;
const T_NUM = 16;
const T_INT = 32;
const T_STR = 64;
const TYPE_BITS: Record<string, number> = {
  null: T_NULL,
  boolean: T_BOOL,
  object: T_OBJ,
  array: T_ARR,
  number: T_NUM | T_INT,
  integer: T_INT,
  string: T_STR,
};

function bitsOf(v: unknown): number {
  switch (typeof v) {
    case "string":
      return T_STR;
    case "number":
      return Number.isInteger(v) ? T_INT | T_NUM : T_NUM;
    case "boolean":
      return T_BOOL;
    case "object":
      return v === null ? T_NULL : Array.isArray(v) ? T_ARR : T_OBJ;
    default:
      return 0;
  }
}

export const kindOf = (v: unknown) =>
  v === null
    ? "null"
    : Array.isArray(v)
      ? "array"
      : typeof v === "number" && Number.isInteger(v)
        ? "integer"
        : typeof v;

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    if (a.length !== bb.length) return false;
    for (let i = 0; i < a.length; i++) if (!deepEqual(a[i], bb[i])) return false;
    return true;
  }
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) {
    if (!Object.hasOwn(b, k) || !deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
      return false;
  }
  return true;
}

/**
 * The first two equal items of an array, or null. Linear (one canonical key per item), not pairwise: the
 * array is the model's output and may be long.
 */
export function firstDuplicate(a: readonly unknown[]): [number, number] | null {
  const seen = new Map<string, number>();
  for (let i = 0; i < a.length; i++) {
    const v = a[i];
    const key = v !== null && typeof v === "object" ? `o${canonicalJson(v)}` : `${typeof v}:${String(v)}`;
    const j = seen.get(key);
    if (j !== undefined) return [j, i];
    seen.set(key, i);
  }
  return null;
}

/** String length in Unicode code points, as the drafts count it (a surrogate pair is one character). */
export function codePointLength(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n--;
        i++;
      }
    }
  }
  return n;
}

/** `n` is a multiple of `d`, tolerating binary floating point (0.0075 is a multiple of 0.0001). */
export function isMultipleOf(n: number, d: number): boolean {
  if (Number.isInteger(n) && Number.isInteger(d)) return n % d === 0;
  const q = n / d;
  // An overflowing quotient: an integer is still a multiple of 1/k (0.5, 0.25, ...).
  if (!Number.isFinite(q)) return Number.isInteger(n) && Number.isInteger(1 / d);
  return Math.abs(q - Math.round(q)) <= Math.max(1e-9, Math.abs(q) * 1e-15);
}

const short = (v: unknown) => {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
};

/** Builds nodes from an index and evaluates instances against them. */
export class Validator {
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

  private on(v: Vocab) {
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

  private annFor(v: unknown): Ann | null {
    return this.track && v !== null && typeof v === "object" ? newAnn() : null;
  }

  private evaluate(node: Node, v: unknown, c: Ctx, ann: Ann | null): boolean {
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
  private inPlace(node: Node, v: unknown, c: Ctx, ann: Ann | null): boolean {
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
  private child(node: Node, v: unknown, seg: string, c: Ctx): boolean {
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

    this.strings(n, s, validation);
    if (validation) this.numbers(n, s);
    this.objects(n, s, validation, applicator);
    this.arrays(n, s, validation, applicator);
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

  private strings(n: Node, s: Record<string, unknown>, validation: boolean) {
    if (validation) {
      const min = typeof s.minLength === "number" ? s.minLength : undefined;
      const max = typeof s.maxLength === "number" ? s.maxLength : undefined;
      if (min !== undefined || max !== undefined) {
        n.str.push((v, c) => {
          const str = v as string;
          // Code points are never more than UTF-16 units: the cheap bound decides most strings.
          if (min !== undefined && (str.length < min || codePointLength(str) < min))
            return c.fail(n, "minLength", `is ${codePointLength(str)} characters, shorter than ${min}`);
          if (max !== undefined && str.length > max && codePointLength(str) > max)
            return c.fail(n, "maxLength", `is ${codePointLength(str)} characters, longer than ${max}`);
          return true;
        });
      }
      if (typeof s.pattern === "string") {
        const re = new RegExp(s.pattern, "u");
        const src = s.pattern;
        n.str.push((v, c) => re.test(v as string) || c.fail(n, "pattern", `does not match /${src}/`));
      }
    }
    // A metaschema that lists the format-assertion vocabulary asks for assertion whatever the grader says.
    const assertFormat = this.opts.format === "assert" || this.opts.vocabularies?.has("format-assertion") === true;
    if (typeof s.format === "string" && assertFormat && this.on("format")) {
      const f = FORMATS[s.format];
      const name = s.format;
      if (f) n.str.push((v, c) => f(v as string) || c.fail(n, "format", `is not a valid ${name}`));
    }
  }

  private numbers(n: Node, s: Record<string, unknown>) {
    const { minimum, maximum, exclusiveMinimum: exMin, exclusiveMaximum: exMax, multipleOf } = s;
    if (typeof minimum === "number") {
      const ex = exMin === true;
      n.num.push(
        (v, c) =>
          (ex ? (v as number) > minimum : (v as number) >= minimum) ||
          c.fail(n, "minimum", `${v} is less than ${ex ? "or equal to " : ""}${minimum}`),
      );
    }
    if (typeof maximum === "number") {
      const ex = exMax === true;
      n.num.push(
        (v, c) =>
          (ex ? (v as number) < maximum : (v as number) <= maximum) ||
          c.fail(n, "maximum", `${v} is greater than ${ex ? "or equal to " : ""}${maximum}`),
      );
    }
    if (typeof exMin === "number")
      n.num.push((v, c) => (v as number) > exMin || c.fail(n, "exclusiveMinimum", `${v} is not greater than ${exMin}`));
    if (typeof exMax === "number")
      n.num.push((v, c) => (v as number) < exMax || c.fail(n, "exclusiveMaximum", `${v} is not less than ${exMax}`));
    if (typeof multipleOf === "number")
      n.num.push(
        (v, c) =>
          isMultipleOf(v as number, multipleOf) || c.fail(n, "multipleOf", `${v} is not a multiple of ${multipleOf}`),
      );
  }

  private objects(n: Node, s: Record<string, unknown>, validation: boolean, applicator: boolean) {
    const draft = n.res?.draft ?? this.opts.draft;
    const modern = draft === "2019-09" || draft === "2020-12";
    type O = Record<string, unknown>;
    if (validation) {
      const { minProperties: minP, maxProperties: maxP } = s;
      if (typeof minP === "number")
        n.obj.push((v, c) => {
          const k = Object.keys(v as O).length;
          return k >= minP || c.fail(n, "minProperties", `has ${k} properties, fewer than ${minP}`);
        });
      if (typeof maxP === "number")
        n.obj.push((v, c) => {
          const k = Object.keys(v as O).length;
          return k <= maxP || c.fail(n, "maxProperties", `has ${k} properties, more than ${maxP}`);
        });
      if (Array.isArray(s.required) && s.required.length) {
        const req = s.required as string[];
        n.obj.push((v, c) => {
          for (const r of req) {
            if (!Object.hasOwn(v as O, r)) {
              c.path.push(r);
              c.fail(n, "required", "required property is missing");
              c.path.pop();
              return false;
            }
          }
          return true;
        });
      }
      if (modern && isObj(s.dependentRequired)) {
        const deps = Object.entries(s.dependentRequired as Record<string, string[]>);
        n.obj.push((v, c) => this.requires(n, v as O, deps, "dependentRequired", c));
      }
    }
    // `dependencies` (draft 7; kept in 2019-09/2020-12 for compatibility, as their metaschemas reserve it
    // and @cfworker/json-schema honoured it): a list of names is validation, a schema is an applicator.
    if (isObj(s.dependencies)) {
      const lists: [string, string[]][] = [];
      const schemas: [string, Node][] = [];
      for (const [k, d] of Object.entries(s.dependencies)) {
        if (Array.isArray(d)) lists.push([k, d as string[]]);
        else schemas.push([k, this.node(d, `${n.loc}/dependencies/${encodePointer(k)}`)]);
      }
      if (lists.length) n.obj.push((v, c) => this.requires(n, v as O, lists, "dependencies", c));
      for (const [k, d] of schemas) n.obj.push((v, c, ann) => !Object.hasOwn(v as O, k) || this.inPlace(d, v, c, ann));
    }
    if (!applicator) return;
    if (modern && isObj(s.dependentSchemas)) {
      for (const [k, d] of Object.entries(s.dependentSchemas)) {
        const dn = this.node(d, `${n.loc}/dependentSchemas/${encodePointer(k)}`);
        n.obj.push((v, c, ann) => !Object.hasOwn(v as O, k) || this.inPlace(dn, v, c, ann));
      }
    }
    if ("propertyNames" in s && (modern || draft === "7")) {
      const pn = this.node(s.propertyNames, `${n.loc}/propertyNames`);
      n.obj.push((v, c) => {
        for (const k of Object.keys(v as O)) if (!this.child(pn, k, k, c)) return false;
        return true;
      });
    }
    const props = isObj(s.properties)
      ? new Map(
          Object.entries(s.properties).map(([k, x]) => [k, this.node(x, `${n.loc}/properties/${encodePointer(k)}`)]),
        )
      : null;
    const patterns = isObj(s.patternProperties)
      ? Object.entries(s.patternProperties).map(
          ([p, x]) => [new RegExp(p, "u"), this.node(x, `${n.loc}/patternProperties/${encodePointer(p)}`)] as const,
        )
      : [];
    const additional =
      "additionalProperties" in s ? this.node(s.additionalProperties, `${n.loc}/additionalProperties`) : null;
    if (props || patterns.length || additional) {
      n.obj.push((v, c, ann) => {
        const o = v as O;
        if (props && !patterns.length && !additional) {
          // The common case: iterate the (usually fewer) declared properties.
          for (const [k, pn] of props) {
            if (!Object.hasOwn(o, k)) continue;
            if (!this.child(pn, o[k], k, c)) return false;
            addProp(ann, k);
          }
          return true;
        }
        for (const k of Object.keys(o)) {
          let matched = false;
          const pn = props?.get(k);
          if (pn) {
            matched = true;
            if (!this.child(pn, o[k], k, c)) return false;
          }
          for (const [re, pp] of patterns) {
            if (re.test(k)) {
              matched = true;
              if (!this.child(pp, o[k], k, c)) return false;
            }
          }
          if (!matched && additional) {
            matched = true;
            if (!this.child(additional, o[k], k, c)) {
              if (additional.bool === false) {
                const e = c.errors[c.errors.length - 1]!;
                e.keyword = "additionalProperties";
                e.error = "the property is not allowed (additionalProperties: false)";
              }
              return false;
            }
          }
          if (matched) addProp(ann, k);
        }
        return true;
      });
    }
    if (modern && "unevaluatedProperties" in s && this.on("unevaluated")) {
      const un = this.node(s.unevaluatedProperties, `${n.loc}/unevaluatedProperties`);
      n.readsAnn = true;
      n.obj.push((v, c, ann) => {
        if (ann?.allProps) return true;
        const o = v as O;
        for (const k of Object.keys(o)) {
          if (ann?.props?.has(k)) continue;
          if (!this.child(un, o[k], k, c)) return false;
        }
        if (ann) ann.allProps = true;
        return true;
      });
    }
  }

  private requires(n: Node, o: Record<string, unknown>, deps: [string, string[]][], kw: string, c: Ctx): boolean {
    for (const [k, needs] of deps) {
      if (!Object.hasOwn(o, k)) continue;
      for (const r of needs) {
        if (!Object.hasOwn(o, r)) {
          c.path.push(r);
          c.fail(n, kw, `required because "${k}" is present`);
          c.path.pop();
          return false;
        }
      }
    }
    return true;
  }

  private arrays(n: Node, s: Record<string, unknown>, validation: boolean, applicator: boolean) {
    const draft = n.res?.draft ?? this.opts.draft;
    const modern = draft === "2019-09" || draft === "2020-12";
    type A = unknown[];
    if (validation) {
      const { minItems, maxItems } = s;
      if (typeof minItems === "number")
        n.arr.push(
          (v, c) =>
            (v as A).length >= minItems ||
            c.fail(n, "minItems", `has ${(v as A).length} items, fewer than ${minItems}`),
        );
      if (typeof maxItems === "number")
        n.arr.push(
          (v, c) =>
            (v as A).length <= maxItems || c.fail(n, "maxItems", `has ${(v as A).length} items, more than ${maxItems}`),
        );
      if (s.uniqueItems === true) {
        n.arr.push((v, c) => {
          const dup = firstDuplicate(v as A);
          return dup === null || c.fail(n, "uniqueItems", `items ${dup[0]} and ${dup[1]} are equal`);
        });
      }
    }
    if (!applicator) return;
    const tupleSrc = draft === "2020-12" ? s.prefixItems : s.items;
    const tuple = Array.isArray(tupleSrc)
      ? tupleSrc.map((x, i) => this.node(x, `${n.loc}/${draft === "2020-12" ? "prefixItems" : "items"}/${i}`))
      : null;
    let rest: Node | null = null;
    if (draft === "2020-12") {
      if ("items" in s && !Array.isArray(s.items)) rest = this.node(s.items, `${n.loc}/items`);
    } else if (tuple) {
      if ("additionalItems" in s) rest = this.node(s.additionalItems, `${n.loc}/additionalItems`);
    } else if ("items" in s) rest = this.node(s.items, `${n.loc}/items`);
    if (tuple || rest) {
      n.arr.push((v, c, ann) => {
        const a = v as A;
        let i = 0;
        if (tuple) {
          for (; i < Math.min(tuple.length, a.length); i++)
            if (!this.child(tuple[i]!, a[i], String(i), c)) return false;
          if (ann && i > ann.items) ann.items = i;
        }
        if (rest) {
          for (; i < a.length; i++) if (!this.child(rest, a[i], String(i), c)) return false;
          if (ann) ann.allItems = true;
        }
        return true;
      });
    }
    if ("contains" in s && (modern || draft === "7")) {
      const cn = this.node(s.contains, `${n.loc}/contains`);
      const min = modern && typeof s.minContains === "number" ? s.minContains : 1;
      const max = modern && typeof s.maxContains === "number" ? s.maxContains : Number.POSITIVE_INFINITY;
      const annotates = draft === "2020-12";
      n.arr.push((v, c, ann) => {
        const a = v as A;
        const mark = c.errors.length;
        let matched = 0;
        for (let i = 0; i < a.length; i++) {
          c.path.push(String(i));
          const ok = this.evaluate(cn, a[i], c, this.annFor(a[i]));
          c.path.pop();
          if (ok) {
            matched++;
            if (ann && annotates) {
              if (!ann.itemSet) ann.itemSet = new Set();
              ann.itemSet.add(i);
            } else if (matched > max) break;
          }
        }
        c.errors.length = mark;
        if (matched < min) return c.fail(n, "contains", `${matched} items match contains, fewer than ${min}`);
        if (matched > max) return c.fail(n, "contains", `${matched} items match contains, more than ${max}`);
        if (ann && annotates && matched === a.length) ann.allItems = true;
        return true;
      });
    }
    if (modern && "unevaluatedItems" in s && this.on("unevaluated")) {
      const un = this.node(s.unevaluatedItems, `${n.loc}/unevaluatedItems`);
      n.readsAnn = true;
      n.arr.push((v, c, ann) => {
        if (ann?.allItems) return true;
        const a = v as A;
        for (let i = ann?.items ?? 0; i < a.length; i++) {
          if (ann?.itemSet?.has(i)) continue;
          if (!this.child(un, a[i], String(i), c)) return false;
        }
        if (ann) ann.allItems = true;
        return true;
      });
    }
  }
}
