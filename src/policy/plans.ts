/**
 * Plans: a project's plan sets the default limits of its keys (issue 16). Pure.
 *
 *   free        API.md §3's table — the default plan, which every project starts on
 *   pro, enterprise   higher defaults, fixed here
 *   custom      defaults an operator gives for the project, per key type
 *
 * A key's effective limits are its own overrides (an operator's, per key) where it has them, and
 * its project's plan elsewhere: a key with explicit limits keeps them when the plan changes, a key
 * on defaults follows the plan.
 *
 * How a plan reaches a key: each key's KeyLimiter object is the one writer of its state
 * (keys/key-state.ts), so a plan change is an operation sent to every key of the project, carrying
 * the plan as a `KeyPlan` — the plan's limits for that key's type and the project's plan revision.
 * Revisions only grow (one per change, counted in D1), and an object takes a plan only from a newer
 * revision than the one it holds, so plan changes that race arrive in any order and every key ends
 * on the latest (lifecycle.ts, setProjectPlan).
 */
import type { KeyType } from "../keys/format";
import { countOf, formatCount } from "../http/plural";
import { DEFAULT_LIMITS, type Limits, type LimitOverrides } from "./limits";

export const PLAN_NAMES = ["free", "pro", "enterprise", "custom"] as const;
export type PlanName = (typeof PLAN_NAMES)[number];
export type NamedPlan = Exclude<PlanName, "custom">;

/** A plan's default limits, per key type. */
export type PlanLimits = Readonly<Record<KeyType, Limits>>;

/** Every project starts here; a key with no plan recorded (from before plans) is on it too. */
export const DEFAULT_PLAN: NamedPlan = "free";

export const PLANS: Readonly<Record<NamedPlan, PlanLimits>> = {
  free: DEFAULT_LIMITS,
  pro: {
    public: { rate: 500, burst: 5_000, daily: 10_000_000 },
    secret: { rate: 5_000, burst: 50_000, daily: 100_000_000 },
  },
  enterprise: {
    public: { rate: 2_000, burst: 20_000, daily: 100_000_000 },
    secret: { rate: 20_000, burst: 200_000, daily: 1_000_000_000 },
  },
};

/** The highest limits a plan or a key may have (what the operator API accepts). */
export const MAX_LIMITS: Limits = { rate: 1_000_000, burst: 10_000_000, daily: 1_000_000_000 };

/** A project's plan as D1 records it: `limits` are the plan's own for a named plan, the operator's for custom. */
export interface ProjectPlan {
  name: PlanName;
  limits: PlanLimits;
  /** 0 for a project that never changed plan; each change adds one. */
  revision: number;
}

/** The plan as a key's object holds it: the project's plan for this key's type, as of `revision`. */
export interface KeyPlan {
  name: PlanName;
  revision: number;
  limits: Limits;
}

/** The default plan, revision 0: where every project starts and every key from before plans is. */
export const DEFAULT_PROJECT_PLAN: ProjectPlan = { name: DEFAULT_PLAN, limits: PLANS[DEFAULT_PLAN], revision: 0 };

/** The project's plan as one key of `type` holds it. */
export function keyPlanOf(plan: ProjectPlan, type: KeyType): KeyPlan {
  return { name: plan.name, revision: plan.revision, limits: plan.limits[type] };
}

/** The default plan for a key of `type` (keys recorded before plans existed). */
export function defaultKeyPlan(type: KeyType): KeyPlan {
  return keyPlanOf(DEFAULT_PROJECT_PLAN, type);
}

/**
 * The limits a custom plan gets: `given` where given, else the limits the project has now (so
 * "custom with a higher secret daily quota" starts from the current plan, not from zero).
 */
export function customLimits(current: PlanLimits, given: { [T in KeyType]?: Partial<Limits> }): PlanLimits {
  const merged = (type: KeyType): Limits => ({ ...current[type], ...definedOnly(given[type] ?? {}) });
  return { public: merged("public"), secret: merged("secret") };
}

function definedOnly(limits: Partial<Limits>): Partial<Limits> {
  return Object.fromEntries(Object.entries(limits).filter(([, value]) => value !== undefined)) as Partial<Limits>;
}

/** The plan's limits for a named plan; for custom, the limits given (already complete). */
export function planLimits(name: PlanName, custom: PlanLimits | null): PlanLimits {
  if (name === "custom") {
    if (custom === null) throw new Error("a custom plan needs its limits");
    return custom;
  }
  return PLANS[name];
}

/** Which policy a 429 is for: the token bucket (rate and burst) or the daily quota. */
export type LimitPolicy = "burst" | "daily";

/**
 * The `detail` of a 429 for a key over `policy`: the limit in words, where it comes from (the
 * project's plan, or this key's own limit), and where higher limits are to be had. A key's own
 * limit does not move with the plan, so it is not sent to upgrade the plan. AUTH-DOCS' 429 advice
 * ("consider upgrading your plan") is true because of this text.
 */
export function overLimitDetail(policy: LimitPolicy, limits: Limits, overrides: LimitOverrides, plan: PlanName): string {
  const own = policy === "daily" ? overrides.daily !== null : overrides.rate !== null || overrides.burst !== null;
  const source = own ? `a limit set for this key (the project is on the ${plan} plan)` : `the limit of the project's ${plan} plan`;
  const higher = own
    ? "This key's own limit stays when the plan changes: to raise it, contact Composite support."
    : `For higher limits, upgrade the project's plan${plan === "free" ? " (pro, enterprise or custom)" : ""}: contact Composite support. The dashboard shows the plan and its limits on each key's page.`;
  if (policy === "daily") {
    return `This key has used its ${countOf(limits.daily, "request")} for today (UTC), ${source}. The quota resets at 00:00 UTC. ${higher}`;
  }
  return (
    `This key is over its rate limit of ${countOf(limits.rate, "request")} per second (burst ${formatCount(limits.burst)}), ${source}. ` +
    `Retry after the Retry-After seconds, with exponential backoff. ${higher}`
  );
}
