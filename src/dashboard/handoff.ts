/**
 * Post/redirect/get for a new key (issue 16): the POST that creates a key answers 303 to
 * /dashboard/keys/created, never the key itself, so a reload shows — and mints — nothing.
 *
 * The plaintext key crosses that redirect in one place only, the handoff cookie:
 *
 *   composite_handoff = base64url(12-byte IV ‖ AES-256-GCM(JSON {id, session, key_id, key, replaced, exp}))
 *   HttpOnly, SameSite=Strict, Path=/dashboard/keys/created, Max-Age=60; `__Secure-` and Secure over https
 *
 * AES-GCM both hides the key (the cookie may sit in a browser's store for up to a minute) and
 * signs it (a changed byte fails to open). The AES key is derived from KEY_HASH_SECRET for this
 * purpose alone. The cookie is good once: its `id` names a D1 row (keys/handoffs.ts) that the
 * page deletes when it shows the key, for the session it was made for, before `exp`. Never in a
 * URL, never logged (the request log holds no headers), never forwarded (http/gateway-cookies.ts).
 */
import type { Context } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { configOf } from "../config";
import type { AppEnv } from "../context";
import { HANDOFF_COOKIE } from "../http/gateway-cookies";
import { openHandoff, takeHandoff } from "../lifecycle";

export const HANDOFF_PATH = "/dashboard/keys/created";
export const HANDOFF_MS = 60_000;

/** What the created page shows. */
export interface Handoff {
  keyId: string;
  key: string;
  /** The key this one replaces (a roll). */
  replaced?: string;
}

interface Sealed extends Handoff {
  id: string;
  session: string;
  exp: number;
}

const encoder = new TextEncoder();
const aesKeys = new Map<string, Promise<CryptoKey>>();

function aesKey(secret: string): Promise<CryptoKey> {
  let key = aesKeys.get(secret);
  if (key === undefined) {
    key = (async () => {
      const hmac = await crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
      const raw = await crypto.subtle.sign("HMAC", hmac, encoder.encode("composite dashboard handoff v1"));
      return crypto.subtle.importKey("raw", raw, { name: "AES-GCM" }, false, ["encrypt", "decrypt"]);
    })();
    aesKeys.set(secret, key);
  }
  return key;
}

const https = (c: Context<AppEnv>) => new URL(c.req.url).protocol === "https:";

function toBase64Url(bytes: Uint8Array): string {
  let text = "";
  for (const byte of bytes) text += String.fromCharCode(byte);
  return btoa(text).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

function fromBase64Url(text: string): Uint8Array | null {
  if (!/^[A-Za-z0-9_-]+$/.test(text)) return null;
  const binary = atob(text.replaceAll("-", "+").replaceAll("_", "/"));
  return Uint8Array.from(binary, (char) => char.charCodeAt(0));
}

/** Seals the new key into the handoff cookie for this session; the caller then redirects to HANDOFF_PATH. */
export async function handOff(c: Context<AppEnv>, sessionKeyId: string, handoff: Handoff, now = Date.now()): Promise<void> {
  const exp = now + HANDOFF_MS;
  const id = await openHandoff(c.env.DB, sessionKeyId, exp, now);
  const sealed: Sealed = { ...handoff, id, session: sessionKeyId, exp };
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const cipher = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv }, await aesKey(configOf(c.env).keyHashSecret), encoder.encode(JSON.stringify(sealed))));
  const value = new Uint8Array(iv.length + cipher.length);
  value.set(iv);
  value.set(cipher, iv.length);
  setCookie(c, HANDOFF_COOKIE, toBase64Url(value), {
    httpOnly: true,
    sameSite: "Strict",
    path: HANDOFF_PATH,
    maxAge: HANDOFF_MS / 1000,
    ...(https(c) ? { prefix: "secure" as const, secure: true } : {}),
  });
}

/**
 * The handoff this browser carries for this session, opened once: null when there is none, it
 * does not open (forged, another secret), is for another session, has expired or was opened.
 * The cookie is cleared whatever the outcome.
 */
export async function takeHandedOff(c: Context<AppEnv>, sessionKeyId: string, now = Date.now()): Promise<Handoff | null> {
  const prefix = https(c) ? ("secure" as const) : undefined;
  const value = getCookie(c, HANDOFF_COOKIE, prefix);
  if (value === undefined) return null;
  deleteCookie(c, HANDOFF_COOKIE, { path: HANDOFF_PATH, httpOnly: true, sameSite: "Strict", ...(prefix === undefined ? {} : { prefix, secure: true }) });
  const sealed = await unseal(c, value);
  if (sealed === null || sealed.session !== sessionKeyId || !(sealed.exp > now)) return null;
  if (!(await takeHandoff(c.env.DB, sealed.id, sessionKeyId, now))) return null;
  return sealed.replaced === undefined ? { keyId: sealed.keyId, key: sealed.key } : { keyId: sealed.keyId, key: sealed.key, replaced: sealed.replaced };
}

async function unseal(c: Context<AppEnv>, value: string): Promise<Sealed | null> {
  const bytes = fromBase64Url(value);
  if (bytes === null || bytes.length < 13) return null;
  try {
    const plain = await crypto.subtle.decrypt({ name: "AES-GCM", iv: bytes.slice(0, 12) }, await aesKey(configOf(c.env).keyHashSecret), bytes.slice(12));
    const sealed = JSON.parse(new TextDecoder().decode(plain)) as Partial<Sealed>;
    if (typeof sealed.id !== "string" || typeof sealed.session !== "string" || typeof sealed.keyId !== "string" || typeof sealed.key !== "string" || typeof sealed.exp !== "number") return null;
    return sealed as Sealed;
  } catch {
    return null; // tampered, truncated or sealed with another secret
  }
}
