import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";

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
              // A second, empty D1 for tests that apply migrations themselves (tests/workers/projects-migration.test.ts).
              d1Databases: { MIGRATION_DB: "assay-migration-test" },
              bindings: {
                TEST_MIGRATIONS: await readD1Migrations("db/migrations"),
                ASSAY_ADMIN_KEY: "test-admin-key",
                // Started by tests/global-setup.ts before the pool: AWS Batch is a local fake in tests.
                AWS_BATCH_ENDPOINT: process.env.ASSAY_TEST_BATCH_URL ?? "",
                AWS_ACCESS_KEY_ID: "AKIDASSAYTEST0000001",
                AWS_SECRET_ACCESS_KEY: "assay-test-secret",
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
