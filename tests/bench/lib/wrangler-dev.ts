import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { ascending } from "../../../rewards/core/stats";

export const ROOT = resolve(import.meta.dirname, "../../..");
const WRANGLER = join(ROOT, "node_modules", ".bin", "wrangler");
const ENV = { ...process.env, WRANGLER_SEND_METRICS: "false" };

export interface DevServer {
  url: string;
  adminKey: string;
  persistTo: string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once("error", fail);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => ok(port));
    });
  });
}

/**
 * Starts the Worker under `wrangler dev` on loopback with its own fresh local state (migrations applied),
 * the way `npm run dev` does, and waits until /healthz answers.
 */
export async function startDev(
  opts: { port?: number; beforeStart?: (persistTo: string) => Promise<void> } = {},
): Promise<DevServer> {
  const persistTo = mkdtempSync(join(tmpdir(), "assay-bench-"));
  const adminKey = "bench-admin-key";
  const migrate = spawnSync(WRANGLER, ["d1", "migrations", "apply", "DB", "--local", "--persist-to", persistTo], {
    cwd: ROOT,
    env: ENV,
    encoding: "utf8",
  });
  if (migrate.status !== 0) throw new Error(`migrations failed: ${migrate.stderr}`);
  // Seeding the local state before the server starts (e.g. rows no route writes yet).
  if (opts.beforeStart) await opts.beforeStart(persistTo);
  const port = opts.port ?? (await freePort());
  const child: ChildProcess = spawn(
    WRANGLER,
    [
      "dev",
      "--ip",
      "127.0.0.1",
      "--port",
      String(port),
      "--persist-to",
      persistTo,
      "--var",
      `ASSAY_ADMIN_KEY:${adminKey}`,
      "--var",
      `ASSAY_ENCRYPTION_KEY:${randomBytes(32).toString("base64")}`,
    ],
    { cwd: ROOT, env: ENV, stdio: ["ignore", "pipe", "pipe"], detached: true },
  );
  let log = "";
  child.stdout?.on("data", (d) => (log += d));
  child.stderr?.on("data", (d) => (log += d));
  const url = `http://127.0.0.1:${port}`;
  const started = Date.now();
  for (;;) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited: ${log.slice(-2000)}`);
    try {
      const res = await fetch(`${url}/healthz`);
      if (res.ok) break;
    } catch {}
    if (Date.now() - started > 60_000) throw new Error(`wrangler dev did not answer in 60 s: ${log.slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    url,
    adminKey,
    persistTo,
    async stop() {
      try {
        process.kill(-child.pid!, "SIGTERM");
      } catch {}
      await new Promise((r) => setTimeout(r, 300));
      rmSync(persistTo, { recursive: true, force: true });
    },
  };
}

export async function api(server: DevServer, method: string, path: string, body?: unknown, key = server.adminKey) {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${text.slice(0, 500)}`);
  return JSON.parse(text);
}

export function fmt(n: number, digits = 0) {
  return n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

/** Posts `body` to POST /v1/graders/run `times` times (after one warm-up) and returns sorted latencies in ms. */
export async function batchLatencies(server: DevServer, body: unknown, times: number, key = server.adminKey) {
  const text = JSON.stringify(body);
  const lat: number[] = [];
  for (let i = 0; i <= times; i++) {
    const t0 = performance.now();
    const res = await fetch(`${server.url}/v1/graders/run`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: text,
    });
    const out = await res.text();
    if (!res.ok) throw new Error(`POST /v1/graders/run: HTTP ${res.status} ${out.slice(0, 500)}`);
    if (i > 0) lat.push(performance.now() - t0);
  }
  return ascending(lat);
}
