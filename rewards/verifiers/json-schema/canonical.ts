import { createHash } from "node:crypto";
import { canonicalJson } from "../../core/canonical";

export { canonicalJson };

export function sha256Hex(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** SHA-256 of the canonical JSON: the content identity of a schema. */
export const contentHash = (value: unknown) => sha256Hex(canonicalJson(value));
