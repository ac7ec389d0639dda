import type { Db } from "../db/client";

export type { Db };

/** Who is calling: decided by the bearer token and checked per route. */
export type Principal =
  | { kind: "admin"; projectId?: string }
  | { kind: "apiKey"; keyId: string; projectId?: string }
  | { kind: "runToken"; runId: string; projectId?: string };

export interface AppEnv {
  Bindings: Env;
  Variables: {
    requestId: string;
    db: Db;
    principal: Principal;
  };
}
