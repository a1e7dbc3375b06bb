/** Rate-limit headers, parsed back with a structured-fields (RFC 9651) library. */
import { parseList } from "structured-headers";
import { describe, expect, it } from "vitest";
import { rateLimitHeaders, type RateSnapshot } from "../../src/limiter/headers";

const NOW = Date.parse("2026-11-26T12:00:00.250Z");
const MIDNIGHT_S = Date.parse("2026-11-27T00:00:00Z") / 1000;
const base: RateSnapshot = { rate: 100, burst: 1000, daily: 1_000_000, tokens: 999, dayUsed: 1, now: NOW };
const headers = (s: Partial<RateSnapshot>) => Object.fromEntries(rateLimitHeaders({ ...base, ...s }));

function item(list: string, index = 0): { name: unknown; params: Record<string, unknown> } {
  const entry = parseList(list)[index]!;
  return { name: entry[0], params: Object.fromEntries(entry[1] as Map<string, unknown>) };
}

describe("rate-limit headers", () => {
  it("RateLimit-Policy lists both policies as structured fields", () => {
    const policy = headers({})["RateLimit-Policy"]!;
    expect(parseList(policy)).toHaveLength(2);
    expect(item(policy, 0)).toEqual({ name: "burst", params: { q: 1000, w: 10 } });
    expect(item(policy, 1)).toEqual({ name: "daily", params: { q: 1_000_000, w: 86400 } });
    expect(item(headers({ rate: 3, burst: 10 })["RateLimit-Policy"]!).params.w).toBe(4); // ceil(10/3)
  });

  it("RateLimit names the burst policy while the bucket is the scarcer one", () => {
    const h = headers({ tokens: 41.7 });
    expect(item(h.RateLimit!)).toEqual({ name: "burst", params: { r: 41, t: 10 } });
    expect(h["X-RateLimit-Remaining"]).toBe("41");
    expect(h["X-RateLimit-Limit"]).toBe("1000");
    expect(Number(h["X-RateLimit-Reset"])).toBeGreaterThanOrEqual(NOW / 1000 + (1000 - 41.7) / 100);
  });

  it("RateLimit names the daily policy when the day is closer to exhaustion", () => {
    const h = headers({ tokens: 1000, daily: 50, dayUsed: 45 });
    expect(item(h.RateLimit!)).toEqual({ name: "daily", params: { r: 5, t: Math.ceil(MIDNIGHT_S - NOW / 1000) } });
    expect(h["X-RateLimit-Limit-Day"]).toBe("50");
    expect(h["X-RateLimit-Remaining-Day"]).toBe("5");
    expect(h["X-RateLimit-Reset-Day"]).toBe(String(MIDNIGHT_S));
  });

  it("when both are empty, RateLimit names the policy that frees later: the client must wait for both", () => {
    const midnightIn = Math.ceil(MIDNIGHT_S - NOW / 1000);
    expect(item(headers({ tokens: 0.4, daily: 50, dayUsed: 50 }).RateLimit!)).toEqual({ name: "daily", params: { r: 0, t: midnightIn } });
    // Near midnight a slow bucket can take longer to fill than the day has left.
    const late = Date.parse("2026-11-26T23:59:58Z");
    const h = headers({ now: late, rate: 1, burst: 1000, tokens: 0, daily: 50, dayUsed: 50 });
    expect(item(h.RateLimit!)).toEqual({ name: "burst", params: { r: 0, t: 1000 } });
  });

  it("never promises more than the bucket holds", () => {
    for (const tokens of [0, 0.2, 0.999, 1, 1.5, 999.999]) {
      const h = headers({ tokens });
      expect(Number(h["X-RateLimit-Remaining"])).toBeLessThanOrEqual(tokens);
      expect(Number(h["X-RateLimit-Reset"]) * 1000).toBeGreaterThanOrEqual(NOW + ((1000 - tokens) / 100) * 1000);
    }
    expect(headers({ daily: 10, dayUsed: 12 })["X-RateLimit-Remaining-Day"]).toBe("0");
  });
});
