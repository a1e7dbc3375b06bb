/** retryDelay: which failures are retried, how long to wait, when to give up. Pure; the jitter is pinned. */
import { describe, expect, it } from "vitest";
import { CompositeError, parseRetryAfter } from "../src/errors.ts";
import { DEFAULT_RETRY, retryDelay } from "../src/retry.ts";

const answer = (status: number, code: string, retryAfter?: number) => new CompositeError(code, code, { status, retryAfter });
const noAnswer = (code: string) => new CompositeError(code, code);
const half = () => 0.5;

describe("retryDelay", () => {
  it.each([
    [answer(429, "rate_limited", 1)],
    [answer(429, "too_many_failed_attempts", 30)],
    [answer(502, "origin_unavailable")],
    [answer(503, "limiter_unavailable", 1)],
    [answer(504, "origin_timeout")],
    [answer(500, "http_500")],
    [answer(507, "http_507")],
    [noAnswer("network_error")],
    [noAnswer("timeout")],
  ])("retries %s", (error) => {
    expect(retryDelay(error, 0, DEFAULT_RETRY, half)).not.toBeNull();
  });

  it.each([
    [answer(400, "invalid_request")],
    [answer(401, "revoked_api_key")],
    [answer(403, "insufficient_permissions")],
    [answer(404, "route_not_found")],
    [answer(413, "payload_too_large")],
    [answer(422, "http_422")],
    [noAnswer("malformed_api_key")],
  ])("gives up at once on %s: sending it again cannot help", (error) => {
    expect(retryDelay(error, 0, DEFAULT_RETRY, half)).toBeNull();
  });

  it("backs off exponentially with full jitter, capped", () => {
    const policy = { ...DEFAULT_RETRY, maxRetries: 10, baseDelayMs: 100, maxDelayMs: 1_000 };
    const error = answer(502, "origin_unavailable");
    expect([0, 1, 2, 3, 4].map((retry) => retryDelay(error, retry, policy, () => 1))).toEqual([100, 200, 400, 800, 1_000]);
    expect(retryDelay(error, 2, policy, () => 0)).toBe(0);
    expect(retryDelay(error, 2, policy, half)).toBe(200);
  });

  it("Retry-After first: never sooner, jitter on top; honoured up to maxRetryAfterMs (300 s), so a daily quota is not waited out", () => {
    expect(retryDelay(answer(429, "rate_limited", 2), 0, DEFAULT_RETRY, () => 0)).toBe(2_000);
    expect(retryDelay(answer(429, "rate_limited", 2), 0, DEFAULT_RETRY, () => 1)).toBe(2_250);
    expect(retryDelay(answer(429, "rate_limited", 120), 0, DEFAULT_RETRY, () => 0)).toBe(120_000);
    expect(retryDelay(answer(503, "limiter_unavailable", 300), 0, DEFAULT_RETRY, () => 0)).toBe(300_000);
    expect(retryDelay(answer(503, "limiter_unavailable", 301), 0, DEFAULT_RETRY, () => 0)).toBeNull();
    expect(retryDelay(answer(429, "rate_limited", 30), 0, { ...DEFAULT_RETRY, maxRetryAfterMs: 10_000 }, () => 0)).toBeNull();
    expect(retryDelay(answer(429, "daily_quota_exceeded", 40_000), 0, DEFAULT_RETRY, half)).toBeNull();
  });

  it("stops after maxRetries", () => {
    const error = answer(503, "limiter_unavailable", 1);
    expect(retryDelay(error, 2, DEFAULT_RETRY, half)).not.toBeNull();
    expect(retryDelay(error, 3, DEFAULT_RETRY, half)).toBeNull();
    expect(retryDelay(error, 0, { ...DEFAULT_RETRY, maxRetries: 0 }, half)).toBeNull();
  });
});

describe("parseRetryAfter", () => {
  it.each([
    ["1", 1],
    [" 30 ", 30],
    [null, undefined],
    ["", undefined],
    ["-1", undefined],
    ["1.5", undefined],
    ["Fri, 27 Nov 2026 00:00:00 GMT", undefined],
  ])("%j → %j", (value, expected) => {
    expect(parseRetryAfter(value)).toBe(expected);
  });
});
