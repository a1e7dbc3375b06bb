/**
 * KeyLimiter: one SQLite-backed Durable Object per key id. It is two things for its key:
 *
 *  - the admission decision, called once per request: `admit` decides atomically, in this order,
 *    key status (active / revoked / expired) → permissions and origin → token bucket → daily
 *    quota → consume. Refused requests consume nothing.
 *  - the one writer of the key's mutable state (keys/key-state.ts): every change — revoke,
 *    update, limits, roll — is an operation sent here with `change` and applied one at a time,
 *    in order, each result a new version; D1 records each version (only ever over an older one)
 *    before the call answers. A revoke is in force here before D1 is even asked; every other
 *    change is in force once D1 has recorded it. Nobody else writes a key's state.
 *
 * Why here: every request of a key passes through this one object wherever it arrives, so a
 * change decided here is in force on the very next request, with no KV propagation window.
 *
 * Stored shapes (the object's own storage, synchronous KV API; puts made in one turn are written
 * together and are durable before the call's answer leaves):
 *   `state`      → KeyState. A fresh object reads it once from D1 (or is handed it at creation).
 *   `unrecorded` → the AuditEntry of a revoke that is in force here but not yet in D1 (D1 failed);
 *                  the alarm records it, and so does the next revoke.
 *   `usage`      → UsageState: the bucket and the tokens out on lease (lease-ledger.ts), each
 *                  day's running totals, which days D1 has not seen, the ids of the latest
 *                  unmetered reports counted (so that a resent one is not counted twice), and
 *                  the allowance: how many requests may be admitted before the next write.
 *                  Written behind the traffic, at most every WRITE_BEHIND_MS, not once per
 *                  request for a busy key; an admission past the allowance, a lease grant or
 *                  renewal (persistLent), and a count an isolate hands over and then forgets
 *                  (a lease's report, unmetered or refused requests) are written before their
 *                  answer leaves. An abrupt reset therefore admits nothing twice and loses no
 *                  count handed over: the object that takes over takes the allowance as spent
 *                  (write-ahead.ts); idle eviction loses nothing.
 * D1 `usage_daily` gets the day totals from `alarm()`, every FLUSH_INTERVAL_MS while there is
 * something new, as one batch per flush. Totals (not deltas) merged with max() make a repeated
 * alarm harmless; a failed flush keeps everything and retries.
 */
import { DurableObject } from "cloudflare:workers";
import { configOf, type Env } from "../config";
import type { ErrorCode } from "../http/problem";
import { auditStatement, type AuditEntry } from "../keys/audit";
import { insertKeyStatement, loadKeyState, recordStateStatement, type KeyIdentity } from "../keys/key-records";
import { applyOperation, limitsOf, sameState, withPlan, type KeyOperation, type KeyState, type OperationRefusal } from "../keys/key-state";
import { authorize, effectiveScopes, type Need } from "../policy/authorize";
import { fullBucket, secondsUntilMidnight, secondsUntilTokens, utcDay, type Bucket, type Limits } from "./bucket";
import type { PolicyName, RateSnapshot } from "./headers";
import { grantLease, maxLeaseTokens, refillLedger, renewLease, reservedOn, takeReport, UNREPORTED_GRACE_MS, type LeaseAnswer, type LeaseRecord, type LeaseReport, type Ledger } from "./lease-ledger";
import type { LeaseGrant } from "./leases";
import { emptyTally, minuteLabel, minutesFlushed, minutesToFlush, tallyTotals, type MinuteTally } from "./minute-tally";
import { overLimitDetail } from "../policy/plans";
import { admitAhead, allowanceAt, freshWriteAhead, SLOT_MS, spendAllowance, type Allowance, type WriteAhead } from "./write-ahead";

export interface AdmitRequest {
  keyId: string;
  need: Need;
  origin: string | null;
  /** Requests of this key the caller's isolate refused itself since its last call (refusal-memory.ts). */
  refusedMeanwhile?: number;
  /** The isolate sees this key often: it asks for a token lease (leases.ts) with this request. */
  lease?: { leaseId: string; want: number };
  /**
   * A 429 is counted by the caller, not here: an isolate holding a lease may still admit the
   * request from it (limiter/client.ts), and a count taken back later would break D1's max() merge.
   */
  callerCountsRefusal?: boolean;
  /**
   * Epoch ms after which the caller no longer waits for this answer (limiter/client.ts): a call
   * that arrives later is answered without counting or taking anything, because its request has
   * already been let through as unmetered (and is reported so) or refused with 503.
   */
  answerBy?: number;
}

function tooLate(request: AdmitRequest): boolean {
  return request.answerBy !== undefined && Date.now() > request.answerBy;
}

export type AdmitDecision =
  | { ok: true; scopes: readonly string[]; rate: RateSnapshot; lease?: LeaseGrant }
  | {
      ok: false;
      code: ErrorCode;
      detail: string;
      /** Present when the key itself is valid (403, 429): the headers still describe its limits. */
      rate?: RateSnapshot;
      violated?: PolicyName;
      retryAfter?: number;
    };

/** One change to a key's state, as sent to its object (`change`). */
export interface KeyChange {
  keyId: string;
  op: KeyOperation;
  /**
   * Written to the audit log in the same D1 batch as the change. None for a plan change: the
   * project's own audit entry records it once, not once per key.
   */
  audit?: AuditEntry;
  /** The caller's effective scopes: a key that can do more is not the caller's to change. */
  within?: readonly string[];
  /** A roll's new key: its identity (the state is the old key's settings, taken here). */
  successor?: KeyIdentity;
}

/** The answer to `renewLease`: the lease renewed (or newly lent), or not — with the key's 401 if it is revoked. */
export type RenewAnswer =
  | ({ granted: true } & LeaseGrant)
  | { granted: false; revoked?: Extract<AdmitDecision, { ok: false }> & { code: "revoked_api_key" } };

export type ChangeOutcome =
  | { ok: true; state: KeyState; successor?: KeyState }
  | ({ ok: false } & OperationRefusal)
  | { ok: false; refused: "not_found" }
  /**
   * D1 could not record the change. A revoke is in force all the same, at `version` (leases
   * granted under an older one are over); anything else is not.
   */
  | { ok: false; refused: "unrecorded"; inForce: true; version: number }
  | { ok: false; refused: "unrecorded"; inForce: false };

interface DayCount {
  requests: number;
  rejected: number;
  /** Refused 401/403 here (revoked, expired, permission, origin); absent in counts stored before it was counted. */
  denied?: number;
}

interface UsageState {
  bucket: Bucket | null;
  /** Tokens out on lease (lease-ledger.ts), by lease id. */
  leases?: Record<string, LeaseRecord>;
  /** Day tokens of orphaned leases, by UTC day (lease-ledger.ts); absent in states stored before it. */
  unreported?: Record<string, number>;
  days: Record<string, DayCount>;
  /** Days whose latest totals D1 has not acknowledged. */
  unflushed: string[];
  lastUsedAt: number | null;
  /** Ids of the latest unmetered reports counted (recordUnmetered), in the same write as their counts. */
  unmeteredSeen?: string[];
  /** The last hour, minute by minute (minute-tally.ts); absent in state stored before it was kept. */
  minutes?: MinuteTally;
  /** What this write allowed to be admitted before the next (write-ahead.ts); absent in state stored before it. */
  allowance?: Allowance;
  /** When D1 last pruned the key's old minutes; absent in state stored before it (the next flush prunes). */
  minutesPrunedAt?: number | null;
}

/**
 * The answer to a call decided after its answerBy (AdmitRequest): nothing was counted or taken.
 * Its request may still be waiting; the caller takes it as no answer (the failure policy).
 */
const GAVE_UP: AdmitDecision = { ok: false, code: "limiter_unavailable", detail: "This call came after its request stopped waiting for it; nothing was counted." };

/** Whether the object answered GAVE_UP: the call came too late to be decided. */
export function gaveUp(decision: AdmitDecision): boolean {
  return !decision.ok && decision.code === "limiter_unavailable";
}

const STATE = "state";
const UNRECORDED = "unrecorded";
const USAGE = "usage";
/** Storage of objects from before versioned state; read from D1 again instead. */
const LEGACY_POLICY = "policy";
export const WRITE_BEHIND_MS = 100;
export const FLUSH_INTERVAL_MS = 5_000;
export const FLUSH_RETRY_MS = 15_000;
/** Unmetered reports remembered as counted: far more than one isolate's sender has unacknowledged at once. */
const MAX_UNMETERED_SEEN = 256;
/** Takes of a newer D1 version in one change before it gives up (each needs a crash to happen). */
const MAX_TAKE_UPS = 3;

export class KeyLimiter extends DurableObject<Env> {
  private state: KeyState | undefined;
  private unrecorded: AuditEntry | undefined;
  /** The bucket and the tokens out on lease; null until the key's first request. */
  private ledger: Ledger | null = null;
  private days = new Map<string, DayCount>();
  private unflushed = new Set<string>();
  private lastUsedAt: number | null = null;
  /** Ids of the latest unmetered reports counted here; stored with the counts they added. */
  private unmeteredSeen: string[] = [];
  /** The last hour minute by minute, for the dashboard: derived from the day totals in `counted`. */
  private minutes: MinuteTally = emptyTally();
  /** When D1 last pruned this key's old minutes (stored with the counts: an object evicted between flushes remembers it). */
  private minutesPrunedAt: number | null = null;
  /** The allowance of the last write, and the key's recent pace of per-request admissions. */
  private ahead: WriteAhead = freshWriteAhead();
  private persistTimer: ReturnType<typeof setTimeout> | null = null;
  private persistDue = 0;
  private alarmSet = false;
  private loading: Promise<KeyState | null> | null = null;
  /** The change being applied; the next one waits for it (changes are applied one at a time). */
  private changing: Promise<unknown> = Promise.resolve();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    const stored = ctx.storage.kv.get<KeyState>(STATE);
    this.state = stored === undefined ? undefined : withPlan(stored);
    this.unrecorded = ctx.storage.kv.get<AuditEntry>(UNRECORDED);
    if (ctx.storage.kv.get(LEGACY_POLICY) !== undefined) ctx.storage.kv.delete(LEGACY_POLICY);
    const usage = ctx.storage.kv.get<UsageState>(USAGE);
    if (usage !== undefined) {
      this.ledger = usage.bucket === null ? null : { bucket: usage.bucket, leases: usage.leases ?? {}, unreported: usage.unreported ?? {} };
      this.days = new Map(Object.entries(usage.days));
      this.unflushed = new Set(usage.unflushed);
      this.lastUsedAt = usage.lastUsedAt;
      this.unmeteredSeen = usage.unmeteredSeen ?? [];
      this.minutes = usage.minutes ?? emptyTally();
      this.minutesPrunedAt = usage.minutesPrunedAt ?? null;
      // The object before this one may have admitted up to its allowance since its last write.
      if (this.ledger !== null && this.state !== undefined && spendAllowance(this.ledger, usage.allowance, limitsOf(this.state), Date.now())) this.persist();
    }
    void ctx.blockConcurrencyWhile(async () => {
      this.alarmSet = (await ctx.storage.getAlarm()) !== null;
      // Counts restored after an eviction or restart, or a revoke D1 has not recorded, still owe D1 a write.
      if ((this.unflushed.size > 0 || this.unrecorded !== undefined) && !this.alarmSet) await this.scheduleAlarm(FLUSH_INTERVAL_MS);
    });
  }

  /**
   * The one call per request: may this key make this request now? If so, it is counted.
   *
   * Answers the AdmitDecision as JSON (read it with `readDecision`). An RPC method that returns
   * an object keeps a pipeline to this object open for the caller until the result is disposed
   * or garbage-collected; measured with `BENCH_PROFILE=callgrind npm run bench`, that cost
   * ≈ 45 k instructions per request more than a string (of ≈ 1,050 k for a minimal limiter path).
   */
  async admit(request: AdmitRequest): Promise<string> {
    return JSON.stringify(await this.decide(request));
  }

  /** The decision itself: status → permissions → bucket → daily quota → consume. */
  async decide(request: AdmitRequest): Promise<AdmitDecision> {
    const state = this.state ?? (await this.loadOnce(request.keyId));
    // After the first D1 read, which may have taken the rest of the caller's time.
    if (tooLate(request)) return GAVE_UP;
    if (state === null) {
      return { ok: false, code: "invalid_api_key", detail: "This API key does not exist. Check that you copied it whole." };
    }
    const now = Date.now();
    const refusal = authorize(state, request.need, request.origin, now);
    const limits = limitsOf(state);
    const ledger = this.ledgerAt(limits, now);
    const day = utcDay(now);
    const count = this.dayCount(day);
    if (request.refusedMeanwhile) {
      count.rejected += request.refusedMeanwhile;
      this.counted(day, count);
    }

    if (refusal !== null) {
      count.denied = (count.denied ?? 0) + 1; // for the dashboard: who still sends with a dead or too narrow key
      this.counted(day, count);
      const keyStillValid = refusal.code !== "revoked_api_key" && refusal.code !== "expired_api_key";
      return { ok: false, ...refusal, rate: keyStillValid ? this.snapshot(limits, count, now) : undefined };
    }

    // Day tokens out on lease count as used until their isolates report them.
    const dailyExhausted = count.requests + reservedOn(ledger, day) >= limits.daily;
    if (dailyExhausted || ledger.bucket.tokens < 1) {
      if (!request.callerCountsRefusal) {
        count.rejected++;
        this.counted(day, count);
      }
      const violated: PolicyName = dailyExhausted ? "daily" : "burst";
      return {
        ok: false,
        code: dailyExhausted ? "daily_quota_exceeded" : "rate_limited",
        detail: overLimitDetail(violated, limits, state.limits, state.plan.name),
        rate: this.snapshot(limits, count, now),
        violated,
        retryAfter: dailyExhausted ? secondsUntilMidnight(now) : secondsUntilTokens(ledger.bucket, limits),
      };
    }

    ledger.bucket = { ...ledger.bucket, tokens: ledger.bucket.tokens - 1 };
    count.requests++;
    this.lastUsedAt = now;
    this.counted(day, count);
    const scopes = effectiveScopes(state);
    const mustWrite = admitAhead(this.ahead, now);
    const lease = request.lease === undefined ? undefined : this.lend(state, limits, count, request.lease, now);
    if (mustWrite && lease === undefined) this.persistNow();
    return lease === undefined ? { ok: true, scopes, rate: this.snapshot(limits, count, now) } : { ok: true, scopes, rate: this.snapshot(limits, count, now), lease };
  }

  /**
   * An isolate's report on its lease (leases.ts): what it admitted and refused from it (counted
   * for the day now), and either the lease renewed for what comes next, or not (`final`, a key
   * that changed since the grant, nothing left to lend). Answers the RenewAnswer as JSON.
   */
  async renewLease(report: LeaseReport & { keyId: string }): Promise<string> {
    const state = this.state ?? (await this.loadOnce(report.keyId));
    if (state === null) return JSON.stringify({ granted: false } satisfies RenewAnswer);
    const now = Date.now();
    const limits = limitsOf(state);
    const ledger = this.ledgerAt(limits, now);
    const day = utcDay(now);
    const reported = takeReport(ledger, report, now);
    if (reported.requests !== 0 || reported.rejected !== 0) {
      // On the lease's own day: a report just after midnight is of yesterday's requests.
      const reportedDay = reported.day ?? day;
      const reportedCount = this.dayCount(reportedDay);
      reportedCount.requests += reported.requests;
      reportedCount.rejected += reported.rejected;
      if (reportedDay !== day) this.counted(reportedDay, reportedCount);
      if (reported.requests > 0) this.lastUsedAt = now;
    }
    const count = this.dayCount(day);
    this.counted(day, count); // the ledger changed too: persisted with the counts
    const answer = this.renewal(state, limits, count, report, now);
    // The isolate forgets what it reported once it has this answer: a reset must not lose it
    // (the counts, the tokens given back). A grant has been written already (persistLent).
    if (!answer.granted && reported.day !== null) this.persistNow();
    return JSON.stringify(answer);
  }

  /** The lease renewed, or why not: the key revoked, the report final, nothing wanted or left to lend. */
  private renewal(state: KeyState, limits: Limits, count: DayCount, report: LeaseReport, now: number): RenewAnswer {
    if (state.status === "revoked") {
      return { granted: false, revoked: { ok: false, code: "revoked_api_key", detail: authorize(state, LEASED_NEED, null, now)!.detail } };
    }
    if (report.final || report.want < 1 || !usable(state, now)) return { granted: false };
    const leaseMs = configOf(this.env).leaseMs;
    const answer = renewLease(this.ledger!, limits, count.requests, { leaseId: report.leaseId, want: report.want, maxTokens: maxLeaseTokens(limits, leaseMs), leaseMs, version: state.version }, now);
    if (!answer.granted) return { granted: false };
    this.persistLent();
    return { granted: true, ...this.grantOf(state, limits, count, answer) };
  }

  /** A lease for the isolate that asked, if LEASE_MS allows leases and there is something to lend. */
  private lend(state: KeyState, limits: Limits, count: DayCount, asked: { leaseId: string; want: number }, now: number): LeaseGrant | undefined {
    const leaseMs = configOf(this.env).leaseMs;
    if (leaseMs === 0) return undefined;
    const answer = grantLease(this.ledger!, limits, count.requests, { leaseId: asked.leaseId, want: asked.want, maxTokens: maxLeaseTokens(limits, leaseMs), leaseMs, version: state.version }, now);
    if (!answer.granted) return undefined;
    this.persistLent();
    return this.grantOf(state, limits, count, answer);
  }

  /**
   * Tokens just lent are written now, not behind the traffic: the output gate then holds the
   * grant until they are durable. An object reset right after a grant (a crash, a deploy) would
   * otherwise refill a bucket that forgot them while the isolate spends them — an over-admit of
   * up to a lease's tokens, and its reported use counted nowhere. Grants are a few per isolate
   * per LEASE_MS, not one per request.
   */
  private persistLent(): void {
    this.persist();
  }

  private grantOf(state: KeyState, limits: Limits, count: DayCount, answer: Extract<LeaseAnswer, { granted: true }>): LeaseGrant {
    const { type, status, scopes, expiresAt, allowedOrigins } = state;
    return {
      leaseId: answer.leaseId,
      topUp: answer.topUp,
      expiresAt: answer.expiresAt,
      lifetimeMs: answer.lifetimeMs,
      version: answer.version,
      short: answer.short,
      policy: { type, status, scopes, expiresAt, allowedOrigins },
      scopes: effectiveScopes(state),
      limits,
      // The isolate's own 429s from the lease say what the object's would (plan, the key's own limits).
      refusals: { burst: overLimitDetail("burst", limits, state.limits, state.plan.name), daily: overLimitDetail("daily", limits, state.limits, state.plan.name) },
      bucketTokens: this.ledger!.bucket.tokens,
      dayUsed: count.requests + reservedOn(this.ledger!, this.ledger!.leases[answer.leaseId]!.day),
    };
  }

  /** The ledger refilled to `now` (a full bucket for a key's first request). */
  private ledgerAt(limits: Limits, now: number): Ledger {
    this.ledger ??= { bucket: fullBucket(limits, now), leases: {} };
    refillLedger(this.ledger, limits, now);
    return this.ledger;
  }

  private snapshot(limits: Limits, count: DayCount, now: number): RateSnapshot {
    return { ...limits, tokens: this.ledger!.bucket.tokens, dayUsed: count.requests + reservedOn(this.ledger!, utcDay(now)), now };
  }

  /**
   * Counts requests that went through while this object could not be reached (fail-open
   * routes), once it can be again. They take from the daily count, not from the bucket. A report
   * with an id (limiter/unmetered.ts) is counted once: its sender sends it again, as it is, when
   * an answer does not come back, and it may have landed.
   */
  recordUnmetered(requests: number, at: number, reportId?: string): void {
    if (reportId !== undefined && this.unmeteredSeen.includes(reportId)) return;
    const day = utcDay(at);
    const count = this.dayCount(day);
    count.requests += requests;
    this.lastUsedAt = Math.max(this.lastUsedAt ?? 0, at);
    if (reportId !== undefined) {
      // Remembered once counted, in the same storage write as the count (counted → persist).
      this.unmeteredSeen.push(reportId);
      if (this.unmeteredSeen.length > MAX_UNMETERED_SEEN) this.unmeteredSeen.shift();
    }
    this.counted(day, count);
    // The sender drops its report on this answer: written first, or a reset would lose an
    // outage's worth of requests — from D1 and from the day's quota.
    this.persistNow();
  }

  /**
   * Gives back what an admission took, for a request refused after it was admitted (a management
   * call answered 403 or 404; API.md §3: a refused request takes nothing): its token, and its
   * count on the day it was admitted. Answers the key's rate snapshot after it, as JSON (null: no
   * such key). A total already flushed stays in D1 (max() merge) until the key's next count.
   */
  async giveBack(keyId: string, admittedAt: number): Promise<string> {
    const state = this.state ?? (await this.loadOnce(keyId));
    if (state === null) return JSON.stringify(null);
    const now = Date.now();
    const limits = limitsOf(state);
    const ledger = this.ledgerAt(limits, now);
    ledger.bucket = { ...ledger.bucket, tokens: Math.min(limits.burst, ledger.bucket.tokens + 1) };
    const day = utcDay(admittedAt);
    const count = this.dayCount(day);
    count.requests = Math.max(0, count.requests - 1);
    this.counted(day, count);
    return JSON.stringify(this.snapshot(limits, this.dayCount(utcDay(now)), now));
  }

  /** Counts requests that a gateway isolate refused itself while it knew this key's answer. */
  recordRefused(requests: number, at: number): void {
    const day = utcDay(at);
    const count = this.dayCount(day);
    count.rejected += requests;
    this.counted(day, count);
    this.persistNow(); // as recordUnmetered: the isolate forgets them on this answer
  }

  /**
   * Applies one change to the key's state, after every change that reached this object before
   * it, and answers once D1 has recorded the result (or with why not).
   */
  change(change: KeyChange): Promise<ChangeOutcome> {
    const applying = this.changing.then(() => this.applyChange(change));
    this.changing = applying.catch(() => undefined);
    return applying;
  }

  /** A key just created hands its object the state D1 recorded, saving its first request a D1 read. */
  adopt(state: KeyState): void {
    if (this.state === undefined) this.store(withPlan(state));
  }

  /** The state this object holds for its key (null: none yet — it reads D1 on first use). */
  heldState(): KeyState | null {
    return this.state ?? null;
  }

  /** Pushes the unflushed day totals and last use to D1, and records a revoke D1 missed. */
  override async alarm(): Promise<void> {
    this.alarmSet = false;
    let retryIn = FLUSH_INTERVAL_MS;
    if (this.unrecorded !== undefined && this.state !== undefined) {
      const outcome = await this.change({ keyId: this.state.keyId, op: { kind: "revoke" }, audit: this.unrecorded });
      if (!outcome.ok) retryIn = FLUSH_RETRY_MS;
    }
    this.persist();
    const state = this.state;
    if (state !== undefined && this.unflushed.size > 0) {
      const sent = [...this.unflushed].map((day) => ({ day, ...this.days.get(day)! }));
      const sentMinutes = minutesToFlush(this.minutes);
      const lastUsedAt = this.lastUsedAt;
      // Old minutes leave D1 every MINUTE_PRUNE_INTERVAL_MS, not with every flush: a flush is 3 statements, not 4.
      const flushedAt = Date.now();
      const prune = sent.length > 0 && (this.minutesPrunedAt === null || flushedAt - this.minutesPrunedAt >= MINUTE_PRUNE_INTERVAL_MS);
      try {
        await this.env.DB.batch([
          ...sent.map(({ day, requests, rejected, denied }) =>
            this.env.DB.prepare(
              `INSERT INTO usage_daily (key_id, project_id, day, requests, rejected, denied) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
               ON CONFLICT (key_id, day) DO UPDATE SET requests = max(requests, excluded.requests), rejected = max(rejected, excluded.rejected),
               denied = max(denied, excluded.denied)`,
            ).bind(state.keyId, state.projectId, day, requests, rejected, denied ?? 0),
          ),
          ...minuteUpserts(this.env.DB, state, sentMinutes),
          ...(prune ? [pruneMinutes(this.env.DB, state)] : []),
          this.env.DB.prepare("UPDATE api_keys SET last_used_at = ?2 WHERE id = ?1 AND (last_used_at IS NULL OR last_used_at < ?2)").bind(
            state.keyId,
            lastUsedAt === null ? null : new Date(lastUsedAt).toISOString(),
          ),
        ]);
        for (const { day, requests, rejected, denied } of sent) {
          const now = this.days.get(day)!;
          if (now.requests !== requests || now.rejected !== rejected || now.denied !== denied) continue; // counted on meanwhile
          this.unflushed.delete(day); // persist() below drops past days D1 now has
        }
        minutesFlushed(this.minutes, sentMinutes);
        if (prune) this.minutesPrunedAt = flushedAt;
      } catch (error) {
        // Nothing is lost: the totals stay unflushed and go with the next attempt.
        console.error(JSON.stringify({ level: "error", msg: "usage flush failed", key_id: state.keyId, error: String(error) }));
        retryIn = FLUSH_RETRY_MS;
      }
      this.persist();
    }
    if (this.unflushed.size > 0 || this.unrecorded !== undefined) await this.scheduleAlarm(retryIn);
  }

  private async applyChange(change: KeyChange): Promise<ChangeOutcome> {
    let current = this.state ?? (await this.loadOnce(change.keyId));
    for (let takeUps = 0; current !== null && takeUps < MAX_TAKE_UPS; takeUps++) {
      const applied = applyOperation(current, change.op, Date.now(), change.within);
      if (!applied.ok) return applied;
      const next = applied.state;
      const revoke = change.op.kind === "revoke";
      // A revoke of a revoked key re-asserts it: its audit entry is the first revoke's, if D1 missed that.
      const audit = revoke && !applied.changed ? this.unrecorded : change.audit;
      // A revoke is in force before D1 is asked: it never waits on, or fails with, the record.
      if (revoke && applied.changed) this.store(next, audit);
      const successor = change.op.kind === "roll" && change.successor !== undefined ? successorOf(current, next, change.successor) : undefined;
      let recorded: KeyState | null | "landed";
      try {
        recorded = await this.record(next, applied.changed, audit, successor);
      } catch (error) {
        console.error(JSON.stringify({ level: "error", msg: "key change not recorded", key_id: change.keyId, op: change.op.kind, error: String(error) }));
        if (revoke) await this.scheduleAlarm(FLUSH_RETRY_MS);
        return revoke ? { ok: false, refused: "unrecorded", inForce: true, version: next.version } : { ok: false, refused: "unrecorded", inForce: false };
      }
      if (recorded === "landed") {
        this.store(next);
        return successor === undefined ? { ok: true, state: next } : { ok: true, state: next, successor: successor.state };
      }
      // D1 holds a newer version than this object: one it recorded and then lost before storing
      // it (a crash between the two writes). Take that up and apply the operation over it.
      current = recorded;
    }
    return current === null ? { ok: false, refused: "not_found" } : { ok: false, refused: "unrecorded", inForce: false };
  }

  /**
   * Records `next` in D1, with its audit entry (and a roll's new key) in the same batch, only
   * over an older version. Answers "landed", or the state D1 holds instead.
   */
  private async record(next: KeyState, changed: boolean, audit: AuditEntry | undefined, successor?: Successor): Promise<KeyState | null | "landed"> {
    const db = this.env.DB;
    const statements = [recordStateStatement(db, next, changed ? "newer" : "same")];
    if (successor !== undefined) statements.push(insertKeyStatement(db, successor.state, successor.identity, { onlyAfterChange: true }));
    if (audit !== undefined) statements.push(auditStatement(db, next.projectId, next.keyId, withOutcome(audit, next, successor), { onlyAfterChange: true }));
    const [update] = await db.batch(statements);
    if (update!.meta.changes === 1) return "landed";
    const held = await loadKeyState(db, next.keyId);
    // An earlier attempt of this very change landed, and only its answer was lost.
    if (held !== null && held.version === next.version && sameState(held, next)) return "landed";
    return held;
  }

  /** Puts the key's state in force here and in this object's storage (durable before any answer leaves). */
  private store(state: KeyState, unrecorded?: AuditEntry): void {
    this.state = state;
    this.ctx.storage.kv.put(STATE, state);
    this.unrecorded = unrecorded;
    if (unrecorded === undefined) this.ctx.storage.kv.delete(UNRECORDED);
    else this.ctx.storage.kv.put(UNRECORDED, unrecorded);
  }

  /** The running totals of a day (a fresh zero count if it has none yet; `counted` stores it). */
  private dayCount(day: string): DayCount {
    return this.days.get(day) ?? { requests: 0, rejected: 0 };
  }

  /** Records a change of today's (or another day's) totals and schedules its persistence. */
  private counted(day: string, count: DayCount): void {
    this.days.set(day, count);
    tallyTotals(this.minutes, day, utcDay(Date.now()), count, Date.now());
    this.unflushed.add(day);
    this.persistWithin(WRITE_BEHIND_MS);
  }

  /** A write within `ms`: the one due already if it comes sooner. */
  private persistWithin(ms: number): void {
    const due = Date.now() + ms;
    if (this.persistTimer !== null) {
      if (this.persistDue <= due) return;
      clearTimeout(this.persistTimer);
    }
    this.persistDue = due;
    this.persistTimer = setTimeout(() => {
      this.persistTimer = null;
      this.persistNow();
    }, ms);
  }

  /**
   * A write now, in this turn (the output gate holds this call's answer until it is durable), in
   * place of the one due; its counts owe D1 a flush. Other writes (a grant's, the alarm's) leave
   * the due one be: it is what schedules the flush of the counts they wrote.
   */
  private persistNow(): void {
    if (this.persistTimer !== null) clearTimeout(this.persistTimer);
    this.persistTimer = null;
    this.persist();
    if (!this.alarmSet && this.unflushed.size > 0) void this.scheduleAlarm(FLUSH_INTERVAL_MS);
  }

  private persist(): void {
    // A day's totals are kept while a late report may still add to them (a lease reported just
    // after midnight): started again from zero, they would lose to D1's max() merge.
    const now = Date.now();
    const oldestOpen = utcDay(now - UNREPORTED_GRACE_MS);
    for (const day of this.days.keys()) if (day < oldestOpen && !this.unflushed.has(day)) this.days.delete(day);
    const allowance = this.allowance(now);
    this.ctx.storage.kv.put<UsageState>(USAGE, {
      bucket: this.ledger?.bucket ?? null,
      leases: this.ledger?.leases ?? {},
      unreported: this.ledger?.unreported ?? {},
      days: Object.fromEntries(this.days),
      unflushed: [...this.unflushed],
      lastUsedAt: this.lastUsedAt,
      unmeteredSeen: this.unmeteredSeen,
      minutes: this.minutes,
      allowance: { tokens: allowance, day: utcDay(now) },
      minutesPrunedAt: this.minutesPrunedAt,
    });
    // A write with an allowance is followed by another once the key is quiet (none then), so that
    // an idle object holds nothing back.
    if (allowance > 0) this.persistWithin(2 * SLOT_MS);
  }

  /** How many requests may be admitted before the next write (write-ahead.ts); none before the key's first request. */
  private allowance(now: number): number {
    if (this.state === undefined || this.ledger === null) return 0;
    const limits = limitsOf(this.state);
    const today = utcDay(now);
    const dayRoom = limits.daily - this.dayCount(today).requests - reservedOn(this.ledger, today);
    return allowanceAt(this.ahead, now, limits, dayRoom);
  }

  private async scheduleAlarm(inMs: number): Promise<void> {
    this.alarmSet = true;
    await this.ctx.storage.setAlarm(Date.now() + inMs);
  }

  /** Concurrent first requests share one D1 read. */
  private loadOnce(keyId: string): Promise<KeyState | null> {
    this.loading ??= loadKeyState(this.env.DB, keyId)
      .then((state) => {
        // A change that landed while D1 answered is newer: keep it.
        if (state !== null && this.state === undefined) this.store(state);
        return this.state ?? state;
      })
      .finally(() => {
        this.loading = null;
      });
    return this.loading;
  }
}

/** D1 keeps two hours of minutes per key (the dashboard's hour, and slack for late flushes), pruned every ten minutes. */
const MINUTE_ROWS_KEPT_MS = 2 * 3_600_000;
export const MINUTE_PRUNE_INTERVAL_MS = 10 * 60_000;

/** The minutes of a flush as D1 upserts (totals, merged with max()). */
function minuteUpserts(db: D1Database, state: KeyState, minutes: ReturnType<typeof minutesToFlush>): D1PreparedStatement[] {
  return minutes.map(({ minute, requests, rejected, denied }) =>
    db
      .prepare(
        `INSERT INTO usage_minute (key_id, project_id, minute, requests, rejected, denied) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (key_id, minute) DO UPDATE SET requests = max(requests, excluded.requests), rejected = max(rejected, excluded.rejected),
         denied = max(denied, excluded.denied)`,
      )
      .bind(state.keyId, state.projectId, minuteLabel(minute), requests, rejected, denied),
  );
}

/** Drops the key's minutes older than D1 keeps. */
function pruneMinutes(db: D1Database, state: KeyState): D1PreparedStatement {
  return db.prepare("DELETE FROM usage_minute WHERE key_id = ?1 AND minute < ?2").bind(state.keyId, minuteLabel(Date.now() - MINUTE_ROWS_KEPT_MS));
}

/** What only the object knows of a change's outcome, added to its audit entry: the limits now in force, a roll's new key. */
function withOutcome(audit: AuditEntry, next: KeyState, successor: Successor | undefined): AuditEntry {
  if (audit.action === "key.limits") return { ...audit, details: { ...audit.details, limits: next.limits } };
  if (successor === undefined) return audit;
  return { ...audit, details: { ...audit.details, rolled_to: successor.state.keyId, old_expires_at: new Date(next.expiresAt!).toISOString() } };
}

interface Successor {
  state: KeyState;
  identity: KeyIdentity;
}

/** A roll's new key: the old key's settings as they are now (`before` the roll shortened its expiry), active. */
function successorOf(before: KeyState, rolled: KeyState, identity: KeyIdentity): Successor {
  const state: KeyState = {
    ...rolled,
    keyId: rolled.rolledTo!,
    version: 1,
    status: "active",
    revokedAt: null,
    // The key's own expiry, not the roll's grace period: rotating a key never lengthens its life.
    expiresAt: before.expiresAt,
    rolledTo: null,
  };
  return { state, identity: { ...identity, rolledFrom: rolled.keyId } };
}

/** What a lease is for: event ingestion, the only routes that lease. */
const LEASED_NEED = { permission: "events:write", publicKey: true, action: "send events" } as const;

/** A key a lease may still be lent for: active and not expired. */
function usable(state: KeyState, now: number): boolean {
  return state.status === "active" && (state.expiresAt === null || state.expiresAt > now);
}


/** The decision `KeyLimiter.admit` answered. */
export function readDecision(answer: string): AdmitDecision {
  return JSON.parse(answer) as AdmitDecision;
}
