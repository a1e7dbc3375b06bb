/** Default limits per key type (API.md §3) and per-key overrides. */
import type { KeyType } from "../keys/format";

export interface Limits {
  /** Tokens added per second. */
  rate: number;
  /** Bucket size: the most requests admitted at once. */
  burst: number;
  /** Admitted requests per UTC day. */
  daily: number;
}

export const DEFAULT_LIMITS: Readonly<Record<KeyType, Limits>> = {
  public: { rate: 100, burst: 1_000, daily: 1_000_000 },
  secret: { rate: 1_000, burst: 10_000, daily: 10_000_000 },
};

/** An operator's override per limit; null keeps the default of the key's type. */
export type LimitOverrides = { [K in keyof Limits]: number | null };

export const NO_OVERRIDES: LimitOverrides = { rate: null, burst: null, daily: null };

export function effectiveLimits(type: KeyType, overrides: LimitOverrides): Limits {
  const defaults = DEFAULT_LIMITS[type];
  return {
    rate: overrides.rate ?? defaults.rate,
    burst: overrides.burst ?? defaults.burst,
    daily: overrides.daily ?? defaults.daily,
  };
}
