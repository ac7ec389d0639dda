import { describe, expect, it } from "vitest";
import index from "../json-schema-known-failures.json";
import { describeDiff, diffKnown, FORMAT_DIR, remoteRegistry, runDraft, SUITE_DIR } from "../json-schema-suite";
import suiteIndex from "../json-schema-suite-index.json";
import { corpus, hasCorpora } from "./corpora";

const known = index as Record<string, string[]>;
const tests = suiteIndex.tests as Record<string, string[]>;

if (!hasCorpora()) console.warn("../shared/corpora is absent: skipping the JSON Schema conformance run in workerd");

describe.runIf(hasCorpora())("JSON-Schema-Test-Suite draft 2020-12 inside workerd", () => {
  const fetchJson = async (path: string) => (await corpus(`${SUITE_DIR}/${path}`))!.json();
  const load = async (folder: string, prefix: string) =>
    Promise.all(
      tests[folder]!.map(async (name) => ({
        name: prefix + name,
        groups: (await fetchJson(`tests/${folder}/${name}`)) as any,
      })),
    );
  const registry = async () =>
    remoteRegistry(
      await Promise.all(suiteIndex.remotes.map(async (path) => ({ path, schema: await fetchJson(`remotes/${path}`) }))),
    );

  it("fails exactly the required cases it fails in Node (format as an annotation)", async () => {
    const out = runDraft("draft2020-12", "2020-12", await load("draft2020-12", ""), await registry(), "annotate");
    console.log(`draft2020-12 in workerd: ${out.passed}/${out.total} passed`);
    const d = diffKnown(out.failures, known["draft2020-12"] ?? []);
    if (d.newlyFailing.length || d.newlyPassing.length) expect.fail(describeDiff("draft2020-12 (workerd)", d));
    expect(out.total).toBe(1299);
  });

  it("fails exactly the optional/format cases it fails in Node (format asserted)", async () => {
    const key = `draft2020-12/${FORMAT_DIR}`;
    const out = runDraft("draft2020-12", "2020-12", await load(key, `${FORMAT_DIR}/`), await registry(), "assert");
    console.log(`${key} in workerd: ${out.passed}/${out.total} passed`);
    const d = diffKnown(out.failures, known[key] ?? []);
    if (d.newlyFailing.length || d.newlyPassing.length) expect.fail(describeDiff(`${key} (workerd)`, d));
    expect(out.total).toBe(764);
  });
});
