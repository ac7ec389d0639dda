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
