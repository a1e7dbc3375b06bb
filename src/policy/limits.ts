/** Limits: the default plan's per key type (API.md §3), per-key overrides, and the limits in force. */
import type { KeyType } from "../keys/format";

export interface Limits {
  /** Tokens added per second. */
  rate: number;
  /** Bucket size: the most requests admitted at once. */
  burst: number;
  /** Admitted requests per UTC day. */
  daily: number;
}

/** The default plan's limits (API.md §3's table); other plans are in plans.ts. */
export const DEFAULT_LIMITS: Readonly<Record<KeyType, Limits>> = {
  public: { rate: 100, burst: 1_000, daily: 1_000_000 },
  secret: { rate: 1_000, burst: 10_000, daily: 10_000_000 },
};

/** An operator's override per limit; null keeps the default (the key's plan's, for its type). */
export type LimitOverrides = { [K in keyof Limits]: number | null };

export const NO_OVERRIDES: LimitOverrides = { rate: null, burst: null, daily: null };

/** The limits in force: the key's own overrides where it has them, its plan's defaults elsewhere. */
export function effectiveLimits(defaults: Limits, overrides: LimitOverrides): Limits {
  return {
    rate: overrides.rate ?? defaults.rate,
    burst: overrides.burst ?? defaults.burst,
    daily: overrides.daily ?? defaults.daily,
  };
}
