/**
 * When to try again (pure, no timers): exponential backoff with full jitter for transient
 * failures, and never sooner than the gateway's Retry-After. A Retry-After longer than
 * `maxRetryAfterMs` (default 300 s) — a daily quota that resets at midnight — is not waited out:
 * the caller gets the error at once, with `retryAfter` on it.
 */
import type { CompositeError } from "./errors.ts";

export interface RetryPolicy {
  /** Retries after the first attempt. */
  maxRetries: number;
  /** First backoff ceiling; doubles with each retry. */
  baseDelayMs: number;
  /** Longest backoff when the gateway named no Retry-After. */
  maxDelayMs: number;
  /** Longest Retry-After that is honoured; a longer one gives up at once. */
  maxRetryAfterMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxRetries: 3, baseDelayMs: 250, maxDelayMs: 30_000, maxRetryAfterMs: 300_000 };

/** Failures with no answer at all. */
export const NO_ANSWER_CODES = new Set(["network_error", "timeout"]);

/**
 * Answers that may succeed if sent again unchanged: 429 and every 5xx (the events carry message
 * ids for the origin to drop a duplicate a 5xx may have let through), and no answer at all.
 */
export function isTransient(error: CompositeError): boolean {
  return error.status === undefined ? NO_ANSWER_CODES.has(error.code) : error.status === 429 || error.status >= 500;
}

/**
 * Milliseconds to wait before retry number `retry` (0-based) after `error`, or null to give up.
 * `random` is injectable so the tests can pin the jitter.
 */
export function retryDelay(error: CompositeError, retry: number, policy: RetryPolicy, random: () => number = Math.random): number | null {
  if (retry >= policy.maxRetries || !isTransient(error)) return null;
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** retry);
  const jitter = random() * ceiling;
  if (error.retryAfter === undefined) return Math.round(jitter);
  const told = error.retryAfter * 1000;
  if (told > policy.maxRetryAfterMs) return null;
  // Spread the retries of many clients refused at once over the moment after Retry-After.
  return Math.round(told + jitter);
}
