// Variables that only some deployments set, so `wrangler types` (which reads wrangler.toml and .dev.vars)
// does not generate them. Kept apart from worker-configuration.d.ts so regenerating that file keeps them.
declare namespace Cloudflare {
  interface Env {
    /** Key material for secrets stored at rest (AES-256-GCM, keyed by its SHA-256). */
    ASSAY_ENCRYPTION_KEY?: string;
    /** "1": outgoing webhooks may reach loopback and private addresses. Set only by `npm run dev` and the tests. */
    ASSAY_ALLOW_PRIVATE_WEBHOOKS?: string;
  }
}
