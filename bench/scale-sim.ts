/**
 * The scale simulation of token leases (issue 13), no network: one secret key (1,000/s, burst
 * 10,000) offered 10,000 requests/s through 20 isolates, against one KeyLimiter object that
 * serves at most 1,000 calls/s (a FIFO queue, 1 ms per call; past OBJECT_QUEUE_LIMIT waiting
 * calls it refuses more as "overloaded", as a Durable Object does, and an event request that
 * meets that fails open — admitted, uncounted: the failure policy). The object's side is the real
 * ledger (src/limiter/lease-ledger.ts), each isolate's side the real lease logic
 * (src/limiter/leases.ts), with its requests waiting for tokens on their way (a lease asked for,
 * a dry lease's renewal) as the gateway's do; the clock is simulated, 1 ms per step. The key is
 * revoked part-way.
 *
 * Run by bench/scale.mjs (which bundles this with esbuild); `simulate` is pure and deterministic
 * for a seed.
 */
import { fullBucket, utcDay } from "../src/limiter/bucket";
import { grantLease, liveLeased, maxLeaseTokens, refillLedger, renewLease, reservedOn, takeReport, type LeaseReport, type Ledger } from "../src/limiter/lease-ledger";
import { LEASE_THRESHOLD, leaseAfterGrant, needsRenewal, noteTraffic, startRenewal, tokensWanted, useLease, type HeldLease, type LeaseGrant } from "../src/limiter/leases";
import type { Limits } from "../src/policy/limits";

export interface ScaleConfig {
  isolates: number;
  offeredPerSecond: number;
  objectCallsPerSecond: number;
  seconds: number;
  revokeAtMs: number;
  leaseMs: number;
  limits: Limits;
  seed: number;
}

/** The scenario of issue 13: a secret key's default limits, 10× its rate offered, one object, a revoke at 8 s. */
export const SCALE_SCENARIO: Omit<ScaleConfig, "leaseMs"> = {
  isolates: 20,
  offeredPerSecond: 10_000,
  objectCallsPerSecond: 1_000,
  seconds: 10,
  revokeAtMs: 8_000,
  limits: { rate: 1_000, burst: 10_000, daily: 10_000_000 },
  seed: 42,
};

interface Call {
  isolate: number;
  kind: "admit" | "renew";
  arrivedAt: number;
  /** An admit that asks for a lease (one per isolate at a time, leases.ts leaseToAsk). */
  asksLease?: boolean;
  report?: LeaseReport;
  lease?: HeldLease;
}

const NEED = { permission: "events:write", publicKey: true, action: "send events" } as const;
/** Calls that may wait for the object; more are refused at once as overloaded. */
const OBJECT_QUEUE_LIMIT = 200;
const T0 = Date.UTC(2026, 11, 2, 12, 0, 0);

/** Mulberry32: a small deterministic PRNG. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function simulate(config: ScaleConfig) {
  const rand = random(config.seed);
  const { limits, leaseMs } = config;
  const maxTokens = maxLeaseTokens(limits, leaseMs);
  const ledger: Ledger = { bucket: fullBucket(limits, T0), leases: {} };
  let requests = 0;
  let version = 1;
  let revoked = false;
  let nextLeaseId = 0;
  const held: (HeldLease | undefined)[] = Array.from({ length: config.isolates }, () => undefined);
  const asking: boolean[] = Array.from({ length: config.isolates }, () => false);
  /** Requests waiting for tokens on their way to their isolate: a lease asked for, or a dry lease's renewal (client.ts). */
  const waiting: number[] = Array.from({ length: config.isolates }, () => 0);
  /** What an isolate learned from a refusal: revoked is terminal (src/limiter/revoked-keys.ts). */
  const knowsRevoked: boolean[] = Array.from({ length: config.isolates }, () => false);
  const queue: Call[] = [];
  const perTick = config.objectCallsPerSecond / 1000;
  let credit = 0;
  const buckets: { admitted: number; refused: number; objectCalls: number; queued: number; failedOpen: number }[] = [];
  let failedOpen = 0;
  const admittedAt: number[] = [];
  const lastAdmitAfterRevoke: number[] = Array.from({ length: config.isolates }, () => -1);
  let maxQueue = 0;
  let waitSum = 0;
  let waited = 0;

  const grantOf = (answer: { leaseId: string; topUp: number; expiresAt: number; lifetimeMs: number; version: number; short: boolean }, now: number): LeaseGrant => ({
    ...answer,
    policy: { type: "secret", status: revoked ? "revoked" : "active", scopes: null, expiresAt: null, allowedOrigins: null },
    scopes: ["events:write"],
    refusals: { burst: "over the rate limit", daily: "over the daily quota" },
    limits,
    bucketTokens: ledger.bucket.tokens,
    dayUsed: requests + reservedOn(ledger, utcDay(now)),
  });
  /** Each isolate's own rate, as the gateway measures it (leases.ts noteTraffic, one entry per isolate). */
  const rateOf = (isolate: number, now: number) => noteTraffic(`sim${config.seed}:${isolate}`, now);
  const lastRate: number[] = Array.from({ length: config.isolates }, () => 0);

  const totalMs = config.seconds * 1000;
  for (let ms = 0; ms < totalMs; ms++) {
    const now = T0 + ms;
    const slot = (buckets[Math.floor(ms / 100)] ??= { admitted: 0, refused: 0, objectCalls: 0, queued: 0, failedOpen: 0 });
    /** Sends a call to the object; false when it is overloaded (the call fails at once). */
    const call = (entry: Call): boolean => {
      if (queue.length >= OBJECT_QUEUE_LIMIT) return false;
      queue.push(entry);
      return true;
    };
    if (ms === config.revokeAtMs) {
      revoked = true;
      version++;
    }
    const admit = (isolate: number) => {
      admittedAt.push(ms);
      slot.admitted++;
      if (revoked) lastAdmitAfterRevoke[isolate] = ms;
    };
    /** Asks the object for this request: an admit, with a lease request when the isolate is hot and asks for none yet. */
    const askObject = (isolate: number, perSecond: number) => {
      const asksLease = leaseMs > 0 && held[isolate] === undefined && !asking[isolate] && perSecond >= LEASE_THRESHOLD;
      if (!call({ isolate, kind: "admit", arrivedAt: ms, asksLease })) {
        failedOpen++; // the failure policy of event ingestion: through, uncounted
        slot.failedOpen++;
      } else if (asksLease) asking[isolate] = true;
    };
    /** Tokens for the isolate are on their way (leases.ts tokensOnTheirWay): its requests wait. */
    const tokensOnTheirWay = (isolate: number) => {
      const lease = held[isolate];
      if (lease === undefined) return asking[isolate];
      return lease.renewing && lease.used >= lease.granted && now < lease.usableUntil;
    };
    /** The answer came: the waiting requests use the tokens, or ask the object if none came. */
    const releaseWaiting = (isolate: number) => {
      for (; waiting[isolate]! > 0; waiting[isolate]!--) {
        const lease = held[isolate];
        const used = lease === undefined ? undefined : useLease(lease, NEED, null, now);
        if (used?.ok) admit(isolate);
        else if (used !== undefined) slot.refused++;
        else askObject(isolate, lastRate[isolate]!);
      }
    };
    // Arrivals: each isolate gets its share of the offered load, Poisson-like.
    for (let i = 0; i < config.isolates; i++) {
      const mean = config.offeredPerSecond / config.isolates / 1000;
      let arrivals = 0;
      for (let p = Math.exp(-mean), u = rand(); u > p; u *= rand()) arrivals++;
      for (let a = 0; a < arrivals; a++) {
        const perSecond = (lastRate[i] = rateOf(i, now));
        if (knowsRevoked[i]) {
          slot.refused++;
          continue;
        }
        let lease = held[i];
        if (lease !== undefined && now >= lease.usableUntil && !lease.renewing) {
          call({ isolate: i, kind: "renew", arrivedAt: ms, lease, report: reportOf(lease, 0, true) });
          held[i] = lease = undefined;
        }
        if (lease !== undefined) {
          const used = useLease(lease, NEED, null, now);
          if (needsRenewal(lease, now, leaseMs) && startRenewal(lease, now)) {
            lease.renewing = call({ isolate: i, kind: "renew", arrivedAt: ms, lease, report: reportOf(lease, tokensWanted(perSecond, leaseMs), false) });
          }
          if (used?.ok) {
            admit(i);
            continue;
          }
          if (used !== undefined) {
            slot.refused++;
            continue;
          }
        }
        if (tokensOnTheirWay(i)) {
          waiting[i]!++;
          continue;
        }
        askObject(i, perSecond);
      }
    }
    // The object: at most objectCallsPerSecond, first come first served.
    credit = Math.min(credit + perTick, 1);
    while (credit >= 1 && queue.length > 0) {
      credit -= 1;
      const served = queue.shift()!;
      slot.objectCalls++;
      waitSum += ms - served.arrivedAt;
      waited++;
      refillLedger(ledger, limits, now);
      if (served.kind === "renew") {
        const counted = takeReport(ledger, served.report!, now);
        requests += counted.requests;
        const lease = served.lease!;
        lease.renewing = false;
        if (served.report!.final || held[served.isolate] !== lease) {
          releaseWaiting(served.isolate);
          continue;
        }
        const answer = revoked
          ? ({ granted: false } as const)
          : renewLease(ledger, limits, requests, { leaseId: lease.leaseId, want: served.report!.want, maxTokens, leaseMs, version }, now);
        if (answer.granted) held[served.isolate] = leaseAfterGrant("key", lease, grantOf(answer, now), T0 + served.arrivedAt);
        else {
          if (revoked) knowsRevoked[served.isolate] = true;
          held[served.isolate] = undefined;
          queue.push({ isolate: served.isolate, kind: "renew", arrivedAt: ms, lease, report: reportOf(lease, 0, true) }); // the final report is retried until it arrives
        }
        releaseWaiting(served.isolate);
        continue;
      }
      if (served.asksLease) asking[served.isolate] = false;
      // A request that had to ask the object.
      if (revoked) {
        knowsRevoked[served.isolate] = true;
        slot.refused++;
        releaseWaiting(served.isolate);
        continue;
      }
      if (requests + reservedOn(ledger, utcDay(now)) >= limits.daily || ledger.bucket.tokens < 1) {
        slot.refused++;
        releaseWaiting(served.isolate);
        continue;
      }
      ledger.bucket = { ...ledger.bucket, tokens: ledger.bucket.tokens - 1 };
      requests++;
      admit(served.isolate);
      if (served.asksLease && held[served.isolate] === undefined) {
        const want = tokensWanted(lastRate[served.isolate]!, leaseMs);
        const answer = grantLease(ledger, limits, requests, { leaseId: `lease${nextLeaseId++}`, want, maxTokens, leaseMs, version }, now);
        if (answer.granted) held[served.isolate] = leaseAfterGrant("key", undefined, grantOf(answer, now), T0 + served.arrivedAt);
      }
      if (served.asksLease) releaseWaiting(served.isolate);
    }
    slot.queued = Math.max(slot.queued, queue.length);
    if (ms % 100 === 99) {
      (slot as Record<string, number>).bucket = Math.round(ledger.bucket.tokens);
      (slot as Record<string, number>).leased = liveLeased(ledger, now);
      (slot as Record<string, number>).leases = Object.keys(ledger.leases).length;
    }
    maxQueue = Math.max(maxQueue, queue.length);
  }

  // Accuracy, exactly: over every window from one admission to a later one, admitted − (burst +
  // rate × window). For admission j the worst start k maximises rate × t_k − k: a running maximum.
  let worstExcess = -Infinity;
  let bestStart = -Infinity;
  for (let j = 0; j < admittedAt.length; j++) {
    bestStart = Math.max(bestStart, (limits.rate * admittedAt[j]!) / 1000 - j);
    worstExcess = Math.max(worstExcess, j + 1 - limits.burst - (limits.rate * admittedAt[j]!) / 1000 + bestStart);
  }
  const totalAdmitted = admittedAt.length;
  const stoppedWithin = lastAdmitAfterRevoke.map((at) => (at < 0 ? 0 : at - config.revokeAtMs));
  const objectCallsPerSecond = buckets.map((b) => b.objectCalls * 10);
  return {
    config,
    admitted: totalAdmitted,
    /** Admitted uncounted because the object was overloaded (fail-open), beside `admitted`. */
    failedOpen,
    admittedBound: limits.burst + limits.rate * config.seconds,
    worstWindowExcess: worstExcess,
    objectCallsPerSecondMax: Math.max(...objectCallsPerSecond),
    /** From the second second on, once leases had their first chance to engage. */
    objectCallsPerSecondMaxAfterFirstSecond: Math.max(...objectCallsPerSecond.slice(10)),
    objectCallsPerSecondMedian: objectCallsPerSecond.sort((a, b) => a - b)[objectCallsPerSecond.length >> 1],
    objectQueueMax: maxQueue,
    objectWaitMsMean: waited > 0 ? waitSum / waited : 0,
    stoppedAfterRevokeMs: Math.max(...stoppedWithin),
    stoppedWithinLeaseMs: stoppedWithin.every((ms) => ms <= leaseMs),
    timeline: buckets.map((b, i) => ({
      atMs: i * 100,
      admittedPerSecond: b.admitted * 10,
      refusedPerSecond: b.refused * 10,
      failedOpenPerSecond: b.failedOpen * 10,
      objectCallsPerSecond: b.objectCalls * 10,
      queue: b.queued,
      bucket: (b as Record<string, number>).bucket,
      leased: (b as Record<string, number>).leased,
      leases: (b as Record<string, number>).leases,
    })),
  };
}

function reportOf(lease: HeldLease, want: number, final: boolean): LeaseReport {
  return { leaseId: lease.leaseId, usedTotal: lease.used, refusedTotal: lease.refused, want, final };
}
