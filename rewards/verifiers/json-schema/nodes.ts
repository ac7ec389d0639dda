import type { Resource, SchemaDraft, SchemaIndex } from "./schema-index";
import { encodePointer } from "./uri";

/*
 * The compiled form of a schema (a node of keyword checks per schema object), the state of one
 * evaluation, and what the keyword builders (keywords-*.ts) need from the validator that builds nodes.
 */

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
export type Vocab = "validation" | "applicator" | "unevaluated" | "format" | "format-assertion";

export interface ValidatorOptions {
  draft: SchemaDraft;
  format: FormatMode;
  /** Enabled vocabularies when a custom metaschema declares `$vocabulary`; undefined: all of them. */
  vocabularies?: ReadonlySet<Vocab>;
}

export interface Ann {
  props: Set<string> | null;
  allProps: boolean;
  items: number;
  allItems: boolean;
  itemSet: Set<number> | null;
}

export const newAnn = (): Ann => ({ props: null, allProps: false, items: 0, allItems: false, itemSet: null });

export function mergeAnn(into: Ann, from: Ann) {
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

export const addProp = (ann: Ann | null, key: string) => {
  if (!ann) return;
  if (!ann.props) ann.props = new Set();
  ann.props.add(key);
};

export type Check = (v: unknown, c: Ctx, ann: Ann | null) => boolean;

export interface Node {
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

export const TOO_DEEP = `schema recursion too deep: more than ${MAX_EVAL_DEPTH} nested subschemas (a $ref loop, or a document nested too deep)`;

export class Ctx {
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

/** What the keyword builders (keywords-*.ts) need from the validator building a node. */
export interface Builder {
  readonly index: SchemaIndex;
  readonly opts: ValidatorOptions;
  /** Whether a vocabulary is on: a custom metaschema's `$vocabulary` can switch groups of keywords off. */
  on(v: Vocab): boolean;
  /** The node of a subschema, built once per schema object (`loc`: its pointer, for a schema not indexed). */
  node(schema: unknown, loc: string): Node;
  evaluate(node: Node, v: unknown, c: Ctx, ann: Ann | null): boolean;
  /** In-place application where failure fails the caller (allOf, $ref): annotations go straight up. */
  inPlace(node: Node, v: unknown, c: Ctx, ann: Ann | null): boolean;
  /** Evaluates a child value (a property, an item) under its own path segment and annotations. */
  child(node: Node, v: unknown, seg: string, c: Ctx): boolean;
  /** Fresh annotations for an object or array value when the schema reads them, else null. */
  annFor(v: unknown): Ann | null;
}
