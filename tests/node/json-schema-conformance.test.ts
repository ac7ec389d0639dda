import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { CORPORA_DIR } from "../global-setup";
import {
  describeDiff,
  diffKnown,
  FORMAT_DIR,
  OPTIONAL_DIR,
  remoteRegistry,
  runDraft,
  SUITE_DIR,
  SUITE_DRAFTS,
  type SuiteIndex,
} from "../json-schema-suite";

const SUITE = join(CORPORA_DIR, SUITE_DIR);
const KNOWN_FILE = resolve(__dirname, "../json-schema-known-failures.json");
const INDEX_FILE = resolve(__dirname, "../json-schema-suite-index.json");
const present = existsSync(join(SUITE, "tests"));
if (!present) console.warn(`JSON-Schema-Test-Suite not found at ${SUITE}: skipping the JSON Schema conformance tests`);

const update = process.env.UPDATE_KNOWN_FAILURES === "1";
const readJson = (p: string) => JSON.parse(readFileSync(p, "utf8"));

function walk(dir: string): string[] {
  return readdirSync(dir)
    .flatMap((f) => (statSync(join(dir, f)).isDirectory() ? walk(join(dir, f)) : [join(dir, f)]))
    .sort();
}

describe.skipIf(!present)("JSON-Schema-Test-Suite (required tests, read from disk)", () => {
  const index: SuiteIndex = {
    remotes: present ? walk(join(SUITE, "remotes")).map((f) => relative(join(SUITE, "remotes"), f)) : [],
    tests: Object.fromEntries(
      SUITE_DRAFTS.flatMap(({ dir }) =>
        [dir, `${dir}/${OPTIONAL_DIR}`, `${dir}/${FORMAT_DIR}`].map((d) => [
          d,
          present
            ? readdirSync(join(SUITE, "tests", d))
                .filter((f) => f.endsWith(".json"))
                .sort()
            : [],
        ]),
      ),
    ),
  };
  const registered = remoteRegistry(
    index.remotes.map((path) => ({ path, schema: readJson(join(SUITE, "remotes", path)) })),
  );
  const known: Record<string, string[]> = existsSync(KNOWN_FILE) ? readJson(KNOWN_FILE) : {};
  const results: Record<string, string[]> = {};

  it("has an up-to-date file index for the workerd run", () => {
    if (update) writeFileSync(INDEX_FILE, `${JSON.stringify(index, null, 2)}\n`);
    expect(readJson(INDEX_FILE)).toEqual(index);
  });

  // Required and other optional tests with `format` as an annotation (the suite's default); optional/format
  // with it asserted.
  const runs = SUITE_DRAFTS.flatMap(({ dir, draft }) => [
    { key: dir, dir, draft, format: "annotate" as const, label: `${dir} required tests (format: annotate)` },
    {
      key: `${dir}/${OPTIONAL_DIR}`,
      dir,
      draft,
      format: "annotate" as const,
      label: `${dir} ${OPTIONAL_DIR} tests (format: annotate)`,
    },
    {
      key: `${dir}/${FORMAT_DIR}`,
      dir,
      draft,
      format: "assert" as const,
      label: `${dir} ${FORMAT_DIR} tests (format: assert)`,
    },
  ]);
  for (const { key, dir, draft, format, label } of runs) {
    it(`fails exactly the known ${label}`, () => {
      const prefix = key === dir ? "" : `${key.slice(dir.length + 1)}/`;
      const files = index.tests[key]!.map((name) => ({
        name: prefix + name,
        groups: readJson(join(SUITE, "tests", key, name)),
      }));
      const out = runDraft(dir, draft, files, registered, format);
      console.log(`${label}: ${out.passed}/${out.total} passed`);
      results[key] = out.failures;
      if (update) {
        known[key] = out.failures;
        writeFileSync(KNOWN_FILE, `${JSON.stringify(known, null, 2)}\n`);
      }
      const d = diffKnown(out.failures, known[key] ?? []);
      if (d.newlyFailing.length || d.newlyPassing.length) expect.fail(describeDiff(key, d));
      expect(out.total).toBeGreaterThan(key === dir ? 900 : 100);
    });
  }
});
