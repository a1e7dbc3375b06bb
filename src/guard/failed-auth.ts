/**
 * Failed authentication attempts per client IP (`CF-Connecting-IP`), so that nobody can probe
 * keys at the edge's expense: past FAILED_AUTH_LIMIT failures in a window, the IP gets 429
 * `too_many_failed_attempts` until the window ends.
 *
 * Only failures that cost a lookup count (unknown, revoked, expired keys); a malformed key is
 * refused with no I/O and costs nothing to count. The happy path never touches this: an IP is
 * only checked against the isolate's memory of blocked IPs, and the FailedAuthGuard object of an
 * IP is called when one of its requests has just failed.
 */
import { DurableObject } from "cloudflare:workers";
import { configOf, type Env } from "../config";
import { GatewayError } from "../http/problem";

/** One object per client IP; memory only (a window's count matters for a minute, not longer). */
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

/** IPs this isolate knows to be blocked → until when (epoch ms). Bounded; oldest go first. */
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

/** Throws 429 when this isolate knows the IP is blocked; no I/O. */
export function refuseIfBlocked(ip: string | null, now: number): void {
  if (ip === null) return;
  const until = blocked.get(ip);
  if (until === undefined) return;
  if (until > now) throw tooMany(until, now);
  blocked.delete(ip);
}

/**
 * Records a failed attempt; when it tips the IP over the limit, the answer becomes 429.
 * Without CF-Connecting-IP (local development), or with FAILED_AUTH_LIMIT=0, nothing is counted.
 */
export async function recordFailedAttempt(env: Env, ip: string | null, failure: GatewayError): Promise<GatewayError> {
  const guard = configOf(env).failedAuth;
  if (ip === null || guard === null) return failure;
  let until: number | null;
  try {
    until = await (env.FAILED_AUTH as unknown as DurableObjectNamespace<FailedAuthGuard>).getByName(ip).fail(guard.limit, guard.windowMs);
  } catch {
    return failure; // the guard is a protection, not a dependency: its absence changes no answer
  }
  if (until === null) return failure;
  if (blocked.size >= MAX_BLOCKED) blocked.delete(blocked.keys().next().value!);
  blocked.set(ip, until);
  return tooMany(until, Date.now());
}
