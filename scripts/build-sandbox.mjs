#!/usr/bin/env node
// `npm run sandbox:build`: bundles the sandbox Worker (sandbox/wrangler.toml) into dist/sandbox the way
// `wrangler deploy` would (`--dry-run --outdir`), for the vitest pool, which runs it as an auxiliary Worker
// beside the main one and cannot bundle it itself. Prints the bundle's size as wrangler reports it.
import { spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const OUT = join(ROOT, "dist", "sandbox");
rmSync(OUT, { recursive: true, force: true });
const r = spawnSync(
  join(ROOT, "node_modules", ".bin", "wrangler"),
  ["deploy", "--dry-run", "--outdir", OUT, "-c", join(ROOT, "sandbox", "wrangler.toml")],
  { cwd: ROOT, env: { ...process.env, WRANGLER_SEND_METRICS: "false" }, encoding: "utf8" },
);
if (r.status !== 0) {
  process.stderr.write(r.stdout + r.stderr);
  process.exit(r.status ?? 1);
}
const size = /Total Upload: .*/.exec(r.stdout)?.[0] ?? "(size not reported)";
console.log(`[sandbox:build] dist/sandbox: ${size}`);
