#!/usr/bin/env node
// `npm run bench [-- name ...]`: runs every tests/bench/*.bench.ts (or those whose names contain one of
// the given words) one after another, each printing its side-by-side comparison with a peer.
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const dir = join(root, "tests", "bench");
const filters = process.argv.slice(2);
const files = readdirSync(dir)
  .filter((f) => /\.bench\.(ts|mjs)$/.test(f))
  .filter((f) => filters.length === 0 || filters.some((w) => f.includes(w)))
  .sort();
if (files.length === 0) {
  console.error(`no benchmark matches ${filters.join(", ")}`);
  process.exit(2);
}
let failed = 0;
for (const f of files) {
  console.log(`\n# ${f}`);
  const res = spawnSync(
    join(root, "node_modules", ".bin", "tsx"),
    ["--import", "./scripts/node-data-imports.mjs", join(dir, f)],
    {
      cwd: root,
      stdio: "inherit",
      env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
    },
  );
  if (res.status !== 0) {
    failed++;
    console.error(`! ${f} failed (exit ${res.status})`);
  }
}
process.exit(failed ? 1 : 0);
