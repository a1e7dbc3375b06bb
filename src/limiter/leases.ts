/**
 * Token leases, the isolate's side (the object's side and the rules: lease-ledger.ts).
 *
 * An isolate that sees a key's event-ingestion traffic often (LEASE_THRESHOLD requests within a
 * second) asks the key's object for a lease with its next call, and from then on admits that
 * key's ingest requests from the leased tokens with no I/O: the key's policy as of the grant
 * (status, expiry, scopes, origins) is checked here with the same `authorize` the object uses.
 * It renews the lease in the background before it runs low or out, reporting what it used; a
 * change to the key ends the lease at its next renewal (LEASE_MS at most), or at once in the
 * isolate that made it. When the lease is used up and not yet renewed, the request is refused
 * here (429) rather than sent to an object whose bucket is lent out — a refusal is always safe.
 *
 * Only plain data lives here, never a promise or an I/O object: workerd forbids using those
 * across requests. Each renewal runs inside one request's waitUntil.
 */
import { authorize, type KeyPolicy, type Need } from "../policy/authorize";
import type { Limits } from "../policy/limits";
import { secondsUntilMidnight } from "./bucket";
import type { PolicyName, RateSnapshot } from "./headers";

/** Requests of one key within a second, in one isolate, from which it asks for a lease. */
export const LEASE_THRESHOLD = 20;
/**
 * Stop using a lease this long before it ends: an isolate's clock moves only with its I/O, so its
 * `now` may be a little behind.
 */
export const EXPIRY_MARGIN_MS = 50;
const MAX_TRACKED = 10_000;
/**
 * A lease request or renewal with no answer after this long is taken as lost: the key may be asked
 * for again, the lease renewed again or reported as final. A call that still lands counts nothing
 * twice (reports are running totals; a top-up the isolate never sees is an under-admit).
 */
const ASK_LOST_MS = 1000;

/** What the object sends with a grant or a renewal. */
export interface LeaseGrant {
  leaseId: string;
  topUp: number;
  /** Epoch ms, the object's clock. */
  expiresAt: number;
  /**
   * How long from the grant it lives (to expiresAt). The isolate counts it from when it asked, on
   * its own clock: however far the two clocks are apart, it then stops before the object's expiry.
   */
  lifetimeMs: number;
  version: number;
  /** The object lent less than asked: the key is at its limit (lease-ledger.ts). */
  short: boolean;
  policy: KeyPolicy;
  scopes: readonly string[];
  limits: Limits;
  /** The details of the object's 429s for this key (the plan named), given again by a 429 from the lease. */
  refusals: Readonly<Record<"burst" | "daily", string>>;
  /** The object's bucket (tokens not lent out) and today's count and reservations, for the headers. */
  bucketTokens: number;
  dayUsed: number;
}

/** A lease as this isolate holds it. */
export interface HeldLease {
  keyId: string;
  leaseId: string;
  version: number;
  policy: KeyPolicy;
  scopes: readonly string[];
  limits: Limits;
  refusals: LeaseGrant["refusals"];
  /** Tokens granted on this lease so far, and used here so far (running totals, as reported). */
  granted: number;
  used: number;
  /** Requests refused here because the lease was used up (a running total, as reported). */
  refused: number;
  /** Epoch ms after which it is not used here (see usableUntilOf). */
  usableUntil: number;
  bucketTokens: number;
  dayUsedAtGrant: number;
  usedAtGrant: number;
  /** A renewal was sent and has not answered (see renewalUnderWay), and when the last one was sent (epoch ms). */
  renewing: boolean;
  renewalSentAt: number;
  /** The last grant gave less than was asked (`short`): the key is at its limit, so a used-up lease means 429. */
  starved: boolean;
}

export type LeaseUse =
  | { ok: true; scopes: readonly string[]; rate: RateSnapshot }
  | { ok: false; code: "rate_limited" | "daily_quota_exceeded"; detail: string; rate: RateSnapshot; violated: PolicyName; retryAfter: number };

const held = new Map<string, HeldLease>();
/** Per key, the oldest state version a lease held here may carry: the version a change made through this isolate gave it. */
const leasableFrom = new Map<string, number>();
/** Keys whose lease request is under way here, and since when: one at a time, or a burst of requests would each take one. */
const asking = new Map<string, number>();
/** Requests per key in this isolate: in the current second, and in the one before. */
const traffic = new Map<string, { second: number; count: number; before: number }>();

/**
 * Counts a request of the key; answers its rate here in requests per second: the count of the
 * second before or of this one, whichever is busier — and once this one has LEASE_THRESHOLD, its
 * count so far scaled to a whole second (at least 100 ms of it), so that a key that turns hot asks
 * for a lease its size, not the size of its first few requests.
 */
export function noteTraffic(keyId: string, now: number): number {
  const second = Math.floor(now / 1000);
  let seen = traffic.get(keyId);
  if (seen === undefined) {
    if (traffic.size >= MAX_TRACKED) traffic.delete(traffic.keys().next().value!);
    seen = { second, count: 0, before: 0 };
    traffic.set(keyId, seen);
  } else if (seen.second !== second) {
    seen.before = seen.second === second - 1 ? seen.count : 0;
    seen.second = second;
    seen.count = 0;
  }
  seen.count++;
  if (seen.count < LEASE_THRESHOLD) return Math.max(seen.before, seen.count);
  const soFar = Math.max(100, now - second * 1000);
  return Math.max(seen.before, Math.round((seen.count * 1000) / soFar));
}

/** Tokens worth asking for at `perSecond`: two lease lifetimes' worth. */
export function tokensWanted(perSecond: number, leaseMs: number): number {
  return Math.ceil((Math.max(LEASE_THRESHOLD, perSecond) * leaseMs * 2) / 1000);
}

/**
 * The id of a new lease to ask for with this request, if this isolate holds none for the key and
 * is not already asking (an answer lost in flight frees the key after a second).
 */
export function leaseToAsk(keyId: string, now: number): string | undefined {
  if (held.has(keyId)) return undefined;
  if (leaseAskPending(keyId, now)) return undefined;
  if (asking.size >= MAX_TRACKED) asking.delete(asking.keys().next().value!);
  asking.set(keyId, now);
  return crypto.randomUUID();
}

/** Whether a request of this isolate is asking for the key's lease right now. */
export function leaseAskPending(keyId: string, now: number): boolean {
  const since = asking.get(keyId);
  return since !== undefined && now - since < ASK_LOST_MS;
}

/**
 * Whether tokens for the key are on their way here: a lease asked for and not answered yet, or a
 * renewal under way of a usable lease that has none left. Either ends within ASK_LOST_MS or the
 * lease's life, so a request may wait for them instead of asking the object itself.
 */
export function tokensOnTheirWay(keyId: string, now: number): boolean {
  const lease = held.get(keyId);
  if (lease === undefined) return leaseAskPending(keyId, now);
  return renewalUnderWay(lease, now) && lease.used >= lease.granted && now < lease.usableUntil;
}

/** Whether a renewal of the lease is on its way: sent, unanswered, and not yet taken as lost. */
export function renewalUnderWay(lease: HeldLease, now: number): boolean {
  return now < renewalLostAt(lease);
}

/** When the renewal under way is taken as lost (epoch ms); 0 if none is under way. */
export function renewalLostAt(lease: HeldLease): number {
  return lease.renewing ? lease.renewalSentAt + ASK_LOST_MS : 0;
}

/** Whether this isolate holds a lease for the key or is asking for one: a refused request may yet be admitted from it. */
export function mayLendHere(keyId: string): boolean {
  return held.has(keyId) || asking.has(keyId);
}

/** The lease request of the key has its answer (granted or not). */
export function askedLease(keyId: string): void {
  asking.delete(keyId);
}

export function heldLease(keyId: string): HeldLease | undefined {
  return held.get(keyId);
}

/** Keeps a new lease (or the top-up of the one held), asked for at `askedAt`. Answers the lease now held. */
export function holdLease(keyId: string, grant: LeaseGrant, askedAt: number): HeldLease {
  const current = held.get(keyId);
  const lease = leaseAfterGrant(keyId, current, grant, askedAt);
  if (lease !== current) {
    if (held.size >= MAX_TRACKED) held.delete(held.keys().next().value!);
    held.set(keyId, lease);
  }
  return lease;
}

/**
 * When a grant asked for at `askedAt` (this isolate's clock) stops being used here: its lifetime
 * counted from the asking, which is no later than the object's expiry whatever the clocks say,
 * and the object's expiry itself — less EXPIRY_MARGIN_MS.
 */
export function usableUntilOf(grant: Pick<LeaseGrant, "expiresAt" | "lifetimeMs">, askedAt: number): number {
  // An object of the version before lifetimeMs (during a deploy) gives only its expiry.
  const ownEnd = Number.isFinite(grant.lifetimeMs) ? askedAt + grant.lifetimeMs : grant.expiresAt;
  return Math.min(grant.expiresAt, ownEnd) - EXPIRY_MARGIN_MS;
}

/** The lease held after a grant asked for at `askedAt`: `current` topped up (the same lease renewed), or a new one. Pure but for `current`. */
export function leaseAfterGrant(keyId: string, current: HeldLease | undefined, grant: LeaseGrant, askedAt: number): HeldLease {
  const usableUntil = usableUntilOf(grant, askedAt);
  const renewed = current !== undefined && current.leaseId === grant.leaseId;
  const fromGrant = {
    usableUntil,
    version: grant.version,
    policy: grant.policy,
    scopes: grant.scopes,
    limits: grant.limits,
    refusals: grant.refusals,
    bucketTokens: grant.bucketTokens,
    dayUsedAtGrant: grant.dayUsed,
    starved: grant.short,
  };
  if (renewed) return Object.assign(current, fromGrant, { granted: current.granted + grant.topUp, usedAtGrant: current.used });
  return { keyId, leaseId: grant.leaseId, granted: grant.topUp, used: 0, refused: 0, usedAtGrant: 0, renewing: false, renewalSentAt: 0, ...fromGrant };
}

/**
 * A change made through this isolate gave the key's state `version`: a lease granted under an
 * older one is dropped here and never held again — a grant the object made just before the
 * change may answer just after it. Answers the lease dropped, to report it as final.
 */
export function endLeasesBefore(keyId: string, version: number): HeldLease | undefined {
  if (version > (leasableFrom.get(keyId) ?? 0)) {
    if (leasableFrom.size >= MAX_TRACKED) leasableFrom.delete(leasableFrom.keys().next().value!);
    leasableFrom.set(keyId, version);
  }
  const lease = held.get(keyId);
  return lease !== undefined && lease.version < version ? dropLease(keyId) : undefined;
}

/** Whether a grant of the key's lease was made under a version a change through this isolate has ended. */
export function grantedBeforeChange(keyId: string, grant: Pick<LeaseGrant, "version">): boolean {
  return grant.version < (leasableFrom.get(keyId) ?? 0);
}

/** Drops the key's lease here (it ended, or the key changed); answers it, to report it as final. */
export function dropLease(keyId: string, leaseId?: string): HeldLease | undefined {
  const lease = held.get(keyId);
  if (lease === undefined || (leaseId !== undefined && lease.leaseId !== leaseId)) return undefined;
  held.delete(keyId);
  return lease;
}

/**
 * This request, admitted or refused from the lease; undefined when the lease cannot answer it:
 * expired, the key's policy as of the grant refuses it (the object gives the refusal), or used
 * up while the key is not at its limit (the object may well admit it: refusing here would be a
 * 429 for a key far below its limit, as the first benchmark of this rule showed).
 */
export function useLease(lease: HeldLease, need: Need, origin: string | null, now: number): LeaseUse | undefined {
  if (now >= lease.usableUntil) return undefined;
  if (authorize(lease.policy, need, origin, now) !== null) return undefined;
  if (lease.used < lease.granted) {
    lease.used++;
    return { ok: true, scopes: lease.scopes, rate: snapshotOf(lease, now) };
  }
  if (!lease.starved) return undefined;
  lease.refused++;
  const rate = snapshotOf(lease, now);
  if (rate.dayUsed >= lease.limits.daily) {
    return {
      ok: false,
      code: "daily_quota_exceeded",
      detail: lease.refusals.daily,
      rate,
      violated: "daily",
      retryAfter: secondsUntilMidnight(now),
    };
  }
  return {
    ok: false,
    code: "rate_limited",
    detail: lease.refusals.burst,
    rate,
    violated: "burst",
    retryAfter: Math.max(1, Math.ceil(1 / lease.limits.rate)),
  };
}

/**
 * Admits this request from the lease if it has a token left for it — never a refusal, and nothing
 * counted unless admitted: for a request the object has already refused (its caller counts it).
 */
export function admitFromLease(lease: HeldLease, need: Need, origin: string | null, now: number): Extract<LeaseUse, { ok: true }> | undefined {
  if (lease.used >= lease.granted) return undefined;
  const used = useLease(lease, need, origin, now);
  return used?.ok ? used : undefined;
}

/**
 * Time to renew: half of its life gone, or a quarter of what the last grant left. A starved lease
 * (the key at its limit, lent less than asked) is renewed at most every quarter of LEASE_MS: its
 * grants are small, and an isolate renewing after each of them would call the object as often as
 * it has requests. Any other lease that runs low was sized for less traffic than it now has (a
 * key just turned hot is lent for the rate of its first few requests): renewed at once, or its
 * requests would ask the object themselves until the quarter is over.
 */
export function needsRenewal(lease: HeldLease, now: number, leaseMs: number): boolean {
  if (renewalUnderWay(lease, now)) return false;
  if (lease.usableUntil - now <= leaseMs / 2) return true;
  const left = lease.granted - lease.used;
  if (left * 4 > lease.granted - lease.usedAtGrant) return false;
  return !lease.starved || now - lease.renewalSentAt >= leaseMs / 4;
}

/** Marks the lease as renewing from `now`; answers false if a renewal is already under way. */
export function startRenewal(lease: HeldLease, now: number): boolean {
  if (renewalUnderWay(lease, now)) return false;
  lease.renewing = true;
  lease.renewalSentAt = now;
  return true;
}

/** The renewal sent at `sentAt` has answered or failed; a later one, sent once it was taken as lost, may still be under way. */
export function endRenewal(lease: HeldLease, sentAt: number): void {
  if (lease.renewalSentAt === sentAt) lease.renewing = false;
}

/** The headers' view from here: the object's bucket as of the grant plus what is left of this lease. */
function snapshotOf(lease: HeldLease, now: number): RateSnapshot {
  const dayUsed = lease.dayUsedAtGrant + lease.used - lease.usedAtGrant;
  return { ...lease.limits, tokens: Math.max(0, lease.bucketTokens + lease.granted - lease.used), dayUsed, now };
}
