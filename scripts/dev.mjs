#!/usr/bin/env node
// `npm run dev [-- <wrangler dev flags>]`: prepares a fresh clone (local secrets, local D1 migrations)
// and then runs the Worker in workerd with local D1, R2, Queues and cron under .wrangler/.
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { appendFileSync, copyFileSync, existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const env = { ...process.env, WRANGLER_SEND_METRICS: "false" };
const wrangler = join(root, "node_modules", ".bin", "wrangler");

if (!existsSync(join(root, ".dev.vars"))) {
  copyFileSync(join(root, ".dev.vars.example"), join(root, ".dev.vars"));
  console.log("[assay] created .dev.vars from .dev.vars.example (admin key: see ASSAY_ADMIN_KEY there)");
}
// Each clone gets its own key for secrets at rest, generated once and kept (rotating it would make the
// stored feedback-source secrets unreadable).
const devVars = join(root, ".dev.vars");
if (!/^ASSAY_ENCRYPTION_KEY=\S+/m.test(readFileSync(devVars, "utf8"))) {
  const text = readFileSync(devVars, "utf8");
  appendFileSync(
    devVars,
    `${text.endsWith("\n") || !text ? "" : "\n"}ASSAY_ENCRYPTION_KEY=${randomBytes(32).toString("base64")}\n`,
  );
  console.log("[assay] generated ASSAY_ENCRYPTION_KEY into .dev.vars");
}

const migrate = spawnSync(wrangler, ["d1", "migrations", "apply", "DB", "--local"], {
  cwd: root,
  env,
  stdio: ["ignore", "inherit", "inherit"],
});
if (migrate.status !== 0) {
  console.error("[assay] applying local D1 migrations failed");
  process.exit(migrate.status ?? 1);
}

const args = ["dev", "--test-scheduled", ...process.argv.slice(2)];
const child = spawn(wrangler, args, { cwd: root, env, stdio: "inherit" });
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => child.kill(sig));
child.on("exit", (code, signal) => process.exit(signal ? 1 : (code ?? 0)));
