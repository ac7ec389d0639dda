import { describe, expect, it } from "vitest";
import index from "../json-schema-known-failures.json";
import { describeDiff, diffKnown, remoteRegistry, runDraft, SUITE_DIR } from "../json-schema-suite";
import suiteIndex from "../json-schema-suite-index.json";
import { corpus, hasCorpora } from "./corpora";

const known = index as Record<string, string[]>;

if (!hasCorpora()) console.warn("../shared/corpora is absent: skipping the JSON Schema conformance run in workerd");

describe.runIf(hasCorpora())("JSON-Schema-Test-Suite draft 2020-12 inside workerd", () => {
  it("fails exactly the cases it fails in Node", async () => {
    const fetchJson = async (path: string) => (await corpus(`${SUITE_DIR}/${path}`))!.json();
    const remotes = await Promise.all(
      suiteIndex.remotes.map(async (path) => ({ path, schema: await fetchJson(`remotes/${path}`) })),
    );
    const files = await Promise.all(
      suiteIndex.tests["draft2020-12"].map(async (name) => ({
        name,
        groups: (await fetchJson(`tests/draft2020-12/${name}`)) as any,
      })),
    );
    const out = runDraft("draft2020-12", "2020-12", files, remoteRegistry(remotes));
    console.log(`draft2020-12 in workerd: ${out.passed}/${out.total} passed`);
    const d = diffKnown(out.failures, known["draft2020-12"] ?? []);
    if (d.newlyFailing.length || d.newlyPassing.length) expect.fail(describeDiff("draft2020-12 (workerd)", d));
    expect(out.total).toBe(1299);
  });
});
