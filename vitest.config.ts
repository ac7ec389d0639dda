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
                // A fixed AES-256 key for secrets at rest in tests (production: a Worker secret).
                ASSAY_ENCRYPTION_KEY: "YXNzYXktdGVzdC1lbmNyeXB0aW9uLWtleS0zMmJ5dGU=",
                // Test-only fault injection (functions/lib/feedback.ts) and immediate feedback retries.
                ASSAY_FAULT_INJECTION: "feedback-processing",
                FEEDBACK_RETRY_BASE_S: "0",
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
