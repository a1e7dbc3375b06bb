/**
 * The pure pieces of plans and of numbers in text (issue 16): plural agreement, the limits a key
 * has on a plan with or without its own, a custom plan built from the current one, and the 429
 * detail — property-tested with fast-check.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { countOf, formatCount, nounFor } from "../../src/http/plural";
import { DEFAULT_LIMITS, effectiveLimits, NO_OVERRIDES, type LimitOverrides, type Limits } from "../../src/policy/limits";
import { customLimits, keyPlanOf, MAX_LIMITS, overLimitDetail, PLAN_NAMES, PLANS, type PlanLimits } from "../../src/policy/plans";

const count = fc.oneof(fc.integer({ min: 0, max: 2_000_000_000 }), fc.constantFrom(0, 1, 2, 1000, 1_000_000));
const limitsArb: fc.Arbitrary<Limits> = fc.record({
  rate: fc.integer({ min: 1, max: MAX_LIMITS.rate }),
  burst: fc.integer({ min: 1, max: MAX_LIMITS.burst }),
  daily: fc.integer({ min: 1, max: MAX_LIMITS.daily }),
});
const overridesArb: fc.Arbitrary<LimitOverrides> = fc.record({
  rate: fc.option(fc.integer({ min: 1, max: MAX_LIMITS.rate }), { nil: null }),
  burst: fc.option(fc.integer({ min: 1, max: MAX_LIMITS.burst }), { nil: null }),
  daily: fc.option(fc.integer({ min: 1, max: MAX_LIMITS.daily }), { nil: null }),
});
const planLimitsArb: fc.Arbitrary<PlanLimits> = fc.record({ public: limitsArb, secret: limitsArb });

describe("plural", () => {
  it("1 takes the singular, every other count the plural", () => {
    expect(countOf(1, "request")).toBe("1 request");
    expect(countOf(0, "request")).toBe("0 requests");
    expect(countOf(2, "day")).toBe("2 days");
    expect(countOf(1_000_000, "request")).toBe("1,000,000 requests");
    expect(countOf(1, "key", "keys")).toBe("1 key");
    expect(countOf(3, "child", "children")).toBe("3 children");
  });

  it("property: the digits read back as the number, the noun agrees with it", () => {
    fc.assert(
      fc.property(count, (n) => {
        const text = countOf(n, "request");
        const [digits, noun] = text.split(" ");
        expect(digits).toMatch(/^\d{1,3}(,\d{3})*$/);
        expect(Number(digits!.replaceAll(",", ""))).toBe(n);
        expect(noun).toBe(n === 1 ? "request" : "requests");
        expect(nounFor(n, "request")).toBe(noun);
        expect(formatCount(n)).toBe(digits);
      }),
      { numRuns: 5_000 },
    );
  });
});

describe("limits on a plan", () => {
  it("free is API.md §3's table", () => {
    expect(PLANS.free).toEqual(DEFAULT_LIMITS);
    expect(PLANS.free.public).toEqual({ rate: 100, burst: 1_000, daily: 1_000_000 });
    expect(PLANS.free.secret).toEqual({ rate: 1_000, burst: 10_000, daily: 10_000_000 });
  });

  it("each named plan is at least the one before it, within what the operator API accepts", () => {
    const named = [PLANS.free, PLANS.pro, PLANS.enterprise];
    for (let i = 1; i < named.length; i++) {
      for (const type of ["public", "secret"] as const) {
        for (const part of ["rate", "burst", "daily"] as const) {
          expect(named[i]![type][part]).toBeGreaterThanOrEqual(named[i - 1]![type][part]);
          expect(named[i]![type][part]).toBeLessThanOrEqual(MAX_LIMITS[part]);
        }
      }
    }
  });

  it("property: a key's own limits stay whatever the plan; the rest are the plan's", () => {
    fc.assert(
      fc.property(planLimitsArb, planLimitsArb, overridesArb, fc.constantFrom("public" as const, "secret" as const), (before, after, own, type) => {
        const onBefore = effectiveLimits(keyPlanOf({ name: "custom", limits: before, revision: 1 }, type).limits, own);
        const onAfter = effectiveLimits(keyPlanOf({ name: "custom", limits: after, revision: 2 }, type).limits, own);
        for (const part of ["rate", "burst", "daily"] as const) {
          if (own[part] !== null) {
            expect(onBefore[part]).toBe(own[part]);
            expect(onAfter[part]).toBe(own[part]);
          } else {
            expect(onAfter[part]).toBe(after[type][part]);
          }
        }
        expect(effectiveLimits(after[type], NO_OVERRIDES)).toEqual(after[type]);
      }),
      { numRuns: 2_000 },
    );
  });

  it("property: a custom plan has the limits given, and the current plan's elsewhere", () => {
    const partial = fc.record({ rate: fc.integer({ min: 1, max: 100 }), burst: fc.integer({ min: 1, max: 100 }), daily: fc.integer({ min: 1, max: 100 }) }, { requiredKeys: [] });
    fc.assert(
      fc.property(planLimitsArb, fc.record({ public: partial, secret: partial }, { requiredKeys: [] }), (current, given) => {
        const custom = customLimits(current, given);
        for (const type of ["public", "secret"] as const) {
          for (const part of ["rate", "burst", "daily"] as const) {
            expect(custom[type][part]).toBe(given[type]?.[part] ?? current[type][part]);
          }
        }
        expect(customLimits(custom, {})).toEqual(custom);
      }),
      { numRuns: 2_000 },
    );
  });
});

describe("429 detail", () => {
  it("property: names the plan, agrees in number, sends plan limits to an upgrade and a key's own limits to support", () => {
    fc.assert(
      fc.property(fc.constantFrom(...PLAN_NAMES), fc.constantFrom("burst" as const, "daily" as const), limitsArb, overridesArb, (plan, policy, limits, own) => {
        const detail = overLimitDetail(policy, limits, own, plan);
        expect(detail).toContain(`${plan} plan`);
        expect(detail).not.toMatch(/(^|[^\d,])1 requests\b/);
        expect(detail).not.toMatch(/(^|[^\d,])(0|[2-9]|\d{2,}|\d{1,3}(,\d{3})+) request\b/);
        const ownLimit = policy === "daily" ? own.daily !== null : own.rate !== null || own.burst !== null;
        expect(detail.includes("upgrade the project's plan")).toBe(!ownLimit);
        expect(detail.includes("contact Composite support")).toBe(true);
        if (policy === "daily") expect(detail).toContain(countOf(limits.daily, "request"));
        else expect(detail).toContain(`${countOf(limits.rate, "request")} per second (burst ${formatCount(limits.burst)})`);
      }),
      { numRuns: 5_000 },
    );
  });

  it("reads as a sentence for the smallest limits", () => {
    expect(overLimitDetail("burst", { rate: 1, burst: 1, daily: 1 }, NO_OVERRIDES, "free")).toBe(
      "This key is over its rate limit of 1 request per second (burst 1), the limit of the project's free plan. Retry after the Retry-After seconds, with exponential backoff. For higher limits, upgrade the project's plan (pro, enterprise or custom): contact Composite support. The dashboard shows the plan and its limits on each key's page.",
    );
    expect(overLimitDetail("daily", { rate: 1, burst: 1, daily: 1 }, { rate: null, burst: null, daily: 1 }, "pro")).toBe(
      "This key has used its 1 request for today (UTC), a limit set for this key (the project is on the pro plan). The quota resets at 00:00 UTC. This key's own limit stays when the plan changes: to raise it, contact Composite support.",
    );
  });
});
