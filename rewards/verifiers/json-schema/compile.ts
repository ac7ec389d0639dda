import { dereference, type OutputUnit, type Schema, type SchemaDraft, validate } from "@cfworker/json-schema";
import { canonicalJson, sha256Hex } from "./canonical";
import { checkSchema, type SchemaIssue } from "./check";
import { Lru } from "./lru";
import { BUILTIN_SCHEMAS } from "./metaschemas";

/** A schema registered under its `$id` (PUT /v1/schemas), with the hash of its canonical JSON. */
export interface RegisteredSchema {
  id: string;
  sha256: string;
  schema: object | boolean;
}

/**
 * Where schemas referenced by `$ref` come from. `get` may answer synchronously (a preloaded map, the
 * conformance suite's remotes) or asynchronously (R2); null or undefined means "not registered".
 */
export interface SchemaStore {
  get(id: string): RegisteredSchema | null | undefined | Promise<RegisteredSchema | null | undefined>;
}

/** The schema itself is broken: the evaluator's input, not the model's output, is at fault. */
export class SchemaError extends Error {
  constructor(readonly issues: SchemaIssue[]) {
    super(
      `invalid JSON Schema: ${issues
        .slice(0, 5)
        .map((i) => `${i.path}: ${i.message}`)
        .join("; ")}${issues.length > 5 ? `; and ${issues.length - 5} more` : ""}`,
    );
  }
}

/** A ready validator: the dereferenced schema plus every registered schema it reaches. */
export interface CompiledSchema {
  /** Cache key: hash of the canonical schema, the draft and the registered schemas it depends on. */
  key: string;
  draft: SchemaDraft;
  root: Schema | boolean;
  lookup: Record<string, Schema | boolean>;
  deps: { id: string; sha256: string }[];
  /** The library's verdict (short-circuiting: stops at the first failure in each subschema). */
  validate(instance: unknown): { valid: boolean; errors: OutputUnit[] };
}

interface Analysis {
  hash: string;
  issues: SchemaIssue[];
  /** Documents this schema references that it does not define itself. */
  external: string[];
}

/** Cache sizes: enough for every schema of a busy isolate's graders, small enough to bound memory. */
export const MAX_COMPILED = 256;
const MAX_ANALYSES = 1024;

const analyses = new Lru<string, Analysis>(MAX_ANALYSES);
const compiled = new Lru<string, CompiledSchema>(MAX_COMPILED);
const counters = { builds: 0, hits: 0 };

/** Validator builds and cache hits since the isolate started (or since resetSchemaCache). */
export function schemaCacheStats() {
  return { builds: counters.builds, hits: counters.hits, size: compiled.size };
}

export function resetSchemaCache() {
  analyses.clear();
  compiled.clear();
  counters.builds = 0;
  counters.hits = 0;
}

const clone = <T>(v: T): T => structuredClone(v);

const DATA_KEYWORDS = new Set(["const", "enum", "default", "examples"]);

/**
 * Prepares a private copy of a schema for dereferencing. In drafts 4 and 7 every sibling of `$ref` is
 * ignored, `$id` included, so a sibling `$id` must not move the base URI the `$ref` resolves against.
 */
function prepared<T>(schema: T, draft: SchemaDraft): T {
  const copy = clone(schema);
  if (draft !== "4" && draft !== "7") return copy;
  const visit = (v: unknown) => {
    if (v === null || typeof v !== "object") return;
    if (Array.isArray(v)) return v.forEach(visit);
    const o = v as Record<string, unknown>;
    if (typeof o.$ref === "string") {
      delete o.$id;
      delete o.id;
    }
    for (const [k, x] of Object.entries(o)) if (!DATA_KEYWORDS.has(k)) visit(x);
  };
  visit(copy);
  return copy;
}
const stripFragment = (uri: string) => {
  const i = uri.indexOf("#");
  return i === -1 ? uri : uri.slice(0, i);
};

/** Every `$ref` / `$recursiveRef` target, as absolute URIs, of a dereferenced lookup. */
function refTargets(lookup: Record<string, Schema | boolean>): { from: string; ref: string; target: string }[] {
  const out: { from: string; ref: string; target: string }[] = [];
  const seen = new Set<object>();
  for (const s of Object.values(lookup)) {
    if (typeof s !== "object" || seen.has(s)) continue;
    seen.add(s);
    // The JSON pointer of the referring subschema within its document.
    const uri: string = s.__absolute_uri__ ?? "";
    const from = uri.includes("#") ? uri.slice(uri.indexOf("#") + 1) : "";
    if (typeof s.$ref === "string") out.push({ from, ref: s.$ref, target: s.__absolute_ref__ ?? s.$ref });
    if (typeof s.$recursiveRef === "string") {
      out.push({ from, ref: s.$recursiveRef, target: s.__absolute_recursive_ref__ ?? s.$recursiveRef });
    }
  }
  return out;
}

/**
 * Adds a registered schema to a lookup under the URI it was registered (retrieved) at, as well as under
 * its own `$id` when that differs, as a schema fetched from a URL is known by both.
 */
function register(schema: Schema | boolean, id: string, lookup: Record<string, Schema | boolean>) {
  dereference(schema, lookup, new URL(id));
  if (lookup[id] === undefined) lookup[id] = schema;
  return lookup;
}

function analyze(schema: unknown, draft: SchemaDraft, base?: string): Analysis {
  const hash = sha256Hex(canonicalJson(schema));
  const key = `${hash}|${draft}|${base ?? ""}`;
  const hit = analyses.get(key);
  if (hit) return hit;
  const issues = checkSchema(schema, draft);
  let external: string[] = [];
  if (issues.length === 0) {
    try {
      const copy = prepared(schema, draft) as Schema;
      const lookup = base ? register(copy, base, Object.create(null)) : dereference(copy);
      const docs = new Set<string>();
      for (const { target } of refTargets(lookup)) {
        if (lookup[target] === undefined && lookup[stripFragment(target)] === undefined)
          docs.add(stripFragment(target));
      }
      external = [...docs].sort();
    } catch (err) {
      issues.push({ path: "/", message: (err as Error).message });
    }
  }
  const a = { hash, issues, external };
  analyses.set(key, a);
  return a;
}

/**
 * Walks the registered schemas a schema reaches, transitively: yields each id it needs and receives the
 * stored schema (or nothing). Written once as a generator so that sync and async stores share it.
 */
function* dependencies(
  first: Analysis,
  draft: SchemaDraft,
): Generator<string, RegisteredSchema[], RegisteredSchema | null | undefined> {
  const deps = new Map<string, RegisteredSchema>();
  const missing = new Set<string>();
  const queue = [...first.external];
  while (queue.length) {
    const id = queue.shift()!;
    if (deps.has(id) || missing.has(id)) continue;
    const got = yield id;
    if (!got) {
      missing.add(id);
      continue;
    }
    deps.set(id, got);
    const a = analyze(got.schema, draft, got.id);
    if (a.issues.length) throw new SchemaError(a.issues.map((i) => ({ ...i, path: `${got.id}#${i.path}` })));
    queue.push(...a.external);
  }
  if (missing.size) {
    throw new SchemaError(
      [...missing].map((id) => ({
        path: "/",
        unregistered: id,
        message: `$ref to ${id}, which is neither defined in the schema nor registered (PUT /v1/schemas)`,
      })),
    );
  }
  return [...deps.values()].sort((a, b) => (a.id < b.id ? -1 : 1));
}

function build(schema: unknown, draft: SchemaDraft, a: Analysis, deps: RegisteredSchema[]): CompiledSchema {
  const depKey = deps.map((d) => `${d.id}@${d.sha256}`).join(",");
  const key = sha256Hex(`${a.hash}|${draft}|${depKey}`);
  const hit = compiled.get(key);
  if (hit) {
    counters.hits++;
    return hit;
  }
  // dereference() marks the schema objects it walks, so the validator works on its own copies.
  const root = prepared(schema, draft) as Schema | boolean;
  let lookup: Record<string, Schema | boolean>;
  try {
    lookup = dereference(root);
    for (const d of deps) register(prepared(d.schema, draft) as Schema | boolean, d.id, lookup);
  } catch (err) {
    throw new SchemaError([{ path: "/", message: (err as Error).message }]);
  }
  const unresolved = refTargets(lookup).filter(({ target }) => lookup[target] === undefined);
  if (unresolved.length) {
    throw new SchemaError(
      unresolved.map(({ from, ref, target }) => ({
        path: `${from}/$ref`,
        message: `$ref ${JSON.stringify(ref)} does not resolve${ref === target ? "" : ` (resolved to ${target})`}`,
      })),
    );
  }
  counters.builds++;
  const c: CompiledSchema = {
    key,
    draft,
    root,
    lookup,
    deps: deps.map((d) => ({ id: d.id, sha256: d.sha256 })),
    validate: (instance) => validate(instance, root, draft, lookup, true),
  };
  compiled.set(key, c);
  return c;
}

export interface CompileOptions {
  draft: SchemaDraft;
  store?: SchemaStore;
}

/**
 * Returns the validator for a schema, from the cache when the same schema (by canonical content), draft
 * and registered dependencies were compiled before. Throws SchemaError when the schema is broken or
 * references a schema that is not registered.
 */
export async function compileSchema(schema: unknown, opts: CompileOptions): Promise<CompiledSchema> {
  const a = analyze(schema, opts.draft);
  if (a.issues.length) throw new SchemaError(a.issues);
  const walk = dependencies(a, opts.draft);
  let step = walk.next();
  while (!step.done) {
    const id = step.value;
    step = walk.next(BUILTIN_SCHEMAS.get(id) ?? (opts.store ? await opts.store.get(id) : undefined));
  }
  return build(schema, opts.draft, a, step.value);
}

/** compileSchema for registered schemas already in memory (a preloaded Map, the suite's remotes). */
export function compileSchemaSync(
  schema: unknown,
  opts: { draft: SchemaDraft; registered?: ReadonlyMap<string, RegisteredSchema> },
): CompiledSchema {
  const a = analyze(schema, opts.draft);
  if (a.issues.length) throw new SchemaError(a.issues);
  const walk = dependencies(a, opts.draft);
  let step = walk.next();
  while (!step.done) step = walk.next(BUILTIN_SCHEMAS.get(step.value) ?? opts.registered?.get(step.value));
  return build(schema, opts.draft, a, step.value);
}
