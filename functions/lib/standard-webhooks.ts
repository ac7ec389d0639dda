import { fromBase64, toBase64 } from "./secret-box";

/**
 * Standard Webhooks (standardwebhooks.com) signatures: `v1,<base64 HMAC-SHA256>` of
 * `{webhook-id}.{webhook-timestamp}.{raw body}` under the bytes of a `whsec_<base64>` secret. The
 * verifier works on the raw bytes (the body is never decoded or re-serialised before it is checked) and
 * compares through crypto.subtle.verify, which is constant-time.
 *
 * @example
 * const v = await verifyStandardWebhook({ secrets: ["whsec_…"], headers, body, now: Date.now() });
 * if (!v.ok) return 401 with v.reason
 */

export const SECRET_PREFIX = "whsec_";
/** Allowed distance between webhook-timestamp and now, either way. */
export const TOLERANCE_SECONDS = 300;
/** More signatures than this in one header are not looked at (each costs an HMAC per secret). */
export const MAX_SIGNATURES = 16;

const enc = new TextEncoder();
const hmacKeys = new Map<string, CryptoKey>();

/** A new secret: `whsec_` + base64 of 32 random bytes. */
export function newWebhookSecret(): string {
  return SECRET_PREFIX + toBase64(crypto.getRandomValues(new Uint8Array(32)));
}

function secretBytes(secret: string): Uint8Array | null {
  const b64 = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret;
  const bytes = fromBase64(b64);
  return bytes && bytes.length > 0 ? bytes : null;
}

/**
 * The HMAC key of a secret, imported once per isolate (the import is a noticeable part of a delivery).
 * Resolved keys are cached, not promises: a promise made in one request must not be awaited by another.
 */
async function hmacKey(secret: string, usage: "sign" | "verify"): Promise<CryptoKey | null> {
  const cacheKey = `${usage}:${secret}`;
  const cached = hmacKeys.get(cacheKey);
  if (cached) return cached;
  const bytes = secretBytes(secret);
  if (!bytes) return null;
  const key = await crypto.subtle.importKey("raw", bytes, { name: "HMAC", hash: "SHA-256" }, false, [usage]);
  if (hmacKeys.size >= 1000) hmacKeys.delete(hmacKeys.keys().next().value!);
  hmacKeys.set(cacheKey, key);
  return key;
}

function signedContent(id: string, timestamp: string, body: Uint8Array): Uint8Array {
  const head = enc.encode(`${id}.${timestamp}.`);
  const out = new Uint8Array(head.length + body.length);
  out.set(head);
  out.set(body, head.length);
  return out;
}

/** Signs a message the way a Standard Webhooks sender does: the value of its `webhook-signature` header. */
export async function signStandardWebhook(secret: string, id: string, timestamp: number, body: Uint8Array | string) {
  const key = await hmacKey(secret, "sign");
  if (!key) throw new Error("the secret is not whsec_ + base64");
  const bytes = typeof body === "string" ? enc.encode(body) : body;
  const mac = await crypto.subtle.sign("HMAC", key, signedContent(id, String(timestamp), bytes));
  return `v1,${toBase64(new Uint8Array(mac))}`;
}

export type VerifyResult =
  /** `secretIndex`: which of the secrets verified it. */
  { ok: true; id: string; timestamp: number; secretIndex: number } | { ok: false; reason: string };

export interface VerifyInput {
  /** Every secret that may have signed it (during a rotation: the new one and the old one). */
  secrets: string[];
  headers: { get(name: string): string | null };
  body: Uint8Array;
  /** Epoch milliseconds. */
  now: number;
  toleranceSeconds?: number;
}

export async function verifyStandardWebhook(input: VerifyInput): Promise<VerifyResult> {
  const id = input.headers.get("webhook-id");
  const ts = input.headers.get("webhook-timestamp");
  const sig = input.headers.get("webhook-signature");
  if (!id || !ts || !sig) {
    const missing = [!id && "webhook-id", !ts && "webhook-timestamp", !sig && "webhook-signature"].filter(Boolean);
    return {
      ok: false,
      reason: `missing Standard Webhooks header${missing.length > 1 ? "s" : ""}: ${missing.join(", ")}`,
    };
  }
  if (!/^\d{1,15}$/.test(ts)) return { ok: false, reason: "webhook-timestamp must be Unix seconds" };
  const timestamp = Number(ts);
  const tolerance = input.toleranceSeconds ?? TOLERANCE_SECONDS;
  const skew = timestamp - Math.floor(input.now / 1000);
  if (skew < -tolerance) return { ok: false, reason: `webhook-timestamp is more than ${tolerance} s old` };
  if (skew > tolerance) return { ok: false, reason: `webhook-timestamp is more than ${tolerance} s in the future` };

  const candidates: Uint8Array[] = [];
  for (const entry of sig.split(" ")) {
    if (candidates.length >= MAX_SIGNATURES) break;
    const comma = entry.indexOf(",");
    // Other versions (v1a asymmetric signatures, future schemes) are ignored, as the spec says.
    if (comma === -1 || entry.slice(0, comma) !== "v1") continue;
    const mac = fromBase64(entry.slice(comma + 1));
    if (mac && mac.length === 32) candidates.push(mac);
  }
  if (candidates.length === 0) return { ok: false, reason: "webhook-signature holds no v1 signature" };
  const content = signedContent(id, ts, input.body);
  for (const [secretIndex, secret] of input.secrets.entries()) {
    const key = await hmacKey(secret, "verify");
    if (!key) continue;
    for (const mac of candidates) {
      if (await crypto.subtle.verify("HMAC", key, mac, content)) return { ok: true, id, timestamp, secretIndex };
    }
  }
  return { ok: false, reason: "no signature matches this source's secret" };
}
