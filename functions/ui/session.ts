import type { Context } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import type { AppEnv } from "../env";
import { ApiError } from "../lib/errors";

export const SESSION_COOKIE = "assay_session";
export const SESSION_TTL_S = 12 * 60 * 60;
/** The header the dashboard sends on every state-changing call; a cross-site form cannot set it. */
export const CSRF_HEADER = "x-assay-csrf";

const enc = new TextEncoder();
const dec = new TextDecoder();
const keys = new Map<string, Promise<CryptoKey>>();

function b64url(bytes: Uint8Array): string {
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replaceAll("+", "-").replaceAll("/", "_").replaceAll("=", "");
}

function fromB64url(s: string): Uint8Array | null {
  if (!/^[\w-]{1,2000}$/.test(s)) return null;
  const bin = atob(s.replaceAll("-", "+").replaceAll("_", "/"));
  return Uint8Array.from(bin, (ch) => ch.charCodeAt(0));
}

/**
 * The cookie's AES-GCM key, derived from ASSAY_SESSION_SECRET (or, when unset, from the admin key, so a
 * fresh `npm run dev` works). Rotating either secret logs every session out.
 */
function sessionKey(env: Env): Promise<CryptoKey> {
  const secret = (env as { ASSAY_SESSION_SECRET?: string }).ASSAY_SESSION_SECRET || env.ASSAY_ADMIN_KEY || "";
  if (!secret) throw new ApiError("INTERNAL", "sessions need ASSAY_SESSION_SECRET or ASSAY_ADMIN_KEY");
  let key = keys.get(secret);
  if (!key) {
    key = crypto.subtle
      .importKey("raw", enc.encode(secret), "HKDF", false, ["deriveKey"])
      .then((base) =>
        crypto.subtle.deriveKey(
          { name: "HKDF", hash: "SHA-256", salt: enc.encode("assay-session-v1"), info: enc.encode("cookie") },
          base,
          { name: "AES-GCM", length: 256 },
          false,
          ["encrypt", "decrypt"],
        ),
      );
    keys.set(secret, key);
  }
  return key;
}

/**
 * Seals the API key into the cookie value (AES-GCM: encrypted and authenticated, with its expiry inside).
 * The cookie carries the key itself, sealed, rather than a session id, so that a request with the cookie is
 * authenticated by exactly the same lookup as one with the bearer key: revocation, projects and roles apply.
 */
export async function sealSession(env: Env, apiKey: string, now = Date.now()): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const plain = enc.encode(JSON.stringify({ k: apiKey, exp: now + SESSION_TTL_S * 1000 }));
  const sealed = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv }, await sessionKey(env), plain));
  const out = new Uint8Array(iv.length + sealed.length);
  out.set(iv);
  out.set(sealed, iv.length);
  return b64url(out);
}

/** The API key inside a session cookie, or null when it is forged, altered, expired or unreadable. */
export async function openSession(env: Env, value: string, now = Date.now()): Promise<string | null> {
  const bytes = fromB64url(value);
  if (!bytes || bytes.length < 12 + 16 + 2) return null;
  try {
    const plain = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: bytes.slice(0, 12) },
      await sessionKey(env),
      bytes.slice(12),
    );
    const body = JSON.parse(dec.decode(plain)) as { k?: unknown; exp?: unknown };
    if (typeof body.k !== "string" || typeof body.exp !== "number" || body.exp <= now) return null;
    return body.k;
  } catch {
    return null;
  }
}

export async function setSessionCookie(c: Context<AppEnv>, apiKey: string) {
  setCookie(c, SESSION_COOKIE, await sealSession(c.env, apiKey), {
    path: "/",
    httpOnly: true,
    sameSite: "Strict",
    secure: new URL(c.req.url).protocol === "https:",
    maxAge: SESSION_TTL_S,
  });
}

export function clearSessionCookie(c: Context<AppEnv>) {
  deleteCookie(c, SESSION_COOKIE, {
    path: "/",
    httpOnly: true,
    sameSite: "Strict",
    secure: new URL(c.req.url).protocol === "https:",
  });
}

/**
 * The API key of the request's session cookie, if any. A cookie authenticates a GET or HEAD; any other
 * method must carry the CSRF header and, when the browser sends one, an Origin equal to this Worker's.
 */
export async function sessionKeyOf(c: Context<AppEnv>): Promise<string | null> {
  const value = getCookie(c, SESSION_COOKIE);
  if (!value) return null;
  const key = await openSession(c.env, value);
  if (!key) throw new ApiError("UNAUTHORIZED", "the session has expired or is not valid: log in again");
  const method = c.req.method;
  if (method !== "GET" && method !== "HEAD") {
    if (c.req.header(CSRF_HEADER) !== "1") {
      throw new ApiError("FORBIDDEN", `a state-changing call with a session cookie must send ${CSRF_HEADER}: 1`);
    }
    const origin = c.req.header("origin");
    if (origin && origin !== new URL(c.req.url).origin) {
      throw new ApiError("FORBIDDEN", "cross-origin call with a session cookie refused");
    }
  }
  return key;
}
