// The training container's Python tests (gpu-jobs/container/tests), one vitest test per Python test: the
// client's retries, backoff and idempotent replays against real loopback HTTP servers, the CPU reference
// trainer's learning and GRPO math, the TRL trainers' TRL-free glue, and whole GRPO / SFT / DPO / KTO runs of
// the image's entrypoint against TRL stand-ins (gpu-jobs/container/tests/standins). Standard library only: TRL
// and torch are not installed here or in CI.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = join(__dirname, "../..");
const PYTHON = process.env.ASSAY_PYTHON || "python3";

interface Outcome {
  status: "ok" | "fail" | "error" | "skip";
  detail: string;
}

const run = spawnSync(PYTHON, [join(ROOT, "gpu-jobs/container/tests/run_json.py")], {
  cwd: ROOT,
  encoding: "utf8",
  timeout: 120_000,
  maxBuffer: 64 * 1024 * 1024,
});
const outcomes: Record<string, Outcome> = run.status === 0 ? JSON.parse(run.stdout) : {};

const byClass = new Map<string, [string, Outcome][]>();
for (const [id, outcome] of Object.entries(outcomes)) {
  const parts = id.split(".");
  const method = parts.pop()!;
  const key = parts.join(".");
  byClass.set(key, [...(byClass.get(key) ?? []), [method, outcome]]);
}

const sentence = (method: string) => method.replace(/^test_/, "").replaceAll("_", " ");

describe("container Python tests", () => {
  it("runs every suite: the client, the CPU trainers, the TRL glue and GRPO runs, the SFT/DPO/KTO trainers", () => {
    expect(run.status, `${run.error ?? ""}\n${run.stderr}`).toBe(0);
    const modules = [...new Set(Object.keys(outcomes).map((id) => id.split(".")[0]))].sort();
    expect(modules).toEqual(["test_client", "test_cpu_pref", "test_cpu_trainer", "test_trl_glue", "test_trl_pref"]);
  });

  for (const [cls, tests] of byClass) {
    describe(cls, () => {
      for (const [method, outcome] of tests) {
        // Skipped exactly when Python's unittest skipped it (today: only the TRL-free check, where TRL is installed).
        const skipped = outcome.status === "skip";
        it.skipIf(skipped)(`${sentence(method)}${skipped ? ` (${outcome.detail})` : ""}`, () =>
          expect(outcome, outcome.detail).toEqual({ status: "ok", detail: "" }),
        );
      }
    });
  }
});
