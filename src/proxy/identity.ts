/**
 * The identity the origin receives instead of the key (API.md §4): who called, signed with
 * ORIGIN_SIGNING_SECRET so the origin can tell the headers came from the gateway, and for which
 * request. Signature v2 covers everything an origin acts on — method, path and query as
 * forwarded, key type, environment and scopes — so a signed request seen once (in an origin log,
 * say) cannot be replayed with other scopes, another method or another path:
 *
 *   X-Composite-Signature: v2=<hex HMAC-SHA256(secret, lines joined by "\n")>
 *   v2 · timestamp · request id · METHOD · path?query · key id · project id · key type · environment · scopes
 *
 * examples/origin/verify-signature.js is the origin's side of this; a test signs here and
 * verifies there, so the two cannot drift apart.
 */
import { hmacSha256Hex } from "../crypto/hmac";
import type { KeyFacts } from "../keys/key-index";

export const IDENTITY_HEADER_PREFIX = "x-composite-";
export const SIGNATURE_VERSION = "v2";

export interface Identity extends KeyFacts {
  requestId: string;
  /** The key's effective scopes (see effectiveScopes in policy/authorize.ts). */
  scopes: readonly string[];
  /** Epoch seconds. */
  timestamp: number;
}

/** What the origin is asked to do: the method and the path and query exactly as it receives them. */
export interface ForwardedRequest {
  method: string;
  /** Path and query as the origin receives them (with ORIGIN_URL's path prefix, without api_key). */
  target: string;
}

/** The signed lines of API.md §4. Scopes are signed as the X-Composite-Scopes header carries them. */
export function signedPayload(identity: Identity, forwarded: ForwardedRequest): string {
  return [
    SIGNATURE_VERSION,
    identity.timestamp,
    identity.requestId,
    forwarded.method.toUpperCase(),
    forwarded.target,
    identity.keyId,
    identity.projectId,
    identity.type,
    identity.environment,
    identity.scopes.join(","),
  ].join("\n");
}

export async function sign(secret: string, payload: string): Promise<string> {
  return `${SIGNATURE_VERSION}=${await hmacSha256Hex(secret, payload)}`;
}

/** Sets the identity headers on headers that have already lost every incoming X-Composite-*. */
export async function addIdentity(headers: Headers, identity: Identity, forwarded: ForwardedRequest, secret: string): Promise<void> {
  headers.set("x-composite-key-id", identity.keyId);
  headers.set("x-composite-project-id", identity.projectId);
  headers.set("x-composite-key-type", identity.type);
  headers.set("x-composite-environment", identity.environment);
  headers.set("x-composite-scopes", identity.scopes.join(","));
  headers.set("x-request-id", identity.requestId);
  headers.set("x-composite-timestamp", String(identity.timestamp));
  headers.set("x-composite-signature", await sign(secret, signedPayload(identity, forwarded)));
}
