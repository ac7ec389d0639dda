import { createApp } from "./app";
import { handleQueue, reconcile } from "./jobs";
import type { JobMessage } from "./lib/training";

const app = createApp();

// wrangler needs the Worker's handlers as the module's default export.
export default {
  fetch: app.fetch,
  async scheduled(_controller, env, ctx) {
    ctx.waitUntil(reconcile(env));
  },
  async queue(batch, env) {
    await handleQueue(batch, env);
  },
} satisfies ExportedHandler<Env, JobMessage>;
