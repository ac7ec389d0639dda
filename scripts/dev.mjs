#!/usr/bin/env node
// `npm run dev [-- <wrangler dev flags>]`: prepares a fresh clone (local secrets, local D1 migrations)
// and then runs the platform in workerd with local D1, R2, Queues and cron under .wrangler/: the sandbox
// Workers, two copies of each (sandbox/js/wrangler.toml on 127.0.0.1:8788 and 8790, sandbox/python/wrangler.toml
// on 8789 and 8791), each in a process of its own, so that a long sandbox run never holds the main Worker's
// thread and a batch uses two cores, then the main Worker (8787). Its SANDBOX_JS and SANDBOX_PYTHON
// service bindings find the sandboxes through a dev registry kept in .wrangler/registry, but a binding
// across `wrangler dev` processes is proxied by wrangler's Node process, which costs as much CPU as the
// scoring; so the main Worker is given the sandboxes' loopback URLs (ASSAY_SANDBOX_JS_URLS,
// ASSAY_SANDBOX_PYTHON_URLS) and calls them directly (functions/lib/services.ts). ASSAY_JS_SANDBOXES=1 and
// ASSAY_PYTHON_SANDBOXES=1 start a single copy (the Python one holds ~250 MB or more once warm).
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

const copiesOf = (variable) => Math.max(1, Math.min(8, Number(process.env[variable] ?? 2) || 2));
let extraPort = 8790;
/** `count` copies of one sandbox Worker: the first on its own port, the others on 8790, 8791, … */
const copies = (name, count, port) =>
  Array.from({ length: count }, (_, i) => ({
    name,
    // The copies after the first register under names of their own, so the registry keeps the first.
    as: i === 0 ? undefined : `assay-sandbox-${name}-${i + 1}`,
    port: String(i === 0 ? port : extraPort++),
  }));
const sandboxes = [
  ...copies("js", copiesOf("ASSAY_JS_SANDBOXES"), process.env.ASSAY_SANDBOX_JS_PORT ?? "8788"),
  ...copies("python", copiesOf("ASSAY_PYTHON_SANDBOXES"), process.env.ASSAY_SANDBOX_PYTHON_PORT ?? "8789"),
];
const urlsOf = (name) =>
  sandboxes
    .filter((s) => s.name === name)
    .map((s) => `http://127.0.0.1:${s.port}`)
    .join(",");
/** @type {import("node:child_process").ChildProcess | undefined} */
let main;
/** @type {import("node:child_process").ChildProcess[]} */
const children = [];
function stopAll(code) {
  main?.kill("SIGTERM");
  for (const c of children) c.kill("SIGTERM");
  process.exit(code);
}
for (const { name, as, port } of sandboxes) {
  const child = spawn(
    wrangler,
    [
      "dev",
      "-c",
      `sandbox/${name}/wrangler.toml`,
      ...(as ? ["--name", as] : []),
      "--ip",
      "127.0.0.1",
      "--port",
      port,
      "--inspector-port",
      `${await freePort()}`,
    ],
    { cwd: root, env, stdio: ["ignore", "inherit", "inherit"] },
  );
  children.push(child);
  child.on("exit", (code, signal) => {
    console.error(`[assay] the ${name} sandbox Worker stopped (${signal ?? `exit ${code}`}); stopping`);
    stopAll(1);
  });
}
for (const { name, port } of sandboxes) {
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) break;
    } catch {}
    if (i > 300) {
      console.error(`[assay] the ${name} sandbox Worker did not answer in 60 s`);
      stopAll(1);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

// Outgoing webhooks may reach loopback and private addresses only here: a local receiver is the point of
// local development, and production never sets this variable.
const args = [
  "dev",
  "--test-scheduled",
  "--var",
  "ASSAY_ALLOW_PRIVATE_WEBHOOKS:1",
  "--var",
  `ASSAY_SANDBOX_JS_URLS:${urlsOf("js")}`,
  "--var",
  `ASSAY_SANDBOX_PYTHON_URLS:${urlsOf("python")}`,
  ...process.argv.slice(2),
];
main = spawn(wrangler, args, { cwd: root, env, stdio: "inherit" });
for (const sig of ["SIGINT", "SIGTERM"])
  process.on(sig, () => {
    main.kill(sig);
    for (const c of children) c.kill(sig);
  });
main.on("exit", (code, signal) => {
  for (const c of children) {
    c.removeAllListeners("exit");
    c.kill("SIGTERM");
  }
  process.exit(signal ? 1 : (code ?? 0));
});
