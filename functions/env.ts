import type { Db } from "../db/client";

export type { Db };

/** Who is calling: decided by the bearer token and checked per route. */
export type Principal = { kind: "admin" } | { kind: "apiKey"; keyId: string } | { kind: "runToken"; runId: string };

export interface AppEnv {
  Bindings: Env;
  Variables: {
    requestId: string;
    db: Db;
    principal: Principal;
  };
}
