import { createHash } from "node:crypto";

/**
 * SHA-256 as lower-case hex; a string is hashed as its UTF-8 bytes. Synchronous (node:crypto, which
 * workerd provides under nodejs_compat), so the JSON Schema compiler can key its caches by content
 * without turning every compile into a promise, as WebCrypto's digest would.
 */
export function sha256Hex(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}
