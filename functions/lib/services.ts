import type { Services } from "../../rewards/core/services";
import type { FixtureStore } from "../../rewards/core/types";
import { bucketSchemaStore } from "../../rewards/verifiers/json-schema/store";
import { createSqlVerifier } from "../../rewards/verifiers/sql";
import { r2FixtureStore } from "./fixtures";
import { workerdCodeRunner } from "./quickjs-wasm";
import { projectSchemaBucket } from "./schemas";
import { workerdSqlEngine } from "./sql-engine-workerd";

export interface PlatformServices {
  fixtures: FixtureStore;
  verifiers: Services;
}

/** The runtime-bound pieces scorers reach through their context, built from the Worker's bindings. */
/** The pieces for one project: it reads only that project's fixtures and registered schemas. */
export function platformServices(env: Env, projectId: string): PlatformServices {
  const fixtures = r2FixtureStore(env.BLOBS, projectId);
  return {
    fixtures,
    verifiers: {
      jsonSchemas: bucketSchemaStore(projectSchemaBucket(env.BLOBS, projectId)),
      sql: createSqlVerifier({ engine: workerdSqlEngine, fixtures }),
      code: workerdCodeRunner(),
    },
  };
}
