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
              bindings: {
                TEST_MIGRATIONS: await readD1Migrations("db/migrations"),
                ASSAY_ADMIN_KEY: "test-admin-key",
                ASSAY_ENCRYPTION_KEY: "test-encryption-key",
                // Tests deliver events to loopback receivers; a test turns it off to check the refusal.
                ASSAY_ALLOW_PRIVATE_WEBHOOKS: "1",
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
