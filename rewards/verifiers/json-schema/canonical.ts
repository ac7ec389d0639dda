import { canonicalJson } from "../../core/canonical";
import { sha256Hex } from "../../lib/sha256";

export { canonicalJson, sha256Hex };

/** SHA-256 of the canonical JSON: the content identity of a schema. */
export const contentHash = (value: unknown) => sha256Hex(canonicalJson(value));
