/**
 * When to try again (pure, no timers): exponential backoff with full jitter for transient
 * failures, and never sooner than the gateway's Retry-After. A wait longer than `maxDelayMs` —
 * a daily quota that resets at midnight — is not waited out; the caller gets the error.
 */
import type { CompositeError } from "./errors";

export interface RetryPolicy {
  /** Retries after the first attempt. */
  maxRetries: number;
  /** First backoff ceiling; doubles with each retry. */
  baseDelayMs: number;
  /** Longest wait before a retry, Retry-After included. */
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxRetries: 3, baseDelayMs: 250, maxDelayMs: 30_000 };

/** Answers that may succeed if sent again unchanged (the events carry message ids for the origin to deduplicate). */
const TRANSIENT_STATUS = new Set([429, 502, 503, 504]);
/** Failures with no answer at all. */
export const NO_ANSWER_CODES = new Set(["network_error", "timeout"]);

/**
 * Milliseconds to wait before retry number `retry` (0-based) after `error`, or null to give up.
 * `random` is injectable so the tests can pin the jitter.
 */
export function retryDelay(error: CompositeError, retry: number, policy: RetryPolicy, random: () => number = Math.random): number | null {
  if (retry >= policy.maxRetries) return null;
  const transient = error.status === undefined ? NO_ANSWER_CODES.has(error.code) : TRANSIENT_STATUS.has(error.status);
  if (!transient) return null;
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** retry);
  const jitter = random() * ceiling;
  if (error.retryAfter === undefined) return Math.round(jitter);
  const told = error.retryAfter * 1000;
  if (told > policy.maxDelayMs) return null;
  // Spread the retries of many clients refused at once over the moment after Retry-After.
  return Math.round(Math.min(policy.maxDelayMs, told + jitter));
}
