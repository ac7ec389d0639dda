const encoder = new TextEncoder();

// One SHA-256 for the Worker and the reward library alike. sha256Hex is
// synchronous: callers that still `await` it get the string all the same.
export { sha256Hex } from "../../rewards/lib/sha256";

/**
 * Compares two secrets in constant time. Both sides are hashed first so that the comparison
 * never depends on, or leaks, the length of the expected secret.
 */
export async function secretsEqual(given: string, expected: string): Promise<boolean> {
  if (!expected) return false;
  const [a, b] = await Promise.all([
    crypto.subtle.digest("SHA-256", encoder.encode(given)),
    crypto.subtle.digest("SHA-256", encoder.encode(expected)),
  ]);
  return crypto.subtle.timingSafeEqual(a, b);
}

/** A random secret: prefix + 32 bytes in base64url. */
export function randomSecret(prefix: string): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return `${prefix}${btoa(bin).replaceAll("+", "-").replaceAll("/", "_").replaceAll("=", "")}`;
}
