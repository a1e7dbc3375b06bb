/**
 * Token leases, the object's side (DESIGN.md "Token leases"). Pure: the KeyLimiter keeps a Ledger
 * and calls these; the lease property test runs the same functions against simulated isolates.
 *
 * A lease hands an isolate up to N tokens of the key's bucket and N of today's quota, usable for
 * at most LEASE_MS, so that a hot key's ingest requests need no call to this object. Exactness
 * rests on two rules:
 *  - Leased tokens are spent as far as the bucket knows. They leave the bucket when granted, and
 *    while a lease is live the bucket refills only up to `burst − tokens out on live leases`, as
 *    if they were still in it unused. Unused tokens come back when the isolate reports (renewal);
 *    tokens of a lease that expired unreported never come back (an under-admit, never an over-).
 *    So over any interval, admitted ≤ burst + rate × seconds, however many isolates lease.
 *  - Leased day tokens stay reserved against the daily quota until the isolate has reported what
 *    it used of them and said it will use no more (`final`), or the day is over. D1 counts what
 *    isolates report; an isolate that dies holding a lease leaves its unreported requests
 *    uncounted (at most that lease's tokens) and their reservation held until midnight; its record
 *    is folded into the day's `unreported` tokens once no report can come (UNREPORTED_GRACE_MS),
 *    and an expired lease never keeps another isolate from leasing (MAX_LEASES counts live ones).
 *  - A lease belongs to one UTC day: it ends at midnight at the latest, and what its isolate
 *    reports, even just after midnight, counts on the day its tokens were reserved on.
 *
 * An isolate reports `used` as a running total per lease, so a report that is repeated, late or
 * out of order counts nothing twice.
 */
import type { Limits } from "../policy/limits";
import { nextUtcMidnight, refill, utcDay, type Bucket } from "./bucket";

/** A lease as the object keeps it. */
export interface LeaseRecord {
  /** Tokens granted on this lease so far (a renewal tops it up). */
  granted: number;
  /** Tokens the isolate has reported using (a running total). */
  used: number;
  /** Requests the isolate reported refusing because the lease was used up (a running total). */
  refused: number;
  /** Epoch ms (the object's clock) after which the isolate may not use it. */
  expiresAt: number;
  /** The UTC day its tokens are reserved on. */
  day: string;
  /** The key's state version it was granted under: a change to the key ends it. */
  version: number;
}

export interface Ledger {
  /** Tokens not out on leases. */
  bucket: Bucket;
  leases: Record<string, LeaseRecord>;
  /**
   * Day tokens of leases that expired unreported longer than UNREPORTED_GRACE_MS ago, by UTC
   * day: their isolates are gone and may have used them all, so they stay reserved (counted as
   * used) until the day ends, without a record each. Absent in ledgers stored before it.
   */
  unreported?: Record<string, number>;
}

/** The most leases a key has live at once; past it, isolates ask per request. Expired ones take no place. */
export const MAX_LEASES = 64;

/**
 * How long an expired lease waits for its isolate's last report before it is taken as orphaned
 * (its isolate ended: a deploy, an eviction, a crash). A live isolate reports within seconds of
 * expiry, from a request's waitUntil, which lasts 30 s at most; a report later than this finds no
 * lease and counts nothing.
 */
export const UNREPORTED_GRACE_MS = 60_000;

/**
 * A lease that would end at midnight sooner than this is not granted or renewed: its isolate
 * could hardly use it (it stops EXPIRY_MARGIN_MS early). The last moments of a day ask per request.
 */
export const SHORTEST_LEASE_MS = 200;

/**
 * When a lease granted or renewed at `now` ends: LEASE_MS on, and never past the day it counts
 * on; undefined when midnight would end it within SHORTEST_LEASE_MS (none then).
 */
function leaseEnd(now: number, leaseMs: number): number | undefined {
  const end = Math.min(now + leaseMs, nextUtcMidnight(now));
  return end - now < SHORTEST_LEASE_MS ? undefined : end;
}

/** The most tokens one lease holds: two lease lifetimes at the key's rate, at most its burst. */
export function maxLeaseTokens(limits: Limits, leaseMs: number): number {
  return Math.max(1, Math.min(limits.burst, Math.ceil((limits.rate * leaseMs * 2) / 1000)));
}

/** What an isolate sends when it renews or ends a lease. */
export interface LeaseReport {
  leaseId: string;
  /** Tokens of this lease used so far, in all (not since the last report). */
  usedTotal: number;
  /** Requests refused because the lease was used up, in all. */
  refusedTotal: number;
  /** Tokens wanted for the next LEASE_MS; 0 ends the lease. */
  want: number;
  /** The isolate will not use this lease again (it expired there, or was dropped). */
  final: boolean;
}

export type LeaseAnswer =
  /**
   * More tokens (`topUp`) on the lease `leaseId` (the same id, or a new one), usable until
   * `expiresAt` (this object's clock), which is `lifetimeMs` from the grant; `short` when that is
   * less than was asked because the key has no more to lend now (its bucket, its share of it, or
   * its quota) — the key is at its limit, and a used-up lease may be answered 429 without
   * asking. The most one lease may hold is no limit of the key: a lease cut by it alone is not
   * short, and its isolate asks for more (a key's whole burst is there to be used, however small
   * one lease is).
   */
  | { granted: true; leaseId: string; topUp: number; expiresAt: number; lifetimeMs: number; version: number; short: boolean }
  | { granted: false };

const outstanding = (lease: LeaseRecord) => Math.max(0, lease.granted - lease.used);

/** Tokens out on leases that are live at `at`. */
export function liveLeased(ledger: Ledger, at: number): number {
  let total = 0;
  for (const lease of Object.values(ledger.leases)) if (lease.expiresAt > at) total += outstanding(lease);
  return total;
}

/** Day tokens held by unreported leases of `day`, live or not, orphaned ones included. */
export function reservedOn(ledger: Ledger, day: string): number {
  let total = ledger.unreported?.[day] ?? 0;
  for (const lease of Object.values(ledger.leases)) if (lease.day === day) total += outstanding(lease);
  return total;
}

/** Holds `tokens` of `day` back from its quota until the day ends: they may all have been used, by requests nobody will report. */
export function holdBack(ledger: Ledger, day: string, tokens: number): void {
  ledger.unreported = { ...ledger.unreported, [day]: (ledger.unreported?.[day] ?? 0) + tokens };
}

/** Leases live at `at`: what MAX_LEASES bounds. */
function liveLeases(ledger: Ledger, at: number): number {
  let live = 0;
  for (const lease of Object.values(ledger.leases)) if (lease.expiresAt > at) live++;
  return live;
}

/**
 * The bucket at `now`, never refilled past `burst − tokens out on leases`. The leases counted are
 * those live when the bucket was last refilled, so a lease that expired in between still holds
 * the cap down for the whole gap: a smaller refill than an exact one, never a larger.
 */
export function refillLedger(ledger: Ledger, limits: Limits, now: number): void {
  const cap = Math.max(0, limits.burst - liveLeased(ledger, ledger.bucket.at));
  const refilled = refill(ledger.bucket, { ...limits, burst: cap }, now);
  ledger.bucket = refilled;
  const today = utcDay(now);
  for (const [id, lease] of Object.entries(ledger.leases)) {
    // Until the grace is over its isolate may still report, yesterday's lease included (on yesterday's count).
    if (lease.expiresAt + UNREPORTED_GRACE_MS > now) continue;
    // Orphaned: its tokens stay reserved for the day, its record goes (a key's leases would grow all day).
    if (lease.day === today) holdBack(ledger, lease.day, outstanding(lease));
    delete ledger.leases[id];
  }
  // for…in, not Object.keys: this runs on every decision of the key, and allocates nothing.
  for (const day in ledger.unreported) if (day < today) delete ledger.unreported[day];
}

/**
 * How many tokens a lease may take now: what the isolate wants, at most `maxTokens`, an even
 * share of the bucket with the other isolates holding live leases (so one cannot starve the
 * rest), and what today's quota has left once `dayRequests` and every reservation are counted.
 */
export function leaseSize(ledger: Ledger, limits: Limits, dayRequests: number, want: number, maxTokens: number, now: number, leaseId?: string): number {
  let holders = 0;
  for (const [id, lease] of Object.entries(ledger.leases)) if (id !== leaseId && lease.expiresAt > now) holders++;
  const share = Math.floor(ledger.bucket.tokens / (1 + holders));
  const dayRoom = limits.daily - dayRequests - reservedOn(ledger, utcDay(now));
  return Math.max(0, Math.min(Math.floor(want), maxTokens, share, dayRoom));
}

/** Grants a new lease `leaseId` (the bucket must be refilled first); answers what was granted. */
export function grantLease(
  ledger: Ledger,
  limits: Limits,
  dayRequests: number,
  grant: { leaseId: string; want: number; maxTokens: number; leaseMs: number; version: number },
  now: number,
): LeaseAnswer {
  if (liveLeases(ledger, now) >= MAX_LEASES) return { granted: false };
  const expiresAt = leaseEnd(now, grant.leaseMs);
  if (expiresAt === undefined) return { granted: false };
  const tokens = leaseSize(ledger, limits, dayRequests, grant.want, grant.maxTokens, now);
  if (tokens < 1) return { granted: false };
  const short = tokens < Math.min(Math.floor(grant.want), grant.maxTokens);
  ledger.bucket = { ...ledger.bucket, tokens: ledger.bucket.tokens - tokens };
  ledger.leases[grant.leaseId] = { granted: tokens, used: 0, refused: 0, expiresAt, day: utcDay(now), version: grant.version };
  return { granted: true, leaseId: grant.leaseId, topUp: tokens, expiresAt, lifetimeMs: expiresAt - now, version: grant.version, short };
}

/**
 * Takes an isolate's report: answers the requests it newly reports as admitted and as refused,
 * to count on the lease's `day` (null for a lease not or no longer known), and settles the lease
 * — a final report gives its unused tokens back (to the bucket only while the lease is live: an
 * expired lease's tokens are gone) and ends it.
 */
export function takeReport(
  ledger: Ledger,
  report: Pick<LeaseReport, "leaseId" | "usedTotal" | "refusedTotal" | "final">,
  now: number,
): { requests: number; rejected: number; day: string | null } {
  const lease = ledger.leases[report.leaseId];
  if (lease === undefined) return { requests: 0, rejected: 0, day: null }; // unknown or already final: nothing more to count
  const newlyUsed = Math.max(0, Math.min(report.usedTotal, lease.granted) - lease.used);
  const newlyRefused = Math.max(0, report.refusedTotal - lease.refused);
  lease.used += newlyUsed;
  lease.refused += newlyRefused;
  if (report.final) {
    if (lease.expiresAt > now) ledger.bucket = { ...ledger.bucket, tokens: ledger.bucket.tokens + outstanding(lease) };
    delete ledger.leases[report.leaseId];
  }
  return { requests: newlyUsed, rejected: newlyRefused, day: lease.day };
}

/**
 * Renews a live lease in place: its unused tokens stay out (the isolate goes on using them), it
 * is topped up to what the isolate wants for the next LEASE_MS and lives LEASE_MS from now (to
 * midnight at most). Not for a lease the key's change ended (`version`), nor one that is no
 * longer live here, nor one that midnight would end within SHORTEST_LEASE_MS.
 */
export function renewLease(
  ledger: Ledger,
  limits: Limits,
  dayRequests: number,
  renewal: { leaseId: string; want: number; maxTokens: number; leaseMs: number; version: number },
  now: number,
): LeaseAnswer {
  const lease = ledger.leases[renewal.leaseId];
  if (lease === undefined || lease.expiresAt <= now || lease.version !== renewal.version) return { granted: false };
  const expiresAt = leaseEnd(now, renewal.leaseMs);
  if (expiresAt === undefined) return { granted: false };
  const asked = Math.max(0, Math.floor(renewal.want) - outstanding(lease));
  const topUp = Math.max(0, leaseSize(ledger, limits, dayRequests, asked, renewal.maxTokens, now, renewal.leaseId));
  ledger.bucket = { ...ledger.bucket, tokens: ledger.bucket.tokens - topUp };
  lease.granted += topUp;
  lease.expiresAt = expiresAt;
  const short = topUp < Math.min(asked, renewal.maxTokens);
  return { granted: true, leaseId: renewal.leaseId, topUp, expiresAt, lifetimeMs: expiresAt - now, version: lease.version, short };
}
