/**
 * Dashboard sessions. Signing in takes a secret key of the project once (projects:read to look,
 * projects:write to change keys); from then on the browser holds only a signed cookie:
 *
 *   composite_session = "<key id>.<expiry, epoch ms>.<session epoch>.<base64 HMAC-SHA-256 of the rest>"
 *   HttpOnly, SameSite=Strict, Path=/, 8 h; `__Host-` prefixed and Secure over https
 *   (plain http is only ever local, where browsers drop Secure cookies).
 *
 * It names the key by id — never the key, never its hash — and is signed (hono's signed cookies,
 * verified with crypto.subtle.verify) with a key derived from KEY_HASH_SECRET for this purpose
 * alone. A session ends at the first of: its expiry (inside the signature, bounding a copied
 * cookie); its key revoked or expired (every page reads the key's record from D1); a sign-out
 * with the key from any browser, which bumps the key's session epoch in D1 (keys/session-epochs.ts)
 * so that every cookie carrying an older epoch — copies included — is refused on its next page.
 * The cookie is never forwarded to the origin (proxy/origin-headers.ts).
 */
import type { Context } from "hono";
import { deleteCookie, getSignedCookie, setSignedCookie } from "hono/cookie";
import { hmacSha256Hex } from "../crypto/hmac";
import { configOf } from "../config";
import type { AppEnv, Manager } from "../context";
import { SESSION_COOKIE } from "../http/gateway-cookies";
import { GatewayError } from "../http/problem";
import type { KeyRecord } from "../lifecycle";
import { effectiveScopes } from "../policy/authorize";

const COOKIE = SESSION_COOKIE;
export const SESSION_MS = 8 * 3_600_000;

function sessionSecret(c: Context<AppEnv>): Promise<string> {
  return hmacSha256Hex(configOf(c.env).keyHashSecret, "composite dashboard session v1");
}

/** `__Host-` and Secure need https; the dashboard is served over plain http only on loopback. */
function cookiePrefix(c: Context<AppEnv>): "host" | undefined {
  return new URL(c.req.url).protocol === "https:" ? "host" : undefined;
}

/** What a valid session cookie says; whether it is still live is for its key's record and epoch to say. */
export interface Session {
  keyId: string;
  epoch: number;
}

export async function openSession(c: Context<AppEnv>, session: Session, now = Date.now()): Promise<void> {
  const prefix = cookiePrefix(c);
  await setSignedCookie(c, COOKIE, `${session.keyId}.${now + SESSION_MS}.${session.epoch}`, await sessionSecret(c), {
    httpOnly: true,
    sameSite: "Strict",
    path: "/",
    maxAge: SESSION_MS / 1000,
    ...(prefix === undefined ? {} : { prefix }),
  });
}

export function endSession(c: Context<AppEnv>): void {
  const prefix = cookiePrefix(c);
  deleteCookie(c, COOKIE, { path: "/", httpOnly: true, sameSite: "Strict", ...(prefix === undefined ? {} : { prefix, secure: true }) });
}

/** The session of a valid, unexpired cookie; null for none, a forged one, an old-format or an expired one. */
export async function readSession(c: Context<AppEnv>, now = Date.now()): Promise<Session | null> {
  const value = await getSignedCookie(c, await sessionSecret(c), COOKIE, cookiePrefix(c));
  if (typeof value !== "string") return null;
  const [keyId, expiry, epoch, extra] = value.split(".");
  if (keyId === undefined || !(Number(expiry) > now) || epoch === undefined || !/^\d+$/.test(epoch) || extra !== undefined) return null;
  return { keyId, epoch: Number(epoch) };
}

/**
 * Who this key lets manage the project in the dashboard, or the refusal that says why not —
 * the same rules as the management API (API.md §5): an active secret key with projects:read.
 */
export function dashboardManager(record: KeyRecord): Manager {
  if (record.status !== "active") {
    const code = record.status === "revoked" ? "revoked_api_key" : "expired_api_key";
    throw new GatewayError(code, `This key is ${record.status}. Sign in with an active secret key of the project.`);
  }
  if (record.type !== "secret") {
    throw new GatewayError("insufficient_permissions", "Public keys cannot sign in to the dashboard. Sign in with a secret key (sk_…) of the project.");
  }
  const scopes = effectiveScopes(record);
  if (!scopes.includes("projects:read")) {
    throw new GatewayError("insufficient_permissions", "This key lacks projects:read, which the dashboard needs. Sign in with a key that has it.");
  }
  return { facts: { keyId: record.id, projectId: record.project_id, type: record.type, environment: record.environment }, scopes };
}

export function canChangeKeys(manager: Manager): boolean {
  return manager.scopes.includes("projects:write");
}
