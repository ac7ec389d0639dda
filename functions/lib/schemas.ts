import type { SchemaBucket } from "../../rewards/verifiers/json-schema";
import { projectBlobPrefix } from "./project";

/**
 * The schema registry's view of R2 for one project: its keys live under the project's prefix, so a
 * schema registered in one project is neither listed nor `$ref`-resolvable in another.
 */
export function projectSchemaBucket(bucket: R2Bucket, projectId: string): SchemaBucket {
  const prefix = projectBlobPrefix(projectId);
  if (!prefix) return bucket;
  return {
    get: (key) => bucket.get(prefix + key),
    put: (key, value, options) => bucket.put(prefix + key, value, options),
    async list(options) {
      const res = await bucket.list({ ...options, prefix: prefix + (options?.prefix ?? "") });
      return {
        objects: res.objects.map((o) => ({
          key: o.key.slice(prefix.length),
          size: o.size,
          customMetadata: o.customMetadata,
        })),
        truncated: res.truncated,
        cursor: res.truncated ? res.cursor : undefined,
      };
    },
  };
}
