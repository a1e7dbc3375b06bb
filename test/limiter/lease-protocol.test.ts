/**
 * The token-lease protocol as a property (fast-check): N isolates with random arrivals, renewals
 * that arrive late or are lost, crashes, key changes and a revoke, against the object's ledger
 * (lease-ledger.ts) and each isolate's lease logic (leases.ts: leaseAfterGrant, useLease,
 * needsRenewal) — the same functions the Worker runs. After every run:
 *  - never over-admit: for any two admissions, those between them ≤ burst + rate × seconds, and
 *    in all ≤ the daily quota;
 *  - nothing is admitted later than LEASE_MS after the revoke;
 *  - counts are exact: the object's count equals what was admitted, less what crashed isolates
 *    admitted and never reported (at most their lease), and the refusals likewise.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fullBucket, utcDay } from "../../src/limiter/bucket";
import { grantLease, MAX_LEASES, maxLeaseTokens, refillLedger, renewLease, reservedOn, takeReport, UNREPORTED_GRACE_MS, type LeaseReport, type Ledger } from "../../src/limiter/lease-ledger";
import { admitFromLease, leaseAfterGrant, needsRenewal, startRenewal, useLease, type HeldLease, type LeaseGrant } from "../../src/limiter/leases";
import type { Limits } from "../../src/policy/limits";

const NEED = { permission: "events:write", publicKey: true, action: "send events" } as const;
const T0 = Date.UTC(2026, 11, 2, 10, 0, 0);

/** The object's side, as KeyLimiter.decide and KeyLimiter.renewLease use the ledger. */
class SimObject {
  ledger: Ledger;
  requests = 0;
  rejected = 0;
  version = 1;
  revoked = false;
  private nextLease = 0;

  constructor(
    readonly limits: Limits,
    readonly leaseMs: number,
  ) {
    this.ledger = { bucket: fullBucket(limits, T0), leases: {} };
  }

  private grantOf(answer: { leaseId: string; topUp: number; expiresAt: number; version: number; short: boolean }, now: number): LeaseGrant {
    return {
      ...answer,
      policy: { type: "public", status: this.revoked ? "revoked" : "active", scopes: null, expiresAt: null, allowedOrigins: null },
      scopes: ["events:write"],
    refusals: { burst: "over the rate limit", daily: "over the daily quota" },
      limits: this.limits,
      bucketTokens: this.ledger.bucket.tokens,
      dayUsed: this.requests + reservedOn(this.ledger, utcDay(now)),
    };
  }

  admit(now: number, want: number): { status: number; grant?: LeaseGrant } {
    refillLedger(this.ledger, this.limits, now);
    if (this.revoked) return { status: 401 };
    if (this.requests + reservedOn(this.ledger, utcDay(now)) >= this.limits.daily || this.ledger.bucket.tokens < 1) {
      return { status: 429 }; // counted by the isolate (callerCountsRefusal): it may admit it from its lease yet
    }
    this.ledger.bucket = { ...this.ledger.bucket, tokens: this.ledger.bucket.tokens - 1 };
    this.requests++;
    if (want === 0) return { status: 200 };
    const answer = grantLease(this.ledger, this.limits, this.requests, { leaseId: `lease${this.nextLease++}`, want, maxTokens: maxLeaseTokens(this.limits, this.leaseMs), leaseMs: this.leaseMs, version: this.version }, now);
    return answer.granted ? { status: 200, grant: this.grantOf(answer, now) } : { status: 200 };
  }

  /** What reports counted, by lease: what a crashed isolate's lease did beyond it was never counted. */
  readonly reported = new Map<string, { used: number; refused: number }>();

  renew(report: LeaseReport, now: number): LeaseGrant | null {
    refillLedger(this.ledger, this.limits, now);
    const counted = takeReport(this.ledger, report, now);
    this.requests += counted.requests;
    this.rejected += counted.rejected;
    const reported = this.reported.get(report.leaseId) ?? { used: 0, refused: 0 };
    this.reported.set(report.leaseId, { used: reported.used + counted.requests, refused: reported.refused + counted.rejected });
    if (report.final || report.want < 1 || this.revoked) return null;
    const answer = renewLease(this.ledger, this.limits, this.requests, { leaseId: report.leaseId, want: report.want, maxTokens: maxLeaseTokens(this.limits, this.leaseMs), leaseMs: this.leaseMs, version: this.version }, now);
    return answer.granted ? this.grantOf(answer, now) : null;
  }
}



interface SimIsolate {
  lease?: HeldLease;
  crashed: boolean;
  /** The lease it held when it crashed, and what that lease admitted or refused that was never reported. */
  lostAdmitted: number;
  lostRefused: number;
  lostLease?: HeldLease;
}

interface InFlight {
  isolate: number;
  report: LeaseReport;
  lease: HeldLease;
}

type Step =
  | { kind: "request"; isolate: number; after: number }
  | { kind: "deliver"; after: number }
  | { kind: "lose"; after: number }
  | { kind: "crash"; isolate: number; after: number }
  | { kind: "relabel"; after: number }
  | { kind: "revoke"; after: number }
  /** A quiet minute or more: orphaned leases outlive UNREPORTED_GRACE_MS and are folded into the day's reservation. */
  | { kind: "pause"; after: number };

const step = (isolates: number): fc.Arbitrary<Step> =>
  fc.oneof(
    { weight: 12, arbitrary: fc.record({ kind: fc.constant("request" as const), isolate: fc.nat(isolates - 1), after: fc.integer({ min: 0, max: 40 }) }) },
    { weight: 4, arbitrary: fc.record({ kind: fc.constant("deliver" as const), after: fc.integer({ min: 0, max: 200 }) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("lose" as const), after: fc.integer({ min: 0, max: 50 }) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("crash" as const), isolate: fc.nat(isolates - 1), after: fc.integer({ min: 0, max: 50 }) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("relabel" as const), after: fc.integer({ min: 0, max: 50 }) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("revoke" as const), after: fc.integer({ min: 0, max: 300 }) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("pause" as const), after: fc.integer({ min: UNREPORTED_GRACE_MS, max: UNREPORTED_GRACE_MS + 30_000 }) }) },
  );

const scenario: fc.Arbitrary<Scenario> = fc.integer({ min: 1, max: 5 }).chain((isolates) =>
  fc.record({
    isolates: fc.constant(isolates),
    limits: fc.record({ rate: fc.integer({ min: 1, max: 60 }), burst: fc.integer({ min: 1, max: 80 }), daily: fc.integer({ min: 20, max: 400 }) }),
    leaseMs: fc.integer({ min: 100, max: 2000 }),
    want: fc.integer({ min: 1, max: 80 }),
    steps: fc.array(step(isolates), { minLength: 1, maxLength: 300 }),
  }),
);

interface Scenario {
  isolates: number;
  limits: Limits;
  leaseMs: number;
  want: number;
  steps: Step[];
}

function run({ isolates: count, limits, leaseMs, want, steps }: Scenario) {
  const object = new SimObject(limits, leaseMs);
  const isolates: SimIsolate[] = Array.from({ length: count }, () => ({ crashed: false, lostAdmitted: 0, lostRefused: 0 }));
  const inFlight: InFlight[] = [];
  const admitted: number[] = [];
  let refused = 0;
  let revokedAt: number | null = null;
  let now = T0;

  const send = (isolate: number, lease: HeldLease, final: boolean) => {
    if (!final) startRenewal(lease, now);
    inFlight.push({ isolate, lease, report: { leaseId: lease.leaseId, usedTotal: lease.used, refusedTotal: lease.refused, want: final ? 0 : want, final } });
  };
  const deliver = (message: InFlight) => {
    const grant = object.renew(message.report, now);
    const isolate = isolates[message.isolate]!;
    message.lease.renewing = false;
    if (message.report.final || isolate.crashed || isolate.lease !== message.lease) return;
    if (grant === null) {
      isolate.lease = undefined;
      send(message.isolate, message.lease, true);
    } else {
      isolate.lease = leaseAfterGrant("key", message.lease, grant);
    }
  };

  /** Every message in flight arrives, and each live isolate reports its lease as final: what happens within seconds of quiet. */
  const settle = () => {
    while (inFlight.length > 0) deliver(inFlight.shift()!);
    for (const [index, isolate] of isolates.entries()) {
      if (!isolate.crashed && isolate.lease !== undefined) {
        send(index, isolate.lease, true);
        isolate.lease = undefined;
      }
    }
    while (inFlight.length > 0) deliver(inFlight.shift()!);
  };

  for (const s of steps) {
    if (s.kind === "pause") settle();
    now += s.after;
    switch (s.kind) {
      case "request": {
        const isolate = isolates[s.isolate]!;
        if (isolate.crashed) break;
        let lease = isolate.lease;
        if (lease !== undefined && now >= lease.usableUntil && !lease.renewing) {
          send(s.isolate, lease, true);
          isolate.lease = lease = undefined;
        }
        if (lease !== undefined) {
          const used = useLease(lease, NEED, null, now);
          if (needsRenewal(lease, now, leaseMs)) send(s.isolate, lease, false);
          if (used?.ok) {
            admitted.push(now);
            break;
          }
          if (used !== undefined) {
            refused++;
            break;
          }
        }
        const answer = object.admit(now, lease === undefined ? want : 0);
        if (answer.status === 200) {
          admitted.push(now);
          if (answer.grant !== undefined) isolate.lease = leaseAfterGrant("key", undefined, answer.grant);
        } else if (answer.status === 429) {
          const fallback = lease === undefined ? undefined : admitFromLease(lease, NEED, null, now);
          if (fallback !== undefined) admitted.push(now);
          else {
            refused++;
            object.rejected++; // the isolate's count of the object's 429 (returnRefused, then handed over)
          }
        }
        break;
      }
      case "deliver":
        if (inFlight.length > 0) deliver(inFlight.shift()!);
        break;
      case "lose":
        if (inFlight.length > 0) {
          const lost = inFlight.shift()!;
          lost.lease.renewing = false;
          // A lost final report: the isolate retries it (reportFinal); a lost renewal is simply not answered.
          if (lost.report.final) inFlight.push(lost);
        }
        break;
      case "crash": {
        const isolate = isolates[s.isolate]!;
        if (isolate.crashed) break;
        isolate.crashed = true;
        isolate.lostLease = isolate.lease;
        // Its messages already sent still arrive; nothing more comes from it.
        isolate.lease = undefined;
        break;
      }
      case "relabel":
        object.version++;
        break;
      case "revoke":
        if (revokedAt === null) {
          object.revoked = true;
          object.version++;
          revokedAt = now;
        }
        break;
      case "pause":
        break; // settled above, before the time passed
    }
  }
  // The end: every message in flight arrives; every live isolate's lease expires and is reported.
  now += 2 * leaseMs;
  settle();
  // What a crashed isolate's lease did that its messages (all arrived by now) never reported.
  for (const isolate of isolates) {
    const lease = isolate.lostLease;
    if (lease === undefined) continue;
    const reported = object.reported.get(lease.leaseId) ?? { used: 0, refused: 0 };
    isolate.lostAdmitted = lease.used - reported.used;
    isolate.lostRefused = lease.refused - reported.refused;
  }
  return { object, isolates, admitted, refused, revokedAt };
}

describe("token-lease protocol, property", () => {
  it("never over-admits, stops within LEASE_MS of a revoke, and counts exactly what was reported", () => {
    fc.assert(
      fc.property(scenario, (input) => {
        const { object, isolates, admitted, refused, revokedAt } = run(input);
        const { burst, rate, daily } = input.limits;
        // Any two admissions: those from the one to the other fit in the bucket and its refill.
        for (let i = 0; i < admitted.length; i++) {
          for (let j = i; j < admitted.length; j++) {
            const seconds = (admitted[j]! - admitted[i]!) / 1000;
            expect(j - i + 1, `admissions ${i}..${j} over ${seconds}s`).toBeLessThanOrEqual(burst + rate * seconds + 1e-6);
          }
        }
        expect(admitted.length).toBeLessThanOrEqual(daily);
        if (revokedAt !== null) for (const at of admitted) expect(at - revokedAt).toBeLessThanOrEqual(input.leaseMs);
        const lostAdmitted = isolates.reduce((sum, isolate) => sum + isolate.lostAdmitted, 0);
        const lostRefused = isolates.reduce((sum, isolate) => sum + isolate.lostRefused, 0);
        expect(object.requests).toBe(admitted.length - lostAdmitted);
        expect(object.rejected).toBe(refused - lostRefused);
        // Every lease ended and was reported, but a crashed isolate's: its unreported requests are at most that lease's tokens.
        const crashedLeases = isolates.filter((isolate) => isolate.lostLease !== undefined);
        expect(Object.keys(object.ledger.leases).length).toBeLessThanOrEqual(crashedLeases.length);
        for (const isolate of crashedLeases) expect(isolate.lostAdmitted).toBeLessThanOrEqual(isolate.lostLease!.granted);
      }),
      { numRuns: 3_000 },
    );
  });
});

describe("lease grants: short only when the key has no more to lend", () => {
  const limits = { rate: 100, burst: 1_000, daily: 1_000_000 };
  const grant = (ledger: Ledger, want: number, leaseId = "a") =>
    grantLease(ledger, limits, 0, { leaseId, want, maxTokens: 200, leaseMs: 1_000, version: 1 }, T0);

  it("a grant of all that was asked is not short; one cut by the bucket or a share is", () => {
    expect(grant({ bucket: fullBucket(limits, T0), leases: {} }, 50)).toMatchObject({ granted: true, topUp: 50, short: false });
    expect(grant({ bucket: { tokens: 30, at: T0 }, leases: {} }, 50)).toMatchObject({ granted: true, topUp: 30, short: true });
    expect(grant({ bucket: { tokens: 300, at: T0 }, leases: {} }, 500)).toMatchObject({ granted: true, topUp: 200, short: false });
    expect(grant({ bucket: { tokens: 150, at: T0 }, leases: {} }, 500)).toMatchObject({ granted: true, topUp: 150, short: true });
    const shared: Ledger = { bucket: { tokens: 300, at: T0 }, leases: {} };
    grant(shared, 100, "other");
    expect(grant(shared, 150)).toMatchObject({ granted: true, topUp: 100, short: true });
  });

  it("a grant cut only by the per-lease cap is not short: the bucket still holds the rest of the key's burst", () => {
    expect(grant({ bucket: fullBucket(limits, T0), leases: {} }, 500)).toMatchObject({ granted: true, topUp: 200, short: false });
    const ledger: Ledger = { bucket: fullBucket(limits, T0), leases: {} };
    grant(ledger, 500);
    takeReport(ledger, { leaseId: "a", usedTotal: 200, refusedTotal: 0, final: false }, T0 + 10);
    expect(renewLease(ledger, limits, 200, { leaseId: "a", want: 5_000, maxTokens: 200, leaseMs: 1_000, version: 1 }, T0 + 10)).toMatchObject({
      granted: true,
      topUp: 200,
      short: false,
    });
  });

  it("a renewal asks for what the lease lacks: an isolate that used tokens meanwhile is not told the key is short", () => {
    const ledger: Ledger = { bucket: fullBucket(limits, T0), leases: {} };
    grant(ledger, 100);
    // The isolate reported 60 used and wants 100 for the next period: 40 are still out, 60 more are asked.
    takeReport(ledger, { leaseId: "a", usedTotal: 60, refusedTotal: 0, final: false }, T0 + 10);
    expect(renewLease(ledger, limits, 60, { leaseId: "a", want: 100, maxTokens: 200, leaseMs: 1_000, version: 1 }, T0 + 10)).toMatchObject({
      granted: true,
      topUp: 60,
      short: false,
    });
  });
});

describe("leases whose isolates died holding them (a deploy or an eviction ends every isolate at once)", () => {
  const limits = { rate: 1_000, burst: 10_000, daily: 10_000_000 };
  const grant = (ledger: Ledger, leaseId: string, now: number) =>
    grantLease(ledger, limits, 0, { leaseId, want: 20, maxTokens: 2_000, leaseMs: 1_000, version: 1 }, now);
  /** MAX_LEASES isolates each take a lease at T0 and die holding it. */
  function orphaned(): Ledger {
    const ledger: Ledger = { bucket: fullBucket(limits, T0), leases: {} };
    for (let i = 0; i < MAX_LEASES; i++) expect(grant(ledger, `dead${i}`, T0)).toMatchObject({ granted: true });
    return ledger;
  }

  it("take no place among the key's MAX_LEASES once expired: the isolates after them lease again", () => {
    const ledger = orphaned();
    expect(grant(ledger, "while-they-live", T0 + 10), "the cap holds while they are live").toEqual({ granted: false });
    refillLedger(ledger, limits, T0 + 1_001);
    expect(grant(ledger, "after", T0 + 1_001)).toMatchObject({ granted: true, topUp: 20 });
  });

  it("keep their day tokens reserved until midnight, as used: never an over-admit, however long ago they died", () => {
    const ledger = orphaned();
    const day = utcDay(T0);
    expect(reservedOn(ledger, day)).toBe(MAX_LEASES * 20);
    for (const later of [T0 + 1_001, T0 + 1_000 + UNREPORTED_GRACE_MS + 1, T0 + 3_600_000]) {
      refillLedger(ledger, limits, later);
      expect(reservedOn(ledger, day), `at +${later - T0} ms`).toBe(MAX_LEASES * 20);
    }
    // Past the grace no report can come any more (a request's waitUntil lasts 30 s): only the reservation is kept, not each record.
    expect(Object.keys(ledger.leases)).toHaveLength(0);
    refillLedger(ledger, limits, Date.UTC(2026, 11, 3, 0, 0, 1));
    expect(reservedOn(ledger, day)).toBe(0);
    expect(reservedOn(ledger, utcDay(Date.UTC(2026, 11, 3, 0, 0, 1)))).toBe(0);
  });

  it("a report that comes after expiry but within the grace still counts, and frees the rest of the reservation", () => {
    const ledger = orphaned();
    const lateAt = T0 + 1_000 + UNREPORTED_GRACE_MS - 1;
    refillLedger(ledger, limits, lateAt);
    expect(takeReport(ledger, { leaseId: "dead0", usedTotal: 15, refusedTotal: 2, final: true }, lateAt)).toEqual({ requests: 15, rejected: 2 });
    expect(reservedOn(ledger, utcDay(T0))).toBe((MAX_LEASES - 1) * 20);
  });
});

describe("a request the object refused, then offered to the lease", () => {
  const grant: LeaseGrant = {
    leaseId: "l",
    topUp: 1,
    expiresAt: T0 + 1_000,
    version: 1,
    short: true,
    policy: { type: "public", status: "active", scopes: null, expiresAt: null, allowedOrigins: null },
    scopes: ["events:write"],
    refusals: { burst: "over the rate limit", daily: "over the daily quota" },
    limits: { rate: 10, burst: 10, daily: 1_000 },
    bucketTokens: 0,
    dayUsed: 0,
  };

  it("is admitted while the lease has a token, and neither admitted nor counted as refused once it has none", () => {
    const lease = leaseAfterGrant("key", undefined, grant);
    expect(admitFromLease(lease, NEED, null, T0)).toMatchObject({ ok: true });
    // Used up and short: useLease would answer (and count) a 429 — the object already counted this one.
    expect(admitFromLease(lease, NEED, null, T0)).toBeUndefined();
    expect(lease).toMatchObject({ used: 1, refused: 0 });
    expect(useLease(lease, NEED, null, T0)).toMatchObject({ ok: false, code: "rate_limited" });
    expect(lease.refused).toBe(1);
  });
});
