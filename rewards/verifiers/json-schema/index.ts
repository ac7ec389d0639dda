/**
 * JSON Schema verification for rewards: an interpreting validator (validator.ts) compiled once per schema
 * and cached by content, partial credit, and the registry of schemas that `$ref` can reach. See README.md
 * for how partial credit counts constraints.
 *
 * @example
 * const compiled = await compileSchema(schema, { draft: pickDraft(schema), store });
 * const verdict = verifyDocument(compiled, JSON.parse(completion), { partialCredit: true });
 * // verdict.score: 1 when valid, else the share of constraints met; verdict.failures: JSON pointers
 */
export { canonicalJson, contentHash } from "./canonical";
export type { SchemaIssue } from "./check";
export { checkSchema } from "./check";
export type { CompiledSchema, FormatMode, OutputUnit, RegisteredSchema, SchemaDraft, SchemaStore } from "./compile";
export {
  compileSchema,
  compileSchemaSync,
  DEFAULT_BASE,
  MAX_COMPILED,
  resetSchemaCache,
  SchemaError,
  schemaCacheStats,
} from "./compile";
export type { Draft } from "./draft";
export { DEFAULT_DRAFT, DRAFTS, declaredDraft, pickDraft } from "./draft";
export { BUILTIN_SCHEMAS } from "./metaschemas";
export type { Failure, PartialResult } from "./partial";
export { PARTIAL_BUDGET, partialCredit } from "./partial";
export type { SchemaBucket, SchemaInfo } from "./store";
export { bucketSchemaStore, getSchema, listSchemas, normalizeSchemaId, registerSchema, schemaKey } from "./store";
export type { Verdict } from "./verify";
export { verifyDocument } from "./verify";
