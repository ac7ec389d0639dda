import { ApiError } from "./errors";

/**
 * Secrets at rest: AES-256-GCM under the Worker secret ASSAY_ENCRYPTION_KEY (base64 of 32 bytes). A
 * sealed value is base64(iv ‖ ciphertext ‖ tag) with a fresh 12-byte IV. The caller's `context` (for a
 * feedback source, its id) is bound as additional data, so a ciphertext copied onto another row does not
 * decrypt there.
 */

// Resolved keys, not promises: a promise made in one request must not be awaited by another.
const keys = new Map<string, CryptoKey>();
const enc = new TextEncoder();
const dec = new TextDecoder();

export function toBase64(bytes: Uint8Array): string {
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}

/** Decodes standard base64 (padding optional); null when the text is not base64. */
export function fromBase64(text: string): Uint8Array | null {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return null;
  try {
    const bin = atob(text);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  } catch {
    return null;
  }
}

async function encryptionKey(env: { ASSAY_ENCRYPTION_KEY?: string }): Promise<CryptoKey> {
  const raw = env.ASSAY_ENCRYPTION_KEY ?? "";
  const cached = keys.get(raw);
  if (cached) return cached;
  const bytes = fromBase64(raw.trim());
  if (bytes?.length !== 32) {
    // A deployment without the secret cannot keep webhook secrets: say so plainly to the operator.
    console.error(JSON.stringify({ level: "error", msg: "ASSAY_ENCRYPTION_KEY is missing or not base64 of 32 bytes" }));
    throw new ApiError("INTERNAL", "the server has no valid encryption key configured (ASSAY_ENCRYPTION_KEY)");
  }
  const key = await crypto.subtle.importKey("raw", bytes, { name: "AES-GCM" }, false, ["encrypt", "decrypt"]);
  keys.set(raw, key);
  return key;
}

export async function seal(env: { ASSAY_ENCRYPTION_KEY?: string }, plaintext: string, context: string) {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const ct = new Uint8Array(
    await crypto.subtle.encrypt(
      { name: "AES-GCM", iv, additionalData: enc.encode(context) },
      await encryptionKey(env),
      enc.encode(plaintext),
    ),
  );
  const out = new Uint8Array(iv.length + ct.length);
  out.set(iv);
  out.set(ct, iv.length);
  return toBase64(out);
}

/** Opens a sealed value; throws when it was sealed under another key or context, or was altered. */
export async function open(env: { ASSAY_ENCRYPTION_KEY?: string }, sealed: string, context: string) {
  const bytes = fromBase64(sealed);
  if (!bytes || bytes.length < 12 + 16) throw new Error("sealed value is malformed");
  const pt = await crypto.subtle.decrypt(
    { name: "AES-GCM", iv: bytes.subarray(0, 12), additionalData: enc.encode(context) },
    await encryptionKey(env),
    bytes.subarray(12),
  );
  return dec.decode(pt);
}
