import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
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
  /** The main Worker's `wrangler dev` (its process group's leader). */
  mainPid: number;
  /** The sandbox Workers' own `wrangler dev` (two copies each of sandbox/js and sandbox/python), each a process of its own. */
  sandboxes: Record<"js" | "js2" | "python" | "python2", { url: string; pid: number }>;
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
 * The sandbox Workers' processes, as scripts/dev.mjs starts them: two copies of each sandbox Worker (one
 * workerd thread each, so a batch uses both cores; the second under its own name in the dev registry).
 */
const SANDBOX_PROCESSES = [
  ["js", "js", undefined],
  ["js2", "js", "assay-sandbox-js-2"],
  ["python", "python", undefined],
  ["python2", "python", "assay-sandbox-python-2"],
] as const;

/** Spawns `wrangler dev` in its own process group and waits until `url`/healthz answers. */
async function spawnDev(args: string[], url: string, env: NodeJS.ProcessEnv): Promise<ChildProcess> {
  const child: ChildProcess = spawn(WRANGLER, ["dev", ...args], {
    cwd: ROOT,
    env,
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let log = "";
  child.stdout?.on("data", (d) => (log += d));
  child.stderr?.on("data", (d) => (log += d));
  const started = Date.now();
  for (;;) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited: ${log.slice(-2000)}`);
    try {
      const res = await fetch(`${url}/healthz`);
      if (res.ok) return child;
    } catch {}
    if (Date.now() - started > 60_000) throw new Error(`wrangler dev did not answer in 60 s: ${log.slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function kill(child: ChildProcess) {
  try {
    process.kill(-child.pid!, "SIGTERM");
  } catch {}
}

/**
 * Starts the platform under `wrangler dev` on loopback the way `npm run dev` does: the sandbox Workers (two copies of each),
 * each in a process of its own, then the main Worker with its own fresh local state (migrations applied), joined by
 * a dev registry of their own (so parallel servers never see each other's sandbox); waits until both answer.
 */
export async function startDev(
  opts: {
    port?: number;
    beforeStart?: (persistTo: string) => Promise<void>;
    /** More Worker variables, e.g. the test-only fault injection. */
    vars?: Record<string, string>;
  } = {},
): Promise<DevServer> {
  const persistTo = mkdtempSync(join(tmpdir(), "assay-bench-"));
  const env = { ...ENV, WRANGLER_REGISTRY_PATH: join(persistTo, "registry") };
  const adminKey = "bench-admin-key";
  const migrate = spawnSync(WRANGLER, ["d1", "migrations", "apply", "DB", "--local", "--persist-to", persistTo], {
    cwd: ROOT,
    env,
    encoding: "utf8",
  });
  if (migrate.status !== 0) throw new Error(`migrations failed: ${migrate.stderr}`);
  // Seeding the local state before the server starts (e.g. rows no route writes yet).
  if (opts.beforeStart) await opts.beforeStart(persistTo);
  const loopback = ["--ip", "127.0.0.1", "--persist-to", persistTo];
  const sandboxes = {} as DevServer["sandboxes"];
  const sandboxChildren: ChildProcess[] = [];
  try {
    for (const [name, folder, as] of SANDBOX_PROCESSES) {
      const sandboxPort = await freePort();
      const sandboxUrl = `http://127.0.0.1:${sandboxPort}`;
      const child = await spawnDev(
        [
          "-c",
          `sandbox/${folder}/wrangler.toml`,
          ...(as ? ["--name", as] : []),
          "--port",
          String(sandboxPort),
          "--inspector-port",
          String(await freePort()),
          ...loopback,
        ],
        sandboxUrl,
        env,
      );
      sandboxChildren.push(child);
      sandboxes[name] = { url: sandboxUrl, pid: child.pid! };
    }
  } catch (err) {
    for (const c of sandboxChildren) kill(c);
    throw err;
  }
  const port = opts.port ?? (await freePort());
  const url = `http://127.0.0.1:${port}`;
  let main: ChildProcess;
  try {
    main = await spawnDev(
      [
        "--port",
        String(port),
        "--inspector-port",
        String(await freePort()),
        ...loopback,
        "--var",
        `ASSAY_ADMIN_KEY:${adminKey}`,
        "--var",
        `ASSAY_ENCRYPTION_KEY:${randomBytes(32).toString("base64")}`,
        // As `npm run dev` does: the sandbox Workers over loopback, not through wrangler's proxy.
        "--var",
        `ASSAY_SANDBOX_JS_URLS:${sandboxes.js.url},${sandboxes.js2.url}`,
        "--var",
        `ASSAY_SANDBOX_PYTHON_URLS:${sandboxes.python.url},${sandboxes.python2.url}`,
        ...Object.entries(opts.vars ?? {}).flatMap(([k, v]) => ["--var", `${k}:${v}`]),
      ],
      url,
      env,
    );
  } catch (err) {
    for (const c of sandboxChildren) kill(c);
    throw err;
  }
  return {
    url,
    adminKey,
    persistTo,
    mainPid: main.pid!,
    sandboxes,
    async stop() {
      kill(main);
      for (const c of sandboxChildren) kill(c);
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

/** CPU seconds (user + system) the processes of a process group have used so far. */
export function groupCpuSeconds(pgid: number, comm?: string): number {
  const ps = spawnSync("ps", ["-o", "pid=,comm=", "-g", String(pgid)], { encoding: "utf8" });
  let ticks = 0;
  for (const [pid, name] of ps.stdout
    .split("\n")
    .map((l) => l.trim().split(/\s+/))
    .filter((r) => r[0])) {
    if (comm && name !== comm) continue;
    try {
      // Fields after the command's closing parenthesis: utime and stime are the 12th and 13th.
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {}
  }
  return ticks / 100;
}
