import { Lru } from "../../lib/lru";
import { canonicalJson, sha256Hex } from "./canonical";
import { checkSchema, type SchemaIssue } from "./check";
import { BUILTIN_SCHEMAS } from "./metaschemas";
import { splitFragment } from "./uri";
import { type FormatMode, type OutputUnit, type SchemaDraft, SchemaIndex, Validator } from "./validator";
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

/** A ready validator: the schema, indexed with every registered schema it reaches. */
export interface CompiledSchema {
  /** Cache key: hash of the canonical schema, the draft, the format mode and the registered schemas it depends on. */
  key: string;
  draft: SchemaDraft;
  format: FormatMode;
  root: object | boolean;
  deps: { id: string; sha256: string }[];
  /** The verdict (short-circuiting: stops at the first failure in each subschema). */
  validate(instance: unknown): { valid: boolean; errors: OutputUnit[] };
  /** The static target of a subschema's `$ref` / `$recursiveRef` / `$dynamicRef`, for partial credit. */
  resolve(schema: object, keyword: string): unknown;
}

export type { FormatMode, OutputUnit, SchemaDraft };

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

/** The base URI of a schema that has no `$id` of its own. */
export const DEFAULT_BASE = "https://schemas.assay.invalid/root.json";

/** `$schema` values the draft is read from; any other is a custom metaschema, looked up for `$vocabulary`. */
const STANDARD_METASCHEMAS =
  /^https?:\/\/json-schema\.org\/(draft-0[3467]\/schema|draft\/2019-09\/schema|draft\/2020-12\/schema)#?$/;

type VocabGroup = "validation" | "applicator" | "unevaluated" | "format" | "format-assertion";

const VOCABULARIES: Record<string, VocabGroup> = {
  validation: "validation",
  applicator: "applicator",
  unevaluated: "unevaluated",
  format: "format",
  "format-annotation": "format",
  "format-assertion": "format-assertion",
};

/** The keyword groups a custom metaschema's `$vocabulary` enables (every known vocabulary it lists). */
function vocabulariesOf(meta: RegisteredSchema | undefined, draft: SchemaDraft) {
  const v =
    meta && typeof meta.schema === "object" ? (meta.schema as { $vocabulary?: unknown }).$vocabulary : undefined;
  if (v === null || typeof v !== "object" || Array.isArray(v)) return undefined;
  const on = new Set<VocabGroup>();
  for (const uri of Object.keys(v)) {
    const m = /^https:\/\/json-schema\.org\/draft\/(2019-09|2020-12)\/vocab\/([a-z-]+)$/.exec(uri);
    const group = m ? VOCABULARIES[m[2]!] : undefined;
    if (group) on.add(group);
    if (group === "format-assertion") on.add("format");
    // 2019-09 keeps unevaluated* in the applicator vocabulary.
    if (m && m[2] === "applicator" && draft === "2019-09") on.add("unevaluated");
  }
  return on;
}

function customMetaschema(schema: unknown): string | undefined {
  if (schema === null || typeof schema !== "object") return undefined;
  const uri = (schema as { $schema?: unknown }).$schema;
  return typeof uri === "string" && !STANDARD_METASCHEMAS.test(uri) ? splitFragment(uri)[0] : undefined;
}

/** Indexes documents; the first is the schema being validated, read as `draft` whatever its `$schema`. */
function indexOf(draft: SchemaDraft, docs: { schema: unknown; uri: string }[]): SchemaIndex {
  const index = new SchemaIndex(draft);
  for (const [i, d] of docs.entries()) index.add(d.schema, d.uri, i === 0);
  return index;
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
      const index = new SchemaIndex(draft);
      index.add(schema, base ?? DEFAULT_BASE, base === undefined);
      const docs = new Set<string>();
      for (const r of index.refs) {
        const [doc] = splitFragment(r.target);
        if (!index.resources.has(doc)) docs.add(doc);
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
 * stored schema (or nothing). Written once as a generator so that sync and async stores share it. A
 * custom metaschema (`$schema`) is looked up too, for its `$vocabulary`; it may be missing.
 */
function* dependencies(
  schema: unknown,
  first: Analysis,
  draft: SchemaDraft,
): Generator<string, { deps: RegisteredSchema[]; meta?: RegisteredSchema }, RegisteredSchema | null | undefined> {
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
  const metaId = customMetaschema(schema);
  const meta = metaId ? ((yield metaId) ?? undefined) : undefined;
  return { deps: [...deps.values()].sort((a, b) => (a.id < b.id ? -1 : 1)), meta };
}

function build(
  schema: unknown,
  draft: SchemaDraft,
  format: FormatMode,
  a: Analysis,
  found: { deps: RegisteredSchema[]; meta?: RegisteredSchema },
): CompiledSchema {
  const { deps, meta } = found;
  const depKey = deps.map((d) => `${d.id}@${d.sha256}`).join(",");
  const metaKey = meta ? `${meta.id}@${meta.sha256}` : "";
  const key = sha256Hex(`${a.hash}|${draft}|${format}|${depKey}|${metaKey}`);
  const hit = compiled.get(key);
  if (hit) {
    counters.hits++;
    return hit;
  }
  // The validator keeps references into the schema: it works on its own copy, safe from later edits.
  const root = clone(schema) as object | boolean;
  const index = indexOf(draft, [
    { schema: root, uri: DEFAULT_BASE },
    ...deps.map((d) => ({ schema: d.schema, uri: d.id })),
  ]);
  const unresolved = index.unresolved();
  if (unresolved.length) {
    throw new SchemaError(
      unresolved.map(({ from, keyword, ref, target }) => {
        // The placeholder base of a schema without $id says nothing to the reader: leave it out.
        const shown = target.startsWith(DEFAULT_BASE) ? target.slice(DEFAULT_BASE.length) : target;
        return {
          path: `${from}/${keyword}`,
          message: `${keyword} ${JSON.stringify(ref)} does not resolve${ref === shown ? "" : ` (resolved to ${shown})`}`,
        };
      }),
    );
  }
  const validator = new Validator(index, root, { draft, format, vocabularies: vocabulariesOf(meta, draft) });
  counters.builds++;
  const c: CompiledSchema = {
    key,
    draft,
    format,
    root,
    deps: deps.map((d) => ({ id: d.id, sha256: d.sha256 })),
    validate: (instance) => validator.validate(instance),
    resolve: (s, keyword) => {
      const t = index.refTargets.get(s)?.[keyword];
      return t === undefined ? undefined : index.locate(t);
    },
  };
  compiled.set(key, c);
  return c;
}

export interface CompileOptions {
  draft: SchemaDraft;
  /** `assert` (the default): a string that breaks its `format` fails; `annotate`: `format` is not checked. */
  format?: FormatMode;
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
  const walk = dependencies(schema, a, opts.draft);
  let step = walk.next();
  while (!step.done) {
    const id = step.value;
    step = walk.next(BUILTIN_SCHEMAS.get(id) ?? (opts.store ? await opts.store.get(id) : undefined));
  }
  return build(schema, opts.draft, opts.format ?? "assert", a, step.value);
}

/** compileSchema for registered schemas already in memory (a preloaded Map, the suite's remotes). */
export function compileSchemaSync(
  schema: unknown,
  opts: { draft: SchemaDraft; format?: FormatMode; registered?: ReadonlyMap<string, RegisteredSchema> },
): CompiledSchema {
  const a = analyze(schema, opts.draft);
  if (a.issues.length) throw new SchemaError(a.issues);
  const walk = dependencies(schema, a, opts.draft);
  let step = walk.next();
  while (!step.done) step = walk.next(BUILTIN_SCHEMAS.get(step.value) ?? opts.registered?.get(step.value));
  return build(schema, opts.draft, opts.format ?? "assert", a, step.value);
}
