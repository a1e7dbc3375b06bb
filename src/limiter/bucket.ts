/**
 * Token bucket and daily quota arithmetic (API.md §3). Pure: the clock is a parameter, so the
 * tests can move it freely — forwards, backwards, across midnight.
 *
 *   tokens = min(burst, tokens + elapsed × rate); admit if tokens ≥ cost
 *
 * Tokens stay fractional inside; what is shown to clients is rounded so it never promises more
 * than the bucket holds (remaining rounds down, waits round up).
 */
import type { Limits } from "../policy/limits";

export type { Limits };

export interface Bucket {
  tokens: number;
  /** Epoch ms of the last refill. */
  at: number;
}

export const DAY_MS = 86_400_000;

export function fullBucket(limits: Limits, now: number): Bucket {
  return { tokens: limits.burst, at: now };
}

/**
 * The bucket as it stands at `now`. A clock that went backwards (another machine's time, a leap
 * smear) adds nothing and does not move `at` back, so no token is ever created twice.
 */
export function refill(bucket: Bucket, limits: Limits, now: number): Bucket {
  if (now <= bucket.at) return { tokens: Math.min(bucket.tokens, limits.burst), at: bucket.at };
  const tokens = Math.min(limits.burst, bucket.tokens + ((now - bucket.at) / 1000) * limits.rate);
  return { tokens, at: now };
}

/** Whole tokens a client may count on. */
export function remainingTokens(bucket: Bucket): number {
  return Math.max(0, Math.floor(bucket.tokens));
}

/** Seconds until the bucket is full again, rounded up. */
export function secondsUntilFull(bucket: Bucket, limits: Limits): number {
  return Math.max(0, Math.ceil((limits.burst - bucket.tokens) / limits.rate));
}

/** Whole seconds (≥ 1) until `cost` tokens are there: when a refused request would be admitted. */
export function secondsUntilTokens(bucket: Bucket, limits: Limits, cost = 1): number {
  return Math.max(1, Math.ceil((cost - bucket.tokens) / limits.rate));
}

/** The UTC day of an instant, "YYYY-MM-DD". */
export function utcDay(now: number): string {
  return new Date(now).toISOString().slice(0, 10);
}

/** Epoch ms of the next 00:00 UTC after `now`. */
export function nextUtcMidnight(now: number): number {
  return (Math.floor(now / DAY_MS) + 1) * DAY_MS;
}

/** Whole seconds (≥ 1) until the next 00:00 UTC: when a request refused for the daily quota would be admitted. */
export function secondsUntilMidnight(now: number): number {
  return Math.max(1, Math.ceil((nextUtcMidnight(now) - now) / 1000));
}
