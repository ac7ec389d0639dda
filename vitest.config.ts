import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-pool-workers";
import { defineConfig, type Plugin } from "vitest/config";

/**
 * In Node, `import x from "./f.bin"` gives the file's bytes as an ArrayBuffer, as the `Data` rule does in
 * workerd, and `import src from "./f.guest.py"` (or `.guest.js`) the file's text, as the `Text` rule does
 * (scripts/node-data-hooks.mjs does the same for tsx).
 */
const dataFiles: Plugin = {
  name: "assay-data-files",
  enforce: "pre",
  load(id) {
    // `import src from "./x.guest.py"` (or `.guest.js`) gives the file's text, as the `Text` rule does in workerd.
    if (id.endsWith(".guest.py") || id.endsWith(".guest.js"))
      return `export default ${JSON.stringify(readFileSync(id, "utf8"))};`;
    if (!id.endsWith(".bin")) return null;
    const url = JSON.stringify(pathToFileURL(id).href);
    return `import { readFileSync } from "node:fs"; const b = readFileSync(new URL(${url})); export default b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);`;
  },
};

/**
 * A sandbox bundle's modules (dist/sandbox-js or dist/sandbox-python), listed: Miniflare cannot follow the
 * bundle's computed dynamic imports (Pyodide's) to find them itself. The entry first; wrangler names the rest
 * by content hash.
 */
function sandboxModules(dir: string) {
  const kinds: [suffix: string, type: "CompiledWasm" | "Data" | "Text"][] = [
    [".wasm", "CompiledWasm"],
    [".zip", "Data"],
    [".bin", "Data"],
    [".guest.py", "Text"],
    [".guest.js", "Text"],
  ];
  const typeOf = (f: string) => kinds.find(([suffix]) => f.endsWith(suffix))?.[1];
  return [
    { type: "ESModule" as const, path: join(dir, "index.js") },
    ...readdirSync(dir)
      .filter((f) => typeOf(f))
      .map((f) => ({ type: typeOf(f)!, path: join(dir, f) })),
  ];
}

/** The two sandbox Workers as auxiliary Workers, from the bundles `npm run sandbox:build` writes. */
const sandboxWorkers = () =>
  ["js", "python"].map((name) => ({
    name: `assay-sandbox-${name}`,
    modules: sandboxModules(`dist/sandbox-${name}`),
    modulesRoot: `dist/sandbox-${name}`,
    compatibilityDate: "2026-04-01",
    compatibilityFlags: ["nodejs_compat"],
  }));

export default defineConfig({
  test: {
    globalSetup: ["tests/global-setup.ts"],
    projects: [
      {
        // Integration tests: the real Worker in workerd with local D1, R2 and Queues.
        plugins: [
          cloudflareTest(async () => ({
            wrangler: { configPath: "./wrangler.toml" },
            miniflare: {
              // The sandbox Workers (sandbox/js, sandbox/python), bundled into dist/sandbox-js and dist/sandbox-python
              // by `npm run sandbox:build` (pretest): the main Worker's SANDBOX_JS and SANDBOX_PYTHON bindings reach
              // them as in production. All Workers share one workerd process here, so a long run still holds the
              // thread; tests/node/sandbox-worker.test.ts checks /healthz against separate processes, as
              // `npm run dev` runs them.
              workers: sandboxWorkers(),
              // A second, empty D1 for tests that apply migrations themselves (tests/workers/projects-migration.test.ts).
              d1Databases: { MIGRATION_DB: "assay-migration-test" },
              bindings: {
                TEST_MIGRATIONS: await readD1Migrations("db/migrations"),
                ASSAY_ADMIN_KEY: "test-admin-key",
                // A fixed AES-256 key for secrets at rest in tests (production: a Worker secret).
                ASSAY_ENCRYPTION_KEY: "YXNzYXktdGVzdC1lbmNyeXB0aW9uLWtleS0zMmJ5dGU=",
                // Test-only fault injection (functions/lib/feedback.ts) and immediate feedback retries.
                ASSAY_FAULT_INJECTION: "feedback-processing",
                FEEDBACK_RETRY_BASE_S: "0",
                // Tests deliver events to loopback receivers; a test turns it off to check the refusal.
                ASSAY_ALLOW_PRIVATE_WEBHOOKS: "1",
                // Started by tests/global-setup.ts before the pool: AWS Batch is a local fake in tests.
                AWS_BATCH_ENDPOINT: process.env.ASSAY_TEST_BATCH_URL ?? "",
                AWS_ACCESS_KEY_ID: "AKIDASSAYTEST0000001",
                AWS_SECRET_ACCESS_KEY: "assay-test-secret",
                // Started by tests/global-setup.ts: a loopback OpenAI-compatible judge.
                JUDGE_BASE_URL: process.env.ASSAY_TEST_JUDGE_URL ?? "",
                JUDGE_API_KEY: "sk-test-judge",
              },
            },
          })),
        ],
        test: {
          name: "workers",
          include: ["tests/workers/**/*.test.ts"],
          // Files share the fake AWS Batch servers of global setup: one file at a time.
          fileParallelism: false,
          setupFiles: ["tests/workers/setup.ts"],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        plugins: [dataFiles],
        test: {
          name: "node",
          environment: "node",
          include: ["tests/node/**/*.test.ts"],
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
