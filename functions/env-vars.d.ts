// Variables that only some deployments set, so `wrangler types` (which reads wrangler.toml and .dev.vars)
// does not generate them. Kept apart from worker-configuration.d.ts so regenerating that file keeps them.
declare namespace Cloudflare {
  interface Env {
    /** "1": outgoing webhooks may reach loopback and private addresses. Set only by `npm run dev` and the tests. */
    ASSAY_ALLOW_PRIVATE_WEBHOOKS?: string;
  }
}
