import type { Db } from "../db/client";
import type { ApiKeyRole } from "../db/schema";

export type { Db };

/**
 * Who is calling: decided by the bearer token and checked per route. Every principal acts in exactly one
 * project: a key in its own, a run token in its run's, the admin secret in the one `X-Assay-Project` names
 * (default prj_default).
 */
export type Principal =
  | { kind: "admin"; projectId: string; role: "admin" }
  | { kind: "apiKey"; keyId: string; projectId: string; role: ApiKeyRole }
  | { kind: "runToken"; runId: string; projectId: string };

export interface AppEnv {
  Bindings: Env;
  Variables: {
    requestId: string;
    db: Db;
    principal: Principal;
  };
}

// Declared here rather than in the generated worker-configuration.d.ts; `npm run cf-typegen` declares the
// first two the same way, so the declarations merge.
declare global {
  namespace Cloudflare {
    interface Env {
      /** base64 of 32 bytes: the AES-GCM key for secrets at rest (feedback source secrets). A Worker secret. */
      ASSAY_ENCRYPTION_KEY: string;
      /** Base delay in seconds of a failed feedback message's retries (doubling each time). */
      FEEDBACK_RETRY_BASE_S: string;
      /** Test-only: comma-separated faults to honour (functions/lib/feedback.ts). Unset in production. */
      ASSAY_FAULT_INJECTION?: string;
    }
  }
}
