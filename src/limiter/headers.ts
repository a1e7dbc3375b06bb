/**
 * Rate-limit headers (API.md §3): draft-ietf-httpapi-ratelimit-headers-11 (`RateLimit-Policy`,
 * `RateLimit`, structured fields) plus the X-RateLimit set that SDKs already read. Built as plain
 * strings on the hot path; the tests parse them with a structured-fields library.
 *
 * Rounding never promises more than there is: remaining counts round down, waits round up.
 */
import { nextUtcMidnight, remainingTokens, secondsUntilFull, type Bucket, type Limits } from "./bucket";

/** What the KeyLimiter reports after each decision: enough for every header. */
export interface RateSnapshot extends Limits {
  tokens: number;
  /** Admitted requests today (UTC). */
  dayUsed: number;
  /** Epoch ms the decision was made at. */
  now: number;
}

export type PolicyName = "burst" | "daily";

export function rateLimitHeaders(snapshot: RateSnapshot): [string, string][] {
  const { rate, burst, daily, tokens, dayUsed, now } = snapshot;
  const bucket: Bucket = { tokens, at: now };
  const limits: Limits = { rate, burst, daily };
  const burstRemaining = remainingTokens(bucket);
  const burstFullIn = secondsUntilFull(bucket, limits);
  const dayRemaining = Math.max(0, daily - dayUsed);
  const midnight = nextUtcMidnight(now);
  const dayResetIn = Math.ceil((midnight - now) / 1000);
  // The policy closest to exhaustion is the one with the smaller share left. On a tie — both
  // empty, typically, when the day's quota refused — the one that frees later is what the client waits for.
  const burstShare = burstRemaining / burst;
  const dayShare = dayRemaining / daily;
  const burstCloser = burstShare < dayShare || (burstShare === dayShare && burstFullIn >= dayResetIn);
  return [
    ["RateLimit-Policy", `"burst";q=${burst};w=${Math.ceil(burst / rate)}, "daily";q=${daily};w=86400`],
    ["RateLimit", burstCloser ? `"burst";r=${burstRemaining};t=${burstFullIn}` : `"daily";r=${dayRemaining};t=${dayResetIn}`],
    ["X-RateLimit-Limit", String(burst)],
    ["X-RateLimit-Remaining", String(burstRemaining)],
    ["X-RateLimit-Reset", String(Math.ceil(now / 1000) + burstFullIn)],
    ["X-RateLimit-Limit-Day", String(daily)],
    ["X-RateLimit-Remaining-Day", String(dayRemaining)],
    ["X-RateLimit-Reset-Day", String(midnight / 1000)],
  ];
}

export function setRateLimitHeaders(headers: Headers, snapshot: RateSnapshot): void {
  for (const [name, value] of rateLimitHeaders(snapshot)) headers.set(name, value);
}
