import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { devVarsAdminKey, parseArgs, UsageError } from "../../gpu-jobs/runner/runner";
import { sparkline } from "../../scripts/demo";

const dir = mkdtempSync(join(tmpdir(), "assay-runner-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function repoWith(devVars: string | null): string {
  const root = mkdtempSync(join(dir, "repo-"));
  if (devVars !== null) writeFileSync(join(root, ".dev.vars"), devVars);
  return root;
}

describe("runner options", () => {
  it("defaults to the local dev API, one run at a time, the CPU trainer and the admin key from .dev.vars", () => {
    const root = repoWith("# local\nAWS_ACCESS_KEY_ID=x\nASSAY_ADMIN_KEY=assay-dev-admin-key\n");
    const opts = parseArgs([], {}, root);
    expect({ ...opts, name: "" }).toEqual({
      api: "http://127.0.0.1:8787",
      apiKey: "assay-dev-admin-key",
      concurrency: 1,
      once: false,
      poll: 2,
      maxIdle: 0,
      grace: 60,
      python: "python3",
      trainer: join(root, "gpu-jobs", "container", "cpu_trainer.py"),
      containerApiUrl: null,
      name: "",
    });
  });

  it("takes the URL, key and interpreter from the environment and the rest from flags", () => {
    const opts = parseArgs(
      ["--once", "--concurrency", "3", "--poll", "0.5", "--max-idle", "10", "--grace", "5", "--name", "ci"],
      { ASSAY_API_URL: "http://127.0.0.1:9999/", ASSAY_API_KEY: "ak_123", ASSAY_PYTHON: "/usr/bin/python3.11" },
      repoWith(null),
    );
    expect(opts).toMatchObject({
      api: "http://127.0.0.1:9999",
      apiKey: "ak_123",
      once: true,
      concurrency: 3,
      poll: 0.5,
      maxIdle: 10,
      grace: 5,
      python: "/usr/bin/python3.11",
      name: "ci",
    });
    expect(parseArgs(["--api", "http://h:1", "-j", "2"], { ASSAY_API_KEY: "k" }, repoWith(null))).toMatchObject({
      api: "http://h:1",
      concurrency: 2,
    });
  });

  it("refuses unknown flags, missing values and a missing key with a usage error", () => {
    const root = repoWith(null);
    const cases: [string[], RegExp][] = [
      [["--bogus"], /unknown argument --bogus/],
      [["--concurrency", "0"], /--concurrency needs a number >= 1/],
      [["--api"], /--api needs a value/],
      [["--poll", "soon"], /--poll needs a number/],
    ];
    for (const [argv, message] of cases) {
      expect(() => parseArgs(argv, { ASSAY_API_KEY: "k" }, root)).toThrow(message);
      expect(() => parseArgs(argv, { ASSAY_API_KEY: "k" }, root)).toThrow(UsageError);
    }
    expect(() => parseArgs([], {}, root)).toThrow(/no API key: set ASSAY_API_KEY/);
  });

  it("reads the admin key from .dev.vars with or without quotes", () => {
    expect(devVarsAdminKey(join(repoWith('ASSAY_ADMIN_KEY="quoted key"\n'), ".dev.vars"))).toBe("quoted key");
    expect(devVarsAdminKey(join(repoWith("ASSAY_ADMIN_KEY = plain\r\n"), ".dev.vars"))).toBe("plain");
    expect(devVarsAdminKey(join(repoWith("OTHER=1\n"), ".dev.vars"))).toBeNull();
    expect(devVarsAdminKey(join(dir, "missing", ".dev.vars"))).toBeNull();
  });
});

describe("demo sparkline", () => {
  it("draws one bar per value from the lowest for 0 to the highest for 1", () => {
    expect(sparkline([0, 0.5, 1])).toBe("▁▅█");
    expect(sparkline([])).toBe("");
  });

  it("averages neighbouring values to fit the width", () => {
    expect(sparkline([0, 0, 1, 1, 0.5, 0.5], 3)).toBe("▁█▅");
  });
});
