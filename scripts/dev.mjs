#!/usr/bin/env node
// `npm run dev [-- <wrangler dev flags>]`: prepares a fresh clone (local secrets, local D1 migrations)
// and then runs the Worker in workerd with local D1, R2, Queues and cron under .wrangler/.
import { spawn, spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ensureDevVars } from "./dev-vars.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const env = { ...process.env, WRANGLER_SEND_METRICS: "false" };
const wrangler = join(root, "node_modules", ".bin", "wrangler");

for (const line of ensureDevVars(root)) console.log(`[assay] ${line}`);

const migrate = spawnSync(wrangler, ["d1", "migrations", "apply", "DB", "--local"], {
  cwd: root,
  env,
  stdio: ["ignore", "inherit", "inherit"],
});
if (migrate.status !== 0) {
  console.error("[assay] applying local D1 migrations failed");
  process.exit(migrate.status ?? 1);
}

// Outgoing webhooks may reach loopback and private addresses only here: a local receiver is the point of
// local development, and production never sets this variable.
const args = ["dev", "--test-scheduled", "--var", "ASSAY_ALLOW_PRIVATE_WEBHOOKS:1", ...process.argv.slice(2)];
const child = spawn(wrangler, args, { cwd: root, env, stdio: "inherit" });
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => child.kill(sig));
child.on("exit", (code, signal) => process.exit(signal ? 1 : (code ?? 0)));
