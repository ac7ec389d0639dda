#!/usr/bin/env node
// `npm run sandbox:build`: bundles the two sandbox Workers (sandbox/js/wrangler.toml, sandbox/python/wrangler.toml)
// into dist/sandbox-js and dist/sandbox-python the way `wrangler deploy` would (`--dry-run --outdir`), for the
// vitest pool, which runs them as auxiliary Workers beside the main one and cannot bundle them itself.
// Prints each bundle's size as wrangler reports it.
import { spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const SANDBOX_WORKERS = ["js", "python"];

for (const name of SANDBOX_WORKERS) {
  const out = join(ROOT, "dist", `sandbox-${name}`);
  rmSync(out, { recursive: true, force: true });
  const r = spawnSync(
    join(ROOT, "node_modules", ".bin", "wrangler"),
    ["deploy", "--dry-run", "--outdir", out, "-c", join(ROOT, "sandbox", name, "wrangler.toml")],
    { cwd: ROOT, env: { ...process.env, WRANGLER_SEND_METRICS: "false" }, encoding: "utf8" },
  );
  if (r.status !== 0) {
    process.stderr.write(r.stdout + r.stderr);
    process.exit(r.status ?? 1);
  }
  const size = /Total Upload: .*/.exec(r.stdout)?.[0] ?? "(size not reported)";
  console.log(`[sandbox:build] dist/sandbox-${name}: ${size}`);
}
rmSync(join(ROOT, "dist", "sandbox"), { recursive: true, force: true });
