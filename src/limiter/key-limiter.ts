/**
 * KeyLimiter: one SQLite-backed Durable Object per key id, called once per admitted request.
 *
 * It holds the key's mutable policy (status, scopes, expiry, allowed origins). Every request of
 * the key passes through this one object, wherever in the world it arrives, so a revoke or a
 * scope change written here is in force on the very next request — no KV propagation window.
 *
 * Stored shape (the object's own storage, synchronous KV API): `policy` → KeyPolicy. It is
 * written by the operator/management calls; a fresh object with no policy reads it once from
 * D1 (the record of truth) and keeps it.
 */
import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env";
import { authorize, effectiveScopes, type KeyPolicy, type Need, type Refusal } from "../policy/authorize";
import { loadPolicy } from "../keys/key-records";

export interface AdmitRequest {
  keyId: string;
  need: Need;
  origin: string | null;
}

export type AdmitDecision = { ok: true; scopes: readonly string[] } | ({ ok: false } & Refusal);

const POLICY = "policy";

export class KeyLimiter extends DurableObject<Env> {
  private policy: KeyPolicy | undefined;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.policy = ctx.storage.kv.get<KeyPolicy>(POLICY);
  }

  /** The one call per request: may this key make this request now? */
  async admit(request: AdmitRequest): Promise<AdmitDecision> {
    const policy = this.policy ?? (await this.loadOnce(request.keyId));
    if (policy === null) {
      return { ok: false, code: "invalid_api_key", detail: "This API key does not exist. Check that you copied it whole." };
    }
    const refusal = authorize(policy, request.need, request.origin, Date.now());
    return refusal === null ? { ok: true, scopes: effectiveScopes(policy) } : { ok: false, ...refusal };
  }

  /** Replaces the policy (creation, revoke, update); in force for the next admit. */
  setPolicy(policy: KeyPolicy): void {
    this.policy = policy;
    this.ctx.storage.kv.put(POLICY, policy);
  }

  getPolicy(): KeyPolicy | null {
    return this.policy ?? null;
  }

  private loading: Promise<KeyPolicy | null> | null = null;

  /** Concurrent first requests share one D1 read. */
  private loadOnce(keyId: string): Promise<KeyPolicy | null> {
    this.loading ??= loadPolicy(this.env.DB, keyId)
      .then((policy) => {
        // A setPolicy (say, a revoke) that landed while D1 answered is newer: keep it.
        if (policy !== null && this.policy === undefined) this.setPolicy(policy);
        return this.policy ?? policy;
      })
      .finally(() => {
        this.loading = null;
      });
    return this.loading;
  }
}

export function keyLimiter(env: Env, keyId: string): DurableObjectStub<KeyLimiter> {
  return env.KEY_LIMITER.getByName(keyId);
}
