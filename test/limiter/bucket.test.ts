/** Bucket and day arithmetic with a controllable clock (plain unit tests). */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  fullBucket,
  nextUtcMidnight,
  refill,
  remainingTokens,
  secondsUntilFull,
  secondsUntilMidnight,
  secondsUntilTokens,
  utcDay,
  type Limits,
} from "../../src/limiter/bucket";

const PUBLIC: Limits = { rate: 100, burst: 1000, daily: 1_000_000 };
const T0 = Date.parse("2026-11-26T12:00:00.000Z");

describe("refill", () => {
  it("adds rate × elapsed", () => {
    expect(refill({ tokens: 0, at: T0 }, PUBLIC, T0 + 1000)).toEqual({ tokens: 100, at: T0 + 1000 });
    expect(refill({ tokens: 0, at: T0 }, PUBLIC, T0 + 15)).toEqual({ tokens: 1.5, at: T0 + 15 });
  });

  it("caps at burst", () => {
    expect(refill({ tokens: 990, at: T0 }, PUBLIC, T0 + 60_000).tokens).toBe(1000);
    expect(refill(fullBucket(PUBLIC, T0), PUBLIC, T0 + 1).tokens).toBe(1000);
  });

  it("keeps fractions: 1 ms at 100/s is a tenth of a token, ten of them make one", () => {
    let bucket = { tokens: 0, at: T0 };
    for (let i = 1; i <= 10; i++) bucket = refill(bucket, PUBLIC, T0 + i);
    expect(bucket.tokens).toBeCloseTo(1, 10);
    expect(remainingTokens(bucket)).toBe(Math.floor(bucket.tokens));
  });

  it("a clock going backwards adds nothing and does not move the refill point back", () => {
    const later = refill({ tokens: 10, at: T0 }, PUBLIC, T0 - 5000);
    expect(later).toEqual({ tokens: 10, at: T0 });
    // And when time comes back, only real elapsed time since T0 counts.
    expect(refill(later, PUBLIC, T0 + 100).tokens).toBe(20);
  });

  it("a lowered burst takes effect at once", () => {
    expect(refill({ tokens: 1000, at: T0 }, { ...PUBLIC, burst: 10 }, T0).tokens).toBe(10);
  });

  it("property: over any schedule, tokens stay within [0, burst] and never exceed start + rate × elapsed", () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0, max: 1000, noNaN: true }),
        fc.array(fc.integer({ min: -2000, max: 5000 }), { maxLength: 50 }),
        (start, steps) => {
          let bucket = { tokens: start, at: T0 };
          let clock = T0;
          let maxClock = T0;
          for (const step of steps) {
            clock += step;
            maxClock = Math.max(maxClock, clock);
            bucket = refill(bucket, PUBLIC, clock);
            expect(bucket.tokens).toBeGreaterThanOrEqual(0);
            expect(bucket.tokens).toBeLessThanOrEqual(PUBLIC.burst);
            expect(bucket.tokens).toBeLessThanOrEqual(start + ((maxClock - T0) / 1000) * PUBLIC.rate + 1e-9);
          }
        },
      ),
    );
  });
});

describe("what clients are told", () => {
  it("remaining rounds down, never below zero", () => {
    expect(remainingTokens({ tokens: 0.999, at: T0 })).toBe(0);
    expect(remainingTokens({ tokens: 41.7, at: T0 })).toBe(41);
    expect(remainingTokens({ tokens: -0.5, at: T0 })).toBe(0);
  });

  it("seconds until full round up", () => {
    expect(secondsUntilFull({ tokens: 1000, at: T0 }, PUBLIC)).toBe(0);
    expect(secondsUntilFull({ tokens: 999.99, at: T0 }, PUBLIC)).toBe(1);
    expect(secondsUntilFull({ tokens: 0, at: T0 }, PUBLIC)).toBe(10);
    expect(secondsUntilFull({ tokens: 0, at: T0 }, { ...PUBLIC, rate: 3 })).toBe(334);
  });

  it("retry-after is whole seconds, at least 1, and enough for the token to be there", () => {
    expect(secondsUntilTokens({ tokens: 0.99, at: T0 }, PUBLIC)).toBe(1);
    expect(secondsUntilTokens({ tokens: 0, at: T0 }, { ...PUBLIC, rate: 0.5 })).toBe(2);
    expect(secondsUntilTokens({ tokens: 0, at: T0 }, { ...PUBLIC, rate: 0.3 })).toBe(4);
    fc.assert(
      fc.property(fc.double({ min: 0, max: 0.999, noNaN: true }), fc.integer({ min: 1, max: 10_000 }), (tokens, rate) => {
        const limits = { ...PUBLIC, rate };
        const wait = secondsUntilTokens({ tokens, at: T0 }, limits);
        expect(wait).toBeGreaterThanOrEqual(1);
        expect(refill({ tokens, at: T0 }, limits, T0 + wait * 1000).tokens).toBeGreaterThanOrEqual(1);
      }),
    );
  });
});

describe("UTC days", () => {
  it("rolls over at 00:00 UTC exactly", () => {
    const midnight = Date.parse("2026-11-27T00:00:00.000Z");
    expect(utcDay(midnight - 1)).toBe("2026-11-26");
    expect(utcDay(midnight)).toBe("2026-11-27");
    expect(nextUtcMidnight(midnight - 1)).toBe(midnight);
    expect(nextUtcMidnight(midnight)).toBe(midnight + 86_400_000);
    expect(nextUtcMidnight(T0)).toBe(midnight);
  });

  it("waits until midnight in whole seconds, rounded up, never 0", () => {
    const midnight = Date.parse("2026-11-27T00:00:00.000Z");
    expect(secondsUntilMidnight(T0)).toBe(43_200);
    expect(secondsUntilMidnight(T0 + 1)).toBe(43_200);
    expect(secondsUntilMidnight(midnight - 1)).toBe(1);
    expect(secondsUntilMidnight(midnight)).toBe(86_400);
  });

  it("year and leap-day boundaries", () => {
    expect(utcDay(Date.parse("2028-02-29T23:59:59.999Z"))).toBe("2028-02-29");
    expect(nextUtcMidnight(Date.parse("2026-12-31T23:00:00Z"))).toBe(Date.parse("2027-01-01T00:00:00Z"));
  });
});
