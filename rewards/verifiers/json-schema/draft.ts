import type { SchemaDraft } from "./validator";

/** The drafts a grader may ask for. Draft 4 is served only when a schema's own `$schema` names it. */
export const DRAFTS = ["7", "2019-09", "2020-12"] as const;
export type Draft = (typeof DRAFTS)[number];
export const DEFAULT_DRAFT: Draft = "2020-12";

const BY_URI: [RegExp, SchemaDraft][] = [
  [/^https?:\/\/json-schema\.org\/draft\/2020-12\/schema#?$/, "2020-12"],
  [/^https?:\/\/json-schema\.org\/draft\/2019-09\/schema#?$/, "2019-09"],
  [/^https?:\/\/json-schema\.org\/draft-07\/schema#?$/, "7"],
  // Draft 6 is draft 7 minus if/then/else and a few formats: validating it as 7 is the closest fit.
  [/^https?:\/\/json-schema\.org\/draft-06\/schema#?$/, "7"],
  [/^https?:\/\/json-schema\.org\/draft-04\/schema#?$/, "4"],
];

/** The draft a schema declares with `$schema`, or undefined when it declares none that is known. */
export function declaredDraft(schema: unknown): SchemaDraft | undefined {
  if (schema === null || typeof schema !== "object") return undefined;
  const uri = (schema as { $schema?: unknown }).$schema;
  if (typeof uri !== "string") return undefined;
  return BY_URI.find(([re]) => re.test(uri))?.[1];
}

/** An explicit choice wins, then the schema's `$schema`, then 2020-12. */
export function pickDraft(schema: unknown, override?: Draft): SchemaDraft {
  return override ?? declaredDraft(schema) ?? DEFAULT_DRAFT;
}
