/**
 * Whether a key, as it stands right now, may make this request. Pure: the KeyLimiter Durable
 * Object calls it with the key's current policy, so a revoke or a scope change made a moment ago
 * decides the very next request.
 */
import type { ErrorCode } from "../http/problem";
import type { KeyType } from "../keys/format";
import { ROUTES, SCOPES, type Permission, type Scope } from "./routes";

/** What `authorize` reads of a key's state (keys/key-state.ts), as its KeyLimiter holds it now. */
export interface KeyPolicy {
  type: KeyType;
  status: "active" | "revoked";
  /** Secret keys: null = unrestricted. Public keys: always null (their set is fixed). */
  scopes: readonly Scope[] | null;
  /** Epoch milliseconds, or null for a key that does not expire. */
  expiresAt: number | null;
  /** Public keys: the browser origins allowed to use it, or null for any. */
  allowedOrigins: readonly string[] | null;
}

/** What the route asks of the key (see routes.ts). */
export interface Need {
  permission: Permission;
  publicKey: boolean;
  action: string;
}

export type Refusal = { code: ErrorCode; detail: string };

export function authorize(policy: KeyPolicy, need: Need, origin: string | null, now: number): Refusal | null {
  if (policy.status === "revoked") {
    return { code: "revoked_api_key", detail: "This API key has been revoked. Use an active key from the dashboard." };
  }
  if (policy.expiresAt !== null && now >= policy.expiresAt) {
    return { code: "expired_api_key", detail: "This API key has expired. Use its replacement or create a new key." };
  }
  if (policy.type === "public") {
    if (!need.publicKey) {
      return {
        code: "insufficient_permissions",
        detail: `Public keys cannot ${need.action}. Call this endpoint from your server with a secret (sk_) key.`,
      };
    }
    if (policy.allowedOrigins !== null && (origin === null || !policy.allowedOrigins.includes(origin))) {
      return {
        code: "origin_not_allowed",
        detail: "This public key only accepts requests from its allowed origins. Add this origin to the key in the dashboard.",
      };
    }
    return null;
  }
  if (policy.scopes === null) return null;
  if (need.permission === "admin") {
    return {
      code: "insufficient_permissions",
      detail: "Admin endpoints need an unrestricted secret key; this key has a scope list.",
    };
  }
  if (!policy.scopes.includes(need.permission)) {
    return {
      code: "insufficient_permissions",
      detail: `This key lacks the ${need.permission} scope needed to ${need.action}. Add the scope to the key or use a key that has it.`,
    };
  }
  return null;
}

/** What a public key may do: the permissions of the routes open to public keys. */
export const PUBLIC_KEY_SCOPES: readonly string[] = [...new Set(ROUTES.filter((r) => r.publicKey).map((r) => r.permission))];
const UNRESTRICTED_SCOPES: readonly string[] = [...SCOPES, "admin"];

/** The scopes the origin is told about (X-Composite-Scopes): what this key may actually do. */
export function effectiveScopes(policy: Pick<KeyPolicy, "type" | "scopes">): readonly string[] {
  if (policy.type === "public") return PUBLIC_KEY_SCOPES;
  return policy.scopes ?? UNRESTRICTED_SCOPES;
}
