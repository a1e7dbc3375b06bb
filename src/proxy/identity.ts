/**
 * The identity the origin receives instead of the key (API.md §4): who called, signed with
 * ORIGIN_SIGNING_SECRET so the origin can tell the headers came from the gateway.
 *
 *   X-Composite-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<request id>.<key id>.<project id>")>
 */
import { hmacSha256Hex } from "../crypto/hmac";
import type { KeyFacts } from "../keys/key-index";

export const IDENTITY_HEADER_PREFIX = "x-composite-";

export interface Identity extends KeyFacts {
  requestId: string;
  /** The key's effective scopes (see effectiveScopes in policy/authorize.ts). */
  scopes: readonly string[];
  /** Epoch seconds. */
  timestamp: number;
}

export function signedPayload(identity: Pick<Identity, "timestamp" | "requestId" | "keyId" | "projectId">): string {
  return `${identity.timestamp}.${identity.requestId}.${identity.keyId}.${identity.projectId}`;
}

export async function sign(secret: string, payload: string): Promise<string> {
  return `v1=${await hmacSha256Hex(secret, payload)}`;
}

/** Sets the identity headers on headers that have already lost every incoming X-Composite-*. */
export async function addIdentity(headers: Headers, identity: Identity, secret: string): Promise<void> {
  headers.set("x-composite-key-id", identity.keyId);
  headers.set("x-composite-project-id", identity.projectId);
  headers.set("x-composite-key-type", identity.type);
  headers.set("x-composite-environment", identity.environment);
  headers.set("x-composite-scopes", identity.scopes.join(","));
  headers.set("x-request-id", identity.requestId);
  headers.set("x-composite-timestamp", String(identity.timestamp));
  headers.set("x-composite-signature", await sign(secret, signedPayload(identity)));
}
