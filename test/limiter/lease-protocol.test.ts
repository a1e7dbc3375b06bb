/**
 * The token-lease protocol as a property (fast-check): N isolates with random arrivals, renewals
 * that arrive late or are lost, crashes, key changes and a revoke, against the object's ledger
 * (lease-ledger.ts) and each isolate's lease logic (leases.ts: leaseAfterGrant, useLease,
 * needsRenewal) — the same functions the Worker runs. After every run:
 *  - never over-admit: for any two admissions, those between them ≤ burst + rate × seconds, and
 *    in all ≤ the daily quota;
 *  - nothing is admitted later than LEASE_MS after the revoke;
 *  - after every step, the object's day count plus what it holds reserved covers everything
 *    admitted so far: what the daily quota is checked against never forgets an admission, not
 *    even one a crashed isolate never reported (whose lease is folded after UNREPORTED_GRACE_MS);
 *  - counts are exact: the object's count equals what was admitted, less what crashed isolates
 *    admitted and never reported (at most their lease), and the refusals likewise.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fullBucket, utcDay } from "../../src/limiter/bucket";
import { grantLease, MAX_LEASES, maxLeaseTokens, refillLedger, renewLease, reservedOn, SHORTEST_LEASE_MS, takeReport, UNREPORTED_GRACE_MS, type LeaseReport, type Ledger } from "../../src/limiter/lease-ledger";
import { admitFromLease, endRenewal, EXPIRY_MARGIN_MS, leaseAfterGrant, needsRenewal, renewalUnderWay, startRenewal, usableUntilOf, useLease, type HeldLease, type LeaseGrant } from "../../src/limiter/leases";
import type { Limits } from "../../src/policy/limits";

const NEED = { permission: "events:write", publicKey: true, action: "send events" } as const;
const T0 = Date.UTC(2026, 11, 2, 10, 0, 0);
const MIDNIGHT = Date.UTC(2026, 11, 3);

/** The object's side, as KeyLimiter.decide and KeyLimiter.renewLease use the ledger. */
class SimObject {
  ledger: Ledger;
  /** Admitted requests counted, in all and by UTC day (a lease's report counts on its day). */
  requests = 0;
  readonly requestsOn = new Map<string, number>();
  rejected = 0;
  version = 1;
  revoked = false;
  private nextLease = 0;

  constructor(
    readonly limits: Limits,
    readonly leaseMs: number,
    start: number,
  ) {
    this.ledger = { bucket: fullBucket(limits, start), leases: {} };
  }

  private count(day: string, requests: number): void {
    this.requests += requests;
    this.requestsOn.set(day, this.dayRequests(day) + requests);
  }

  dayRequests(day: string): number {
    return this.requestsOn.get(day) ?? 0;
  }

  private grantOf(answer: { leaseId: string; topUp: number; expiresAt: number; lifetimeMs: number; version: number; short: boolean }, now: number): LeaseGrant {
    return {
      ...answer,
      policy: { type: "public", status: this.revoked ? "revoked" : "active", scopes: null, expiresAt: null, allowedOrigins: null },
      scopes: ["events:write"],
    refusals: { burst: "over the rate limit", daily: "over the daily quota" },
      limits: this.limits,
      bucketTokens: this.ledger.bucket.tokens,
      dayUsed: this.dayRequests(utcDay(now)) + reservedOn(this.ledger, utcDay(now)),
    };
  }

  admit(now: number, want: number): { status: number; grant?: LeaseGrant } {
    refillLedger(this.ledger, this.limits, now);
    if (this.revoked) return { status: 401 };
    const today = utcDay(now);
    if (this.dayRequests(today) + reservedOn(this.ledger, today) >= this.limits.daily || this.ledger.bucket.tokens < 1) {
      return { status: 429 }; // counted by the isolate (callerCountsRefusal): it may admit it from its lease yet
    }
    this.ledger.bucket = { ...this.ledger.bucket, tokens: this.ledger.bucket.tokens - 1 };
    this.count(today, 1);
    if (want === 0) return { status: 200 };
    const answer = grantLease(this.ledger, this.limits, this.dayRequests(today), { leaseId: `lease${this.nextLease++}`, want, maxTokens: maxLeaseTokens(this.limits, this.leaseMs), leaseMs: this.leaseMs, version: this.version }, now);
    if (answer.granted) this.leaseDays.set(answer.leaseId, today);
    return answer.granted ? { status: 200, grant: this.grantOf(answer, now) } : { status: 200 };
  }

  /** The UTC day (this object's clock) each lease was granted on. */
  readonly leaseDays = new Map<string, string>();
  /** What reports counted, by lease: what a crashed isolate's lease did beyond it was never counted. */
  readonly reported = new Map<string, { used: number; refused: number }>();

  renew(report: LeaseReport, now: number): LeaseGrant | null {
    refillLedger(this.ledger, this.limits, now);
    const counted = takeReport(this.ledger, report, now);
    this.count(counted.day ?? utcDay(now), counted.requests);
    this.rejected += counted.rejected;
    const reported = this.reported.get(report.leaseId) ?? { used: 0, refused: 0 };
    this.reported.set(report.leaseId, { used: reported.used + counted.requests, refused: reported.refused + counted.rejected });
    if (report.final || report.want < 1 || this.revoked) return null;
    const answer = renewLease(this.ledger, this.limits, this.dayRequests(utcDay(now)), { leaseId: report.leaseId, want: report.want, maxTokens: maxLeaseTokens(this.limits, this.leaseMs), leaseMs: this.leaseMs, version: this.version }, now);
    return answer.granted ? this.grantOf(answer, now) : null;
  }
}



interface SimIsolate {
  lease?: HeldLease;
  /** Its clock less the object's (ms): leases are used and renewed by its own clock. */
  skew: number;
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
  sentAt: number;
}

type Step =
  /** `count` requests at the same instant: a burst, which only an exact bucket keeps to `burst`. */
  | { kind: "request"; isolate: number; after: number; count: number }
  | { kind: "deliver"; after: number }
  | { kind: "lose"; after: number }
  | { kind: "crash"; isolate: number; after: number }
  | { kind: "relabel"; after: number }
  | { kind: "revoke"; after: number }
  /** A quiet minute or more: orphaned leases outlive UNREPORTED_GRACE_MS and are folded into the day's reservation. */
  | { kind: "pause"; after: number };

const step = (isolates: number): fc.Arbitrary<Step> =>
  fc.oneof(
    { weight: 12, arbitrary: fc.record({ kind: fc.constant("request" as const), isolate: fc.nat(isolates - 1), after: fc.integer({ min: 0, max: 40 }), count: fc.constant(1) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant("request" as const), isolate: fc.nat(isolates - 1), after: fc.integer({ min: 0, max: 40 }), count: fc.integer({ min: 2, max: 100 }) }) },
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
    // Each isolate's clock ahead of or behind the object's, by more than EXPIRY_MARGIN_MS too.
    skews: fc.array(fc.oneof(fc.constant(0), fc.integer({ min: -400, max: 400 })), { minLength: isolates, maxLength: isolates }),
    limits: fc.record({ rate: fc.integer({ min: 1, max: 60 }), burst: fc.integer({ min: 1, max: 80 }), daily: fc.integer({ min: 20, max: 400 }) }),
    leaseMs: fc.integer({ min: 100, max: 2000 }),
    // Some runs begin seconds before midnight: leases then meet the day's end, and the quota starts again.
    start: fc.oneof(fc.constant(T0), fc.integer({ min: MIDNIGHT - 20_000, max: MIDNIGHT - 1 })),
    want: fc.integer({ min: 1, max: 80 }),
    // size "max": fast-check's default would keep arrays to about ten steps, too few for a crash,
    // a quiet minute and the traffic after them to meet in one run.
    steps: fc.array(step(isolates), { minLength: 1, maxLength: 300, size: "max" }),
  }),
);

interface Scenario {
  isolates: number;
  skews: number[];
  start: number;
  limits: Limits;
  leaseMs: number;
  want: number;
  steps: Step[];
}

function run({ isolates: count, skews, limits, leaseMs, want, steps, start }: Scenario) {
  const object = new SimObject(limits, leaseMs, start);
  const isolates: SimIsolate[] = Array.from({ length: count }, (_, index) => ({ crashed: false, lostAdmitted: 0, lostRefused: 0, skew: skews[index] ?? 0 }));
  const inFlight: InFlight[] = [];
  const admitted: number[] = [];
  let refused = 0;
  let revokedAt: number | null = null;
  let now = start;
  const admittedOn = new Map<string, number>();
  const admit = () => {
    admitted.push(now);
    admittedOn.set(utcDay(now), (admittedOn.get(utcDay(now)) ?? 0) + 1);
  };
  /** The most admissions the object's day count and reservations have lagged behind, after any step. */
  let unaccounted = 0;

  /** An isolate's own clock. */
  const clockOf = (isolate: number) => now + isolates[isolate]!.skew;
  const send = (isolate: number, lease: HeldLease, final: boolean) => {
    const sentAt = clockOf(isolate);
    if (!final && !startRenewal(lease, sentAt)) return;
    inFlight.push({ isolate, lease, sentAt, report: { leaseId: lease.leaseId, usedTotal: lease.used, refusedTotal: lease.refused, want: final ? 0 : want, final } });
  };
  const deliver = (message: InFlight) => {
    const grant = object.renew(message.report, now);
    const isolate = isolates[message.isolate]!;
    if (!message.report.final) endRenewal(message.lease, message.sentAt);
    if (message.report.final || isolate.crashed || isolate.lease !== message.lease) return;
    if (grant === null) {
      isolate.lease = undefined;
      send(message.isolate, message.lease, true);
    } else {
      isolate.lease = leaseAfterGrant("key", message.lease, grant, message.sentAt);
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

  const request = (index: number) => {
    const isolate = isolates[index]!;
    if (isolate.crashed) return;
    const here = clockOf(index);
    let lease = isolate.lease;
    if (lease !== undefined && here >= lease.usableUntil && !renewalUnderWay(lease, here)) {
      send(index, lease, true);
      isolate.lease = lease = undefined;
    }
    if (lease !== undefined) {
      const used = useLease(lease, NEED, null, here);
      if (needsRenewal(lease, here, leaseMs)) send(index, lease, false);
      if (used?.ok) {
        admit();
        return;
      }
      if (used !== undefined) {
        refused++;
        return;
      }
    }
    const answer = object.admit(now, lease === undefined ? want : 0);
    if (answer.status === 200) {
      admit();
      if (answer.grant !== undefined) isolate.lease = leaseAfterGrant("key", undefined, answer.grant, here);
    } else if (answer.status === 429) {
      const fallback = lease === undefined ? undefined : admitFromLease(lease, NEED, null, here);
      if (fallback !== undefined) admit();
      else {
        refused++;
        object.rejected++; // the isolate's count of the object's 429 (returnRefused, then handed over)
      }
    }
  };

  for (const s of steps) {
    if (s.kind === "pause") settle();
    now += s.after;
    switch (s.kind) {
      case "request":
        for (let i = 0; i < s.count; i++) request(s.isolate);
        break;
      case "deliver":
        if (inFlight.length > 0) deliver(inFlight.shift()!);
        break;
      case "lose":
        if (inFlight.length > 0) {
          const lost = inFlight.shift()!;
          // A lost final report: the isolate retries it (reportFinal); a lost renewal is never
          // answered, and the isolate takes it as lost after a second (renewalUnderWay).
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
    const today = utcDay(now);
    unaccounted = Math.max(unaccounted, (admittedOn.get(today) ?? 0) - (object.dayRequests(today) + reservedOn(object.ledger, today)));
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
  return { object, isolates, admitted, admittedOn, refused, revokedAt, unaccounted };
}

describe("token-lease protocol, property", () => {
  it("never over-admits, stops within LEASE_MS of a revoke, and counts exactly what was reported", () => {
    fc.assert(
      fc.property(scenario, (input) => {
        const { object, isolates, admitted, admittedOn, refused, revokedAt, unaccounted } = run(input);
        const { burst, rate, daily } = input.limits;
        // Any two admissions: those from the one to the other fit in the bucket and its refill.
        // Plain comparisons, one expect on the first window over: runs have hundreds of admissions.
        let over: string | null = null;
        for (let i = 0; i < admitted.length && over === null; i++) {
          for (let j = i; j < admitted.length; j++) {
            const seconds = (admitted[j]! - admitted[i]!) / 1000;
            if (j - i + 1 > burst + rate * seconds + 1e-6) {
              over = `admissions ${i}..${j}: ${j - i + 1} in ${seconds}s`;
              break;
            }
          }
        }
        expect(over, "a window that admitted more than burst + rate × seconds").toBeNull();
        for (const [day, n] of admittedOn) expect(n, `admitted on ${day}`).toBeLessThanOrEqual(daily);
        expect(unaccounted, "admissions neither counted nor reserved by the object").toBeLessThanOrEqual(0);
        if (revokedAt !== null) for (const at of admitted) expect(at - revokedAt).toBeLessThanOrEqual(input.leaseMs);
        const lostAdmitted = isolates.reduce((sum, isolate) => sum + isolate.lostAdmitted, 0);
        const lostRefused = isolates.reduce((sum, isolate) => sum + isolate.lostRefused, 0);
        expect(object.requests).toBe(admitted.length - lostAdmitted);
        // And each day's count is that day's: a lease ends by midnight, and its late report counts on its own day.
        const lostOn = new Map<string, number>();
        for (const isolate of isolates) {
          if (isolate.lostLease === undefined) continue;
          const day = object.leaseDays.get(isolate.lostLease.leaseId)!;
          lostOn.set(day, (lostOn.get(day) ?? 0) + isolate.lostAdmitted);
        }
        for (const day of new Set([...admittedOn.keys(), ...object.requestsOn.keys()])) {
          expect(object.dayRequests(day), `counted on ${day}`).toBe((admittedOn.get(day) ?? 0) - (lostOn.get(day) ?? 0));
        }
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

  it("a final report that comes after expiry gives no tokens back to the bucket: they were spent, and it refilled meanwhile", () => {
    const small = { rate: 10, burst: 100, daily: 10_000 };
    const ledger: Ledger = { bucket: fullBucket(small, T0), leases: {} };
    expect(grantLease(ledger, small, 0, { leaseId: "late", want: 50, maxTokens: 50, leaseMs: 1_000, version: 1 }, T0)).toMatchObject({ granted: true, topUp: 50 });
    // Another request just after expiry, then five quiet seconds: the bucket is full again without the lease.
    refillLedger(ledger, small, T0 + 1_001);
    refillLedger(ledger, small, T0 + 6_001);
    expect(ledger.bucket.tokens).toBe(small.burst);
    expect(takeReport(ledger, { leaseId: "late", usedTotal: 0, refusedTotal: 0, final: true }, T0 + 6_001)).toMatchObject({ requests: 0, rejected: 0 });
    expect(ledger.bucket.tokens, "never more than a full bucket").toBe(small.burst);
    expect(reservedOn(ledger, utcDay(T0)), "its day tokens are free again").toBe(0);
  });

  it("a report that comes after expiry but within the grace still counts, and frees the rest of the reservation", () => {
    const ledger = orphaned();
    const lateAt = T0 + 1_000 + UNREPORTED_GRACE_MS - 1;
    refillLedger(ledger, limits, lateAt);
    expect(takeReport(ledger, { leaseId: "dead0", usedTotal: 15, refusedTotal: 2, final: true }, lateAt)).toMatchObject({ requests: 15, rejected: 2 });
    expect(reservedOn(ledger, utcDay(T0))).toBe((MAX_LEASES - 1) * 20);
  });
});

describe("leases at midnight: each belongs to one UTC day", () => {
  const limits = { rate: 100, burst: 1_000, daily: 1_000_000 };
  const ask = { want: 200, maxTokens: 200, leaseMs: 1_000, version: 1 };
  const yesterday = utcDay(MIDNIGHT - 1);

  it("a lease ends at midnight, and its report just after midnight counts on the day its tokens were reserved on", () => {
    const ledger: Ledger = { bucket: fullBucket(limits, MIDNIGHT - 500), leases: {} };
    expect(grantLease(ledger, limits, 0, { ...ask, leaseId: "late" }, MIDNIGHT - 500)).toMatchObject({ granted: true, topUp: 200, expiresAt: MIDNIGHT });
    const isolate = leaseAfterGrant("key", undefined, {
      leaseId: "late",
      topUp: 200,
      expiresAt: MIDNIGHT,
      lifetimeMs: 500,
      version: 1,
      short: false,
      policy: { type: "public", status: "active", scopes: null, expiresAt: null, allowedOrigins: null },
      scopes: ["events:write"],
      refusals: { burst: "over the rate limit", daily: "over the daily quota" },
      limits,
      bucketTokens: 800,
      dayUsed: 200,
    }, MIDNIGHT - 500);
    expect(useLease(isolate, NEED, null, MIDNIGHT - EXPIRY_MARGIN_MS), "not used on the next day").toBeUndefined();
    // The new day's first decision keeps the record: its isolate may still report it.
    refillLedger(ledger, limits, MIDNIGHT + 1);
    expect(reservedOn(ledger, yesterday)).toBe(200);
    expect(reservedOn(ledger, utcDay(MIDNIGHT))).toBe(0);
    expect(takeReport(ledger, { leaseId: "late", usedTotal: 150, refusedTotal: 0, final: true }, MIDNIGHT + 400)).toEqual({ requests: 150, rejected: 0, day: yesterday });
    // Its 50 unused tokens expired with it at midnight: not given back on top of a refilled bucket.
    refillLedger(ledger, limits, MIDNIGHT + 10_000);
    expect(ledger.bucket.tokens).toBe(limits.burst);
  });

  it("no lease is granted or renewed that midnight would end within SHORTEST_LEASE_MS: those moments ask per request", () => {
    const ledger: Ledger = { bucket: fullBucket(limits, MIDNIGHT - 900), leases: {} };
    expect(grantLease(ledger, limits, 0, { ...ask, leaseId: "a" }, MIDNIGHT - 900)).toMatchObject({ granted: true, expiresAt: MIDNIGHT });
    const renewAt = MIDNIGHT - SHORTEST_LEASE_MS + 1;
    refillLedger(ledger, limits, renewAt);
    expect(renewLease(ledger, limits, 0, { ...ask, leaseId: "a" }, renewAt)).toEqual({ granted: false });
    expect(grantLease(ledger, limits, 0, { ...ask, leaseId: "b" }, renewAt)).toEqual({ granted: false });
    // The unused tokens of the one not renewed come back with its final report, while it is live.
    const before = ledger.bucket.tokens;
    takeReport(ledger, { leaseId: "a", usedTotal: 0, refusedTotal: 0, final: true }, renewAt);
    expect(ledger.bucket.tokens).toBe(before + 200);
    expect(grantLease(ledger, limits, 0, { ...ask, leaseId: "c" }, MIDNIGHT)).toMatchObject({ granted: true, expiresAt: MIDNIGHT + 1_000 });
  });
});

/** A grant of lease "l" at T0 for LEASE_MS 1,000, as the object sends it, with `what` of it. */
function grantAtT0(what: Pick<LeaseGrant, "topUp" | "short" | "limits">): LeaseGrant {
  return {
    leaseId: "l",
    expiresAt: T0 + 1_000,
    lifetimeMs: 1_000,
    version: 1,
    policy: { type: "public", status: "active", scopes: null, expiresAt: null, allowedOrigins: null },
    scopes: ["events:write"],
    refusals: { burst: "over the rate limit", daily: "over the daily quota" },
    bucketTokens: 0,
    dayUsed: 0,
    ...what,
  };
}

describe("a request the object refused, then offered to the lease", () => {
  const grant = grantAtT0({ topUp: 1, short: true, limits: { rate: 10, burst: 10, daily: 1_000 } });

  it("is admitted while the lease has a token, and neither admitted nor counted as refused once it has none", () => {
    const lease = leaseAfterGrant("key", undefined, grant, T0);
    expect(admitFromLease(lease, NEED, null, T0)).toMatchObject({ ok: true });
    // Used up and short: useLease would answer (and count) a 429 — the object already counted this one.
    expect(admitFromLease(lease, NEED, null, T0)).toBeUndefined();
    expect(lease).toMatchObject({ used: 1, refused: 0 });
    expect(useLease(lease, NEED, null, T0)).toMatchObject({ ok: false, code: "rate_limited" });
    expect(lease.refused).toBe(1);
  });
});

describe("a renewal that does not answer", () => {
  const grant = grantAtT0({ topUp: 100, short: false, limits: { rate: 100, burst: 1_000, daily: 100_000 } });

  it("is under way for a second, then taken as lost: the lease is renewed again, and the late answer leaves the newer renewal under way", () => {
    const lease = leaseAfterGrant("key", undefined, grant, T0);
    const halfGone = T0 + 500;
    expect(needsRenewal(lease, halfGone, 1_000)).toBe(true);
    expect(startRenewal(lease, halfGone)).toBe(true);
    expect(startRenewal(lease, halfGone + 999), "one at a time").toBe(false);
    expect(needsRenewal(lease, halfGone + 999, 1_000)).toBe(false);
    expect(renewalUnderWay(lease, halfGone + 1_000), "no answer for a second: lost").toBe(false);
    expect(needsRenewal(lease, halfGone + 1_000, 1_000)).toBe(true);
    expect(startRenewal(lease, halfGone + 1_000)).toBe(true);
    endRenewal(lease, halfGone); // the first one's answer after all
    expect(renewalUnderWay(lease, halfGone + 1_001), "the second is still on its way").toBe(true);
    endRenewal(lease, halfGone + 1_000);
    expect(renewalUnderWay(lease, halfGone + 1_001)).toBe(false);
  });
});

describe("an isolate's clock apart from the object's", () => {
  const grant = { expiresAt: T0 + 1_000, lifetimeMs: 1_000 };

  it("does not stretch a lease: counted from the asking on the isolate's clock, it ends before the object's expiry", () => {
    // 300 ms behind: asked at T0 by the object's clock, T0 − 300 by its own.
    const behind = usableUntilOf(grant, T0 - 300);
    expect(behind + 300, "on the object's clock").toBeLessThanOrEqual(grant.expiresAt - EXPIRY_MARGIN_MS);
    // Ahead: the object's expiry, read on the isolate's clock, ends it the earlier.
    expect(usableUntilOf(grant, T0 + 300)).toBe(grant.expiresAt - EXPIRY_MARGIN_MS);
    // A grant from an object of the version before lifetimeMs: its expiry alone.
    expect(usableUntilOf({ expiresAt: T0 + 1_000, lifetimeMs: undefined as unknown as number }, T0 - 300)).toBe(T0 + 1_000 - EXPIRY_MARGIN_MS);
  });
});
