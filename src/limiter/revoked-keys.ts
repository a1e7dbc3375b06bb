/**
 * Keys this isolate has seen refused as revoked. Revoked is terminal (keys/key-state.ts: no
 * operation brings a key back), so this memory can never be wrong, and a revoked key that is still
 * sent hard — an SDK in the field nobody updated, a leaked key — gets its 401 here without a call
 * to its object, which it could otherwise overload (and an overloaded object fails event ingestion
 * open). Plain data; bounded, the oldest entry goes first.
 */
import type { AdmitDecision } from "./key-limiter";

type RevokedRefusal = Extract<AdmitDecision, { ok: false }> & { code: "revoked_api_key" };

const MAX_REMEMBERED = 10_000;
const revoked = new Map<string, RevokedRefusal>();

export function isRevokedRefusal(decision: AdmitDecision): decision is RevokedRefusal {
  return !decision.ok && decision.code === "revoked_api_key";
}

export function rememberRevoked(keyId: string, refusal: RevokedRefusal): void {
  if (revoked.has(keyId)) return;
  if (revoked.size >= MAX_REMEMBERED) revoked.delete(revoked.keys().next().value!);
  revoked.set(keyId, refusal);
}

/** The key's 401, if this isolate knows it is revoked. */
export function knownRevoked(keyId: string): RevokedRefusal | undefined {
  return revoked.get(keyId);
}
