import type { Services } from "../../rewards/core/services";
import type { FixtureStore } from "../../rewards/core/types";
import { bucketSchemaStore } from "../../rewards/verifiers/json-schema/store";

export interface PlatformServices {
  fixtures: FixtureStore;
  verifiers: Services;
}

/** Fixtures as stored by PUT /v1/fixtures/{name}: R2 key fixtures/<name>, kind and sha256 in metadata. */
function r2Fixtures(bucket: R2Bucket): FixtureStore {
  return {
    async get(name) {
      const obj = await bucket.get(`fixtures/${name}`);
      if (!obj) return null;
      const meta = obj.customMetadata ?? {};
      return {
        name,
        kind: meta.kind === "sql" ? "sql" : "sqlite",
        sha256: meta.sha256 ?? obj.etag,
        bytes: new Uint8Array(await obj.arrayBuffer()),
      };
    },
  };
}

/** The runtime-bound pieces scorers reach through their context, built from the Worker's bindings. */
export function platformServices(env: Env): PlatformServices {
  return { fixtures: r2Fixtures(env.BLOBS), verifiers: { jsonSchemas: bucketSchemaStore(env.BLOBS) } };
}
