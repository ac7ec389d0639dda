import { declaredDraft } from "./draft";
import { encodePointer, pointerTokens, resolveUri, splitFragment } from "./uri";

/*
 * Where every schema resource, anchor and reference of a set of documents is: built once per compile,
 * before any node, so that `$ref`s can be linked to their targets and `$dynamicRef`/`$recursiveRef` can
 * look the dynamic scope up by resource.
 */

export type SchemaDraft = "4" | "7" | "2019-09" | "2020-12";

/** Why a schema cannot be built: a `$ref` that resolves nowhere. */
export interface UnresolvedRef {
  /** JSON pointer of the referring subschema within its document. */
  from: string;
  keyword: string;
  ref: string;
  target: string;
}

export interface Resource {
  uri: string;
  /** Each resource is read by the draft its own `$schema` names, else the one of the resource around it. */
  draft: SchemaDraft;
  root: object;
  anchors: Map<string, object>;
  dynamic: Map<string, object>;
  recursive: boolean;
}

export interface Info {
  resource: Resource;
  /** Pointer within the document it was found in, for keyword locations. */
  loc: string;
}

const SUB_ONE_7 = ["additionalItems", "additionalProperties", "contains", "propertyNames", "not", "if", "then", "else"];
const SUB_ONE_2019 = [...SUB_ONE_7, "unevaluatedItems", "unevaluatedProperties", "contentSchema"];
const SUB_ARRAY = ["allOf", "anyOf", "oneOf"];
const SUB_MAP_7 = ["properties", "patternProperties", "definitions"];
const SUB_MAP_2019 = [...SUB_MAP_7, "$defs", "dependentSchemas"];

export const isObj = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v);

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
