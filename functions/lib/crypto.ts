const encoder = new TextEncoder();

export function toHex(buf: ArrayBuffer | Uint8Array): string {
  const bytes = buf instanceof Uint8Array ? buf : new Uint8Array(buf);
  let out = "";
  for (const b of bytes) out += b.toString(16).padStart(2, "0");
  return out;
}

export async function sha256Hex(data: string | Uint8Array): Promise<string> {
  const bytes = typeof data === "string" ? encoder.encode(data) : data;
  return toHex(await crypto.subtle.digest("SHA-256", bytes));
}

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

function toBase64(bytes: Uint8Array): string {
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

function fromBase64(s: string): Uint8Array {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

const aesKeys = new Map<string, Promise<CryptoKey>>();

/** The AES-256-GCM key for ASSAY_ENCRYPTION_KEY: the SHA-256 of its text, so any long random string works. */
function aesKey(secret: string | undefined): Promise<CryptoKey> {
  if (!secret) throw new Error("ASSAY_ENCRYPTION_KEY is not set: secrets cannot be stored");
  let key = aesKeys.get(secret);
  if (!key) {
    key = crypto.subtle
      .digest("SHA-256", encoder.encode(secret))
      .then((raw) => crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]));
    aesKeys.set(secret, key);
  }
  return key;
}

/** Encrypts a secret at rest: base64(12-byte random iv ‖ AES-GCM ciphertext and tag). */
export async function encryptSecret(encryptionKey: string | undefined, plaintext: string): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const ct = new Uint8Array(
    await crypto.subtle.encrypt({ name: "AES-GCM", iv }, await aesKey(encryptionKey), encoder.encode(plaintext)),
  );
  const out = new Uint8Array(iv.length + ct.length);
  out.set(iv);
  out.set(ct, iv.length);
  return toBase64(out);
}

export async function decryptSecret(encryptionKey: string | undefined, stored: string): Promise<string> {
  const bytes = fromBase64(stored);
  const pt = await crypto.subtle.decrypt(
    { name: "AES-GCM", iv: bytes.subarray(0, 12) },
    await aesKey(encryptionKey),
    bytes.subarray(12),
  );
  return new TextDecoder().decode(pt);
}

/** A Standard Webhooks signing secret: `whsec_` + 32 random bytes in standard base64 (what the spec's libraries decode). */
export function webhookSecret(): string {
  return `whsec_${toBase64(crypto.getRandomValues(new Uint8Array(32)))}`;
}

/**
 * The Standard Webhooks signature of a message: `v1,` + base64(HMAC-SHA256(key, "id.timestamp.body")),
 * the key being the base64 after `whsec_`.
 */
export async function signWebhook(secret: string, id: string, timestampS: number, body: string): Promise<string> {
  const key = await crypto.subtle.importKey(
    "raw",
    fromBase64(secret.replace(/^whsec_/, "")),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = await crypto.subtle.sign("HMAC", key, encoder.encode(`${id}.${timestampS}.${body}`));
  return `v1,${toBase64(new Uint8Array(mac))}`;
}
