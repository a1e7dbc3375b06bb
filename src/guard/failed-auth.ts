/**
 * Failed authentication attempts per client address (`CF-Connecting-IP`; IPv6 per /64, see
 * client-address.ts), so that nobody can probe keys at the edge's expense: past FAILED_AUTH_LIMIT
 * failures in a window, the address gets 429 `too_many_failed_attempts` until the window ends —
 * for further failing keys only. A blocked address is often many people (a carrier NAT, an
 * office, a fleet's egress, other Workers): their valid keys are still served, from the isolate
 * cache or KV. What a blocked address loses is the costly part of probing: the D1 lookup of a key
 * KV does not know (refuseIfBlocked, called just before it) and any further guard call.
 *
 * Only failures that cost a lookup count (unknown, revoked, expired keys); a malformed key is
 * refused with no I/O and costs nothing to count. The happy path never touches this: an address
 * is only checked against the isolate's memory of blocked addresses, and the FailedAuthGuard
 * object of an address is called when one of its requests has just failed.
 */
import { DurableObject } from "cloudflare:workers";
import { configOf, type Env } from "../config";
import { GatewayError } from "../http/problem";
import { countedAddress } from "./client-address";

/** One object per counted address; memory only (a window's count matters for a minute, not longer). */
export class FailedAuthGuard extends DurableObject<Env> {
  private windowStart = 0;
  private failures = 0;

  /** Counts one failure; answers until when the IP is blocked (epoch ms), or null. */
  fail(limit: number, windowMs: number): number | null {
    const now = Date.now();
    if (now - this.windowStart >= windowMs) {
      this.windowStart = now;
      this.failures = 0;
    }
    this.failures++;
    return this.failures > limit ? this.windowStart + windowMs : null;
  }
}

/** Counted addresses this isolate knows to be blocked → until when (epoch ms). Bounded; oldest go first. */
const blocked = new Map<string, number>();
const MAX_BLOCKED = 10_000;

function tooMany(until: number, now: number): GatewayError {
  const retryAfter = Math.max(1, Math.ceil((until - now) / 1000));
  return new GatewayError(
    "too_many_failed_attempts",
    `Too many requests from this address failed authentication. Wait ${retryAfter} s, then retry with a valid key.`,
    { headers: { "Retry-After": String(retryAfter) } },
  );
}

/** Until when this isolate knows the address to be blocked (epoch ms), or null; no I/O. */
function blockedUntil(address: string, now: number): number | null {
  const until = blocked.get(address);
  if (until === undefined) return null;
  if (until > now) return until;
  blocked.delete(address);
  return null;
}

/**
 * Throws 429 when this isolate knows the address is blocked; no I/O. Called only where a key is
 * about to be looked up in D1 (KV did not know it): a valid key never gets this far refused.
 */
export function refuseIfBlocked(env: Env, ip: string | null, now: number): void {
  if (ip === null || configOf(env).failedAuth === null) return;
  const until = blockedUntil(countedAddress(ip), now);
  if (until !== null) throw tooMany(until, now);
}

/**
 * Records a failed attempt; when it tips the address over the limit, the answer becomes 429. An
 * address this isolate already knows to be blocked gets its 429 with no call: the window's end
 * is known, and a count past the limit changes nothing.
 * Without CF-Connecting-IP (local development), or with FAILED_AUTH_LIMIT=0, nothing is counted.
 */
export async function recordFailedAttempt(env: Env, ip: string | null, failure: GatewayError): Promise<GatewayError> {
  const guard = configOf(env).failedAuth;
  if (ip === null || guard === null) return failure;
  const address = countedAddress(ip);
  const known = blockedUntil(address, Date.now());
  if (known !== null) return tooMany(known, Date.now());
  let until: number | null;
  try {
    until = await (env.FAILED_AUTH as unknown as DurableObjectNamespace<FailedAuthGuard>).getByName(address).fail(guard.limit, guard.windowMs);
  } catch {
    return failure; // the guard is a protection, not a dependency: its absence changes no answer
  }
  if (until === null) return failure;
  if (blocked.size >= MAX_BLOCKED) blocked.delete(blocked.keys().next().value!);
  blocked.set(address, until);
  return tooMany(until, Date.now());
}
