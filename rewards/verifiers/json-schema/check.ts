import { encodePointer } from "./uri";
import type { SchemaDraft } from "./validator";

/** One thing wrong with a schema itself, located by a JSON pointer into the schema. */
export interface SchemaIssue {
  path: string;
  message: string;
  /** Set when the issue is a `$ref` to a document that is not registered (yet): the registered id. */
  unregistered?: string;
}

const TYPES = new Set(["array", "boolean", "integer", "null", "number", "object", "string"]);
const SCHEMA_KEYWORDS = [
  "additionalItems",
  "unevaluatedItems",
  "contains",
  "additionalProperties",
  "unevaluatedProperties",
  "propertyNames",
  "not",
  "if",
  "then",
  "else",
];
const SCHEMA_ARRAY_KEYWORDS = ["allOf", "anyOf", "oneOf", "prefixItems"];
const SCHEMA_MAP_KEYWORDS = ["properties", "patternProperties", "$defs", "definitions", "dependentSchemas"];
const COUNT_KEYWORDS = [
  "minLength",
  "maxLength",
  "minItems",
  "maxItems",
  "minProperties",
  "maxProperties",
  "minContains",
  "maxContains",
];

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);
const isCount = (v: unknown) => typeof v === "number" && Number.isInteger(v) && v >= 0;

function regexError(source: string): string | null {
  try {
    new RegExp(source, "u");
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

/**
 * Checks that a schema is well formed: every keyword the validator acts on has a value of the right
 * shape (a subschema where one is expected, a non-negative integer for a length, a pattern that compiles
 * as a Unicode regular expression). A schema that fails here is the evaluator's input being broken, not
 * the model's fault. Unknown keywords are ignored, as the drafts require.
 */
export function checkSchema(schema: unknown, draft: SchemaDraft): SchemaIssue[] {
  const issues: SchemaIssue[] = [];
  const seen = new Set<object>();
  walk(schema, "", draft, issues, seen);
  return issues;
}

function walk(s: unknown, at: string, draft: SchemaDraft, issues: SchemaIssue[], seen: Set<object>) {
  const issue = (path: string, message: string) => issues.push({ path: path || "/", message });
  if (typeof s === "boolean") return;
  if (!isObject(s)) {
    issue(at, `a schema must be an object or a boolean, got ${describe(s)}`);
    return;
  }
  if (seen.has(s)) return;
  seen.add(s);
  const sub = (key: string, value: unknown) => walk(value, `${at}/${encodePointer(key)}`, draft, issues, seen);

  for (const key of ["$id", "$ref", "$anchor", "$schema", "$recursiveRef", "$dynamicRef", "$dynamicAnchor", "format"]) {
    if (key in s && typeof s[key] !== "string") issue(`${at}/${key}`, `${key} must be a string`);
  }
  if ("type" in s) {
    const t = s.type;
    const names = Array.isArray(t) ? t : [t];
    if (!names.every((n) => typeof n === "string" && TYPES.has(n))) {
      issue(`${at}/type`, `type must be one of ${[...TYPES].join(", ")} or an array of them`);
    }
  }
  if ("enum" in s && !Array.isArray(s.enum)) issue(`${at}/enum`, "enum must be an array");
  if ("required" in s && !(Array.isArray(s.required) && s.required.every((r) => typeof r === "string"))) {
    issue(`${at}/required`, "required must be an array of strings");
  }
  for (const key of COUNT_KEYWORDS) {
    if (key in s && !isCount(s[key])) issue(`${at}/${key}`, `${key} must be a non-negative integer`);
  }
  for (const key of ["minimum", "maximum"]) {
    if (key in s && typeof s[key] !== "number") issue(`${at}/${key}`, `${key} must be a number`);
  }
  for (const key of ["exclusiveMinimum", "exclusiveMaximum"]) {
    const ok = draft === "4" ? typeof s[key] === "boolean" : typeof s[key] === "number";
    if (key in s && !ok) issue(`${at}/${key}`, `${key} must be a ${draft === "4" ? "boolean" : "number"}`);
  }
  if ("multipleOf" in s && !(typeof s.multipleOf === "number" && s.multipleOf > 0)) {
    issue(`${at}/multipleOf`, "multipleOf must be a number greater than 0");
  }
  if ("uniqueItems" in s && typeof s.uniqueItems !== "boolean")
    issue(`${at}/uniqueItems`, "uniqueItems must be a boolean");
  if ("pattern" in s) {
    if (typeof s.pattern !== "string") issue(`${at}/pattern`, "pattern must be a string");
    else {
      const err = regexError(s.pattern);
      if (err) issue(`${at}/pattern`, `pattern does not compile: ${err}`);
    }
  }
  if (isObject(s.patternProperties)) {
    for (const p of Object.keys(s.patternProperties)) {
      const err = regexError(p);
      if (err) issue(`${at}/patternProperties/${encodePointer(p)}`, `pattern does not compile: ${err}`);
    }
  }
  if ("dependentRequired" in s) {
    const d = s.dependentRequired;
    const ok = isObject(d) && Object.values(d).every((v) => Array.isArray(v) && v.every((x) => typeof x === "string"));
    if (!ok) issue(`${at}/dependentRequired`, "dependentRequired must map names to arrays of strings");
  }
  if ("dependencies" in s) {
    if (!isObject(s.dependencies)) issue(`${at}/dependencies`, "dependencies must be an object");
    else {
      for (const [k, v] of Object.entries(s.dependencies)) {
        if (Array.isArray(v)) {
          if (!v.every((x) => typeof x === "string"))
            issue(`${at}/dependencies/${encodePointer(k)}`, "a dependency list must hold strings");
        } else walk(v, `${at}/dependencies/${encodePointer(k)}`, draft, issues, seen);
      }
    }
  }

  for (const key of SCHEMA_KEYWORDS) if (key in s) sub(key, s[key]);
  if ("items" in s) {
    if (Array.isArray(s.items) && draft !== "2020-12")
      for (const [i, v] of s.items.entries()) walk(v, `${at}/items/${i}`, draft, issues, seen);
    else if (Array.isArray(s.items))
      issue(`${at}/items`, "in draft 2020-12 items must be a schema; use prefixItems for tuples");
    else sub("items", s.items);
  }
  for (const key of SCHEMA_ARRAY_KEYWORDS) {
    if (!(key in s)) continue;
    const v = s[key];
    if (!Array.isArray(v) || (v.length === 0 && key !== "prefixItems")) {
      issue(`${at}/${key}`, `${key} must be a non-empty array of schemas`);
      continue;
    }
    for (const [i, x] of v.entries()) walk(x, `${at}/${key}/${i}`, draft, issues, seen);
  }
  for (const key of SCHEMA_MAP_KEYWORDS) {
    if (!(key in s)) continue;
    const v = s[key];
    if (!isObject(v)) {
      issue(`${at}/${key}`, `${key} must be an object of schemas`);
      continue;
    }
    for (const [k, x] of Object.entries(v)) walk(x, `${at}/${key}/${encodePointer(k)}`, draft, issues, seen);
  }
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  return `a ${typeof v}`;
}
