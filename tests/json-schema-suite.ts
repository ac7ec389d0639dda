import type { Draft, RegisteredSchema } from "../rewards/verifiers/json-schema";
import { compileSchemaSync, contentHash } from "../rewards/verifiers/json-schema";

/**
 * The JSON-Schema-Test-Suite run shared by the Node and workerd conformance tests. Each case is named
 * `<draft>/<file> | <group> | <test>`; what fails is compared with tests/json-schema-known-failures.json.
 */
export const SUITE_DIR = "json/JSON-Schema-Test-Suite";
export const SUITE_DRAFTS: { dir: string; draft: Draft }[] = [
  { dir: "draft7", draft: "7" },
  { dir: "draft2019-09", draft: "2019-09" },
  { dir: "draft2020-12", draft: "2020-12" },
];
/** The other optional tests (files directly in it), under each draft's folder. */
export const OPTIONAL_DIR = "optional";
/** The optional tests of `format` as an assertion, under each draft's folder. */
export const FORMAT_DIR = "optional/format";
/** Where the suite's remotes are served from, by its own convention. */
export const REMOTE_BASE = "http://localhost:1234/";

export interface SuiteIndex {
  remotes: string[];
  tests: Record<string, string[]>;
}

interface Group {
  description: string;
  schema: unknown;
  tests: { description: string; data: unknown; valid: boolean }[];
}

export function remoteRegistry(remotes: { path: string; schema: unknown }[]): Map<string, RegisteredSchema> {
  return new Map(
    remotes.map(({ path, schema }) => {
      const id = REMOTE_BASE + path;
      return [id, { id, sha256: contentHash(schema), schema: schema as object }];
    }),
  );
}

export interface SuiteOutcome {
  total: number;
  passed: number;
  failures: string[];
}

/**
 * Runs one draft's tests; `files` are the parsed test files by name (relative to the draft's folder).
 * The required tests run with `format` as an annotation (the suite's default), `optional/format` with
 * `format: "assert"`.
 */
export function runDraft(
  dir: string,
  draft: Draft,
  files: { name: string; groups: Group[] }[],
  registered: Map<string, RegisteredSchema>,
  format: "assert" | "annotate" = "annotate",
): SuiteOutcome {
  const failures: string[] = [];
  let total = 0;
  for (const { name, groups } of files) {
    for (const g of groups) {
      for (const t of g.tests) {
        total++;
        let got: boolean | string;
        try {
          got = compileSchemaSync(g.schema, { draft, format, registered }).validate(t.data).valid;
        } catch (err) {
          got = `error: ${(err as Error).message}`;
        }
        if (got !== t.valid) failures.push(`${dir}/${name} | ${g.description} | ${t.description}`);
      }
    }
  }
  return { total, passed: total - failures.length, failures };
}

/** Exactly what changed against the known failures, for the assertion message. */
export function diffKnown(actual: string[], known: string[]): { newlyFailing: string[]; newlyPassing: string[] } {
  const a = new Set(actual);
  const k = new Set(known);
  return {
    newlyFailing: actual.filter((x) => !k.has(x)),
    newlyPassing: known.filter((x) => !a.has(x)),
  };
}

export function describeDiff(draft: string, d: { newlyFailing: string[]; newlyPassing: string[] }): string {
  const lines = [`${draft}: the failures differ from tests/json-schema-known-failures.json`];
  if (d.newlyFailing.length) lines.push("  newly FAILING:", ...d.newlyFailing.map((x) => `    - ${x}`));
  if (d.newlyPassing.length)
    lines.push("  newly PASSING (remove from the list):", ...d.newlyPassing.map((x) => `    + ${x}`));
  lines.push(
    "  (UPDATE_KNOWN_FAILURES=1 npx vitest run --project node tests/node/json-schema-conformance.test.ts rewrites it)",
  );
  return lines.join("\n");
}
