#!/usr/bin/env node
// Runs before `npm run dev` and `npm test`: a fresh clone (no node_modules) or a lockfile newer than the
// last install gets `npm ci` first, so the README's two commands work with nothing run before them.
// Uses only Node's own modules, since it runs before anything is installed.
import { spawnSync } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const lock = join(root, "package-lock.json");
// npm writes node_modules/.package-lock.json at the end of every install.
const installed = join(root, "node_modules", ".package-lock.json");

const stale = !existsSync(installed) || statSync(installed).mtimeMs < statSync(lock).mtimeMs;
if (stale) {
  console.log("[assay] node_modules is missing or older than package-lock.json: running npm ci");
  const npm = process.platform === "win32" ? "npm.cmd" : "npm";
  const r = spawnSync(npm, ["ci", "--no-audit", "--no-fund"], { cwd: root, stdio: "inherit" });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
