import { createApp } from "./app";

const app = createApp();

// wrangler needs the Worker's handlers as the module's default export.
export default {
  fetch: app.fetch,
  async scheduled(_controller, _env, _ctx) {},
  async queue(batch, _env, _ctx) {
    for (const msg of batch.messages) msg.ack();
  },
} satisfies ExportedHandler<Env>;
