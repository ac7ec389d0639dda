#!/usr/bin/env node
// `npm run dev [-- <wrangler dev flags>]`: prepares a fresh clone (local secrets, local D1 migrations)
// and then runs the platform in workerd with local D1, R2, Queues and cron under .wrangler/: the sandbox
// Worker (sandbox/wrangler.toml, on 127.0.0.1:8788) in a process of its own, so that a long sandbox run
// never holds the main Worker's thread, then the main Worker (8787), which reaches it through its SANDBOX
// service binding. The two find each other through a dev registry kept in .wrangler/registry.
import { spawn, spawnSync } from "node:child_process";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ensureDevVars } from "./dev-vars.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const env = {
  ...process.env,
  WRANGLER_SEND_METRICS: "false",
  WRANGLER_REGISTRY_PATH: process.env.WRANGLER_REGISTRY_PATH ?? join(root, ".wrangler", "registry"),
};
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

/** A free loopback port (the sandbox's devtools port: the main Worker keeps wrangler's default). */
function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once("error", fail);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

const sandboxPort = process.env.ASSAY_SANDBOX_PORT ?? "8788";
/** @type {import("node:child_process").ChildProcess | undefined} */
let main;
const sandbox = spawn(
  wrangler,
  [
    "dev",
    "-c",
    "sandbox/wrangler.toml",
    "--ip",
    "127.0.0.1",
    "--port",
    sandboxPort,
    "--inspector-port",
    `${await freePort()}`,
  ],
  { cwd: root, env, stdio: ["ignore", "inherit", "inherit"] },
);
sandbox.on("exit", (code, signal) => {
  console.error(`[assay] the sandbox Worker stopped (${signal ?? `exit ${code}`}); stopping`);
  main?.kill("SIGTERM");
  process.exit(1);
});
for (let i = 0; ; i++) {
  try {
    if ((await fetch(`http://127.0.0.1:${sandboxPort}/healthz`)).ok) break;
  } catch {}
  if (i > 300) {
    console.error("[assay] the sandbox Worker did not answer in 60 s");
    sandbox.kill("SIGTERM");
    process.exit(1);
  }
  await new Promise((r) => setTimeout(r, 200));
}

// Outgoing webhooks may reach loopback and private addresses only here: a local receiver is the point of
// local development, and production never sets this variable.
const args = ["dev", "--test-scheduled", "--var", "ASSAY_ALLOW_PRIVATE_WEBHOOKS:1", ...process.argv.slice(2)];
main = spawn(wrangler, args, { cwd: root, env, stdio: "inherit" });
for (const sig of ["SIGINT", "SIGTERM"])
  process.on(sig, () => {
    main.kill(sig);
    sandbox.kill(sig);
  });
main.on("exit", (code, signal) => {
  sandbox.removeAllListeners("exit");
  sandbox.kill("SIGTERM");
  process.exit(signal ? 1 : (code ?? 0));
});
