// Variables that only some deployments set, so `wrangler types` (which reads wrangler.toml and .dev.vars)
// does not generate them. Kept apart from worker-configuration.d.ts so regenerating that file keeps them.
declare namespace Cloudflare {
  interface Env {
    /** "1": outgoing webhooks may reach loopback and private addresses. Set only by `npm run dev` and the tests. */
    ASSAY_ALLOW_PRIVATE_WEBHOOKS?: string;
    /**
     * Local development only: comma-separated loopback URLs of JavaScript sandbox Workers, each its own
     * `wrangler dev` process, reached over loopback HTTP instead of the SANDBOX_JS binding (see
     * functions/lib/services.ts). Set by `npm run dev` and the benches; never in production.
     */
    ASSAY_SANDBOX_JS_URLS?: string;
    /** The same for the Python sandbox Worker (SANDBOX_PYTHON). */
    ASSAY_SANDBOX_PYTHON_URLS?: string;
  }
}
