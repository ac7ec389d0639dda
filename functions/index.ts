import { createApp } from "./app";
import { runCron } from "./cron";
import { handleQueue } from "./jobs";
import type { JobMessage } from "./lib/training";

const app = createApp();

// wrangler needs the Worker's handlers as the module's default export.
export default {
  fetch: app.fetch,
  async scheduled(controller, env, ctx) {
    ctx.waitUntil(runCron(env, controller.scheduledTime));
  },
  async queue(batch, env) {
    await handleQueue(batch, env);
  },
} satisfies ExportedHandler<Env, JobMessage>;
