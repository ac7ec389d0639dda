import { contentHash } from "./canonical";
import type { RegisteredSchema } from "./compile";
// Data, not code: the metaschemas as json-schema.org publishes them (2019-09 and 2020-12 with their
// vocabulary metaschemas, as arrays), imported as JSON by wrangler's bundler, Vite and tsx alike.
import DRAFT_07 from "./metaschemas/draft-07.json";
import DRAFT_2019_09 from "./metaschemas/draft-2019-09.json";
import DRAFT_2020_12 from "./metaschemas/draft-2020-12.json";

/**
 * Metaschemas every schema may `$ref` (or name in `$schema`) without registering them: draft-07's, and
 * 2019-09's and 2020-12's with their vocabulary metaschemas (`meta/core`, `meta/applicator`, ...).
 */
export const BUILTIN_SCHEMAS: ReadonlyMap<string, RegisteredSchema> = new Map(
  [
    { id: "http://json-schema.org/draft-07/schema", schema: DRAFT_07 as object },
    ...([...DRAFT_2019_09, ...DRAFT_2020_12] as { $id: string }[]).map((schema) => ({ id: schema.$id, schema })),
  ].map(({ id, schema }): [string, RegisteredSchema] => [id, { id, sha256: contentHash(schema), schema }]),
);
