/**
 * The scale simulation of bench/scale-sim.ts (what `npm run bench:scale` prints), held to its
 * bounds in CI: one secret key offered 10,000 req/s through 20 isolates against one object that
 * serves 1,000 calls/s. With leases the object stays under its capacity once they engage, no
 * window admits more than burst + rate × seconds, and every isolate stops within LEASE_MS of the
 * revoke; a call per request instead overloads the object, and event ingestion fails open.
 */
import { describe, expect, it } from "vitest";
import { SCALE_SCENARIO as base, simulate } from "../../bench/scale-sim";

describe("token leases at scale (simulated)", () => {
  for (const seed of [42, 7, 2026]) {
    it(`seed ${seed}: under capacity, never over the bucket, stopped within LEASE_MS of a revoke`, () => {
      const leases = simulate({ ...base, seed, leaseMs: 1_000 });
      expect(leases.worstWindowExcess).toBeLessThanOrEqual(1e-9);
      expect(leases.objectCallsPerSecondMaxAfterFirstSecond).toBeLessThan(base.objectCallsPerSecond);
      expect(leases.stoppedWithinLeaseMs).toBe(true);
      // Nearly all the key may admit (burst, then its rate) is admitted: leases do not starve it.
      expect(leases.admitted).toBeGreaterThan(0.95 * (base.limits.burst + (base.limits.rate * base.revokeAtMs) / 1000));
      const perRequest = simulate({ ...base, seed, leaseMs: 0 });
      expect(perRequest.failedOpen).toBeGreaterThan(10 * Math.max(1, leases.failedOpen));
    });
  }
});
