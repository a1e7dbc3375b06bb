/**
 * KeyLimiter: one SQLite-backed Durable Object per key id, called once per request of that key.
 * One `admit` call decides atomically, in this order: key status (active / revoked / expired) →
 * permissions and origin → token bucket → daily quota → consume. Refused requests consume
 * nothing.
 *
 * Why here: every request of a key passes through this one object wherever it arrives, so the
 * key's mutable policy lives here too — a revoke, a scope change or a new limit written by the
 * operator or management API is in force on the very next request, with no KV propagation window.
 *
 * Stored shapes (the object's own storage, synchronous KV API):
 *   `policy` → KeyPolicy. Written by createKey/revokeKey/updates; a fresh object with no policy
 *              reads it once from D1 (the record of truth).
 *   `usage`  → UsageState: the bucket, each day's running totals, which days D1 has not seen.
 *              Written behind the traffic, at most every WRITE_BEHIND_MS, never once per request:
 *              a durable write per request would cost most of the gateway's throughput. An abrupt
 *              crash can therefore lose at most the last WRITE_BEHIND_MS of counts; idle eviction
 *              loses nothing, because the timer has fired long before.
 * D1 `usage_daily` gets the day totals from `alarm()`, every FLUSH_INTERVAL_MS while there is
 * something new, as one batch per flush. Totals (not deltas) merged with max() make a repeated
 * alarm harmless; a failed flush keeps everything and retries.
 */
import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env";
import type { ErrorCode } from "../http/problem";
import { loadPolicy } from "../keys/key-records";
import { authorize, effectiveScopes, type KeyPolicy, type Need } from "../policy/authorize";
import { fullBucket, refill, secondsUntilMidnight, secondsUntilTokens, utcDay, type Bucket, type Limits } from "./bucket";
import type { PolicyName, RateSnapshot } from "./headers";
import { effectiveLimits } from "./limits";

export interface AdmitRequest {
  keyId: string;
  need: Need;
  origin: string | null;
  /** Requests of this key the caller's isolate refused itself since its last call (refusal-memory.ts). */
  refusedMeanwhile?: number;
}

export type AdmitDecision =
  | { ok: true; scopes: readonly string[]; rate: RateSnapshot }
  | {
      ok: false;
      code: ErrorCode;
      detail: string;
      /** Present when the key itself is valid (403, 429): the headers still describe its limits. */
      rate?: RateSnapshot;
      violated?: PolicyName;
      retryAfter?: number;
    };

interface DayCount {
  requests: number;
  rejected: number;
}

interface UsageState {
  bucket: Bucket | null;
  days: Record<string, DayCount>;
  /** Days whose latest totals D1 has not acknowledged. */
  unflushed: string[];
  lastUsedAt: number | null;
}

const POLICY = "policy";
const USAGE = "usage";
export const WRITE_BEHIND_MS = 100;
export const FLUSH_INTERVAL_MS = 5_000;
export const FLUSH_RETRY_MS = 15_000;

export class KeyLimiter extends DurableObject<Env> {
  private policy: KeyPolicy | undefined;
  private bucket: Bucket | null = null;
  private days = new Map<string, DayCount>();
  private unflushed = new Set<string>();
  private lastUsedAt: number | null = null;
  private persistTimer: ReturnType<typeof setTimeout> | null = null;
  private alarmSet = false;
  private loading: Promise<KeyPolicy | null> | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.policy = ctx.storage.kv.get<KeyPolicy>(POLICY);
    const usage = ctx.storage.kv.get<UsageState>(USAGE);
    if (usage !== undefined) {
      this.bucket = usage.bucket;
      this.days = new Map(Object.entries(usage.days));
      this.unflushed = new Set(usage.unflushed);
      this.lastUsedAt = usage.lastUsedAt;
    }
    void ctx.blockConcurrencyWhile(async () => {
      this.alarmSet = (await ctx.storage.getAlarm()) !== null;
      // Counts restored after an eviction or restart still owe D1 a flush.
      if (this.unflushed.size > 0 && !this.alarmSet) await this.scheduleFlush(FLUSH_INTERVAL_MS);
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
    const policy = this.policy ?? (await this.loadOnce(request.keyId));
    if (policy === null) {
      return { ok: false, code: "invalid_api_key", detail: "This API key does not exist. Check that you copied it whole." };
    }
    const now = Date.now();
    const refusal = authorize(policy, request.need, request.origin, now);
    const limits = effectiveLimits(policy.type, policy.limits);
    const bucket = refill(this.bucket ?? fullBucket(limits, now), limits, now);
    this.bucket = bucket;
    const day = utcDay(now);
    const count = this.dayCount(day);
    if (request.refusedMeanwhile) {
      count.rejected += request.refusedMeanwhile;
      this.counted(day, count);
    }

    if (refusal !== null) {
      const keyStillValid = refusal.code !== "revoked_api_key" && refusal.code !== "expired_api_key";
      return { ok: false, ...refusal, rate: keyStillValid ? snapshot(limits, bucket, count, now) : undefined };
    }

    const dailyExhausted = count.requests >= limits.daily;
    if (dailyExhausted || bucket.tokens < 1) {
      count.rejected++;
      this.counted(day, count);
      const violated: PolicyName = dailyExhausted ? "daily" : "burst";
      return {
        ok: false,
        code: dailyExhausted ? "daily_quota_exceeded" : "rate_limited",
        detail: dailyExhausted
          ? `This key has used its ${limits.daily} requests for today (UTC). The quota resets at 00:00 UTC; ask for a higher quota if you need one.`
          : `This key is over its rate limit of ${limits.rate} requests per second (burst ${limits.burst}). Retry after the Retry-After seconds, with exponential backoff.`,
        rate: snapshot(limits, bucket, count, now),
        violated,
        retryAfter: dailyExhausted ? secondsUntilMidnight(now) : secondsUntilTokens(bucket, limits),
      };
    }

    bucket.tokens -= 1;
    count.requests++;
    this.lastUsedAt = now;
    this.counted(day, count);
    return { ok: true, scopes: effectiveScopes(policy), rate: snapshot(limits, bucket, count, now) };
  }

  /**
   * Counts requests that went through while this object could not be reached (fail-open
   * routes), once it can be again. They take from the daily count, not from the bucket.
   */
  recordUnmetered(requests: number, at: number): void {
    const day = utcDay(at);
    const count = this.dayCount(day);
    count.requests += requests;
    this.lastUsedAt = Math.max(this.lastUsedAt ?? 0, at);
    this.counted(day, count);
  }

  /** Counts requests that a gateway isolate refused itself while it knew this key's answer. */
  recordRefused(requests: number, at: number): void {
    const day = utcDay(at);
    const count = this.dayCount(day);
    count.rejected += requests;
    this.counted(day, count);
  }

  /** Replaces the policy (creation, revoke, update, limits); in force for the next admit. */
  setPolicy(policy: KeyPolicy): void {
    this.policy = policy;
    this.ctx.storage.kv.put(POLICY, policy);
  }

  getPolicy(): KeyPolicy | null {
    return this.policy ?? null;
  }

  /** Pushes the unflushed day totals and last use to D1; runs every FLUSH_INTERVAL_MS while there are any. */
  override async alarm(): Promise<void> {
    this.alarmSet = false;
    this.persist();
    const policy = this.policy;
    if (policy === undefined || this.unflushed.size === 0) return;
    const sent = [...this.unflushed].map((day) => ({ day, ...this.days.get(day)! }));
    const lastUsedAt = this.lastUsedAt;
    let retryIn = FLUSH_INTERVAL_MS;
    try {
      await this.env.DB.batch([
        ...sent.map(({ day, requests, rejected }) =>
          this.env.DB.prepare(
            `INSERT INTO usage_daily (key_id, project_id, day, requests, rejected) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (key_id, day) DO UPDATE SET requests = max(requests, excluded.requests), rejected = max(rejected, excluded.rejected)`,
          ).bind(policy.keyId, policy.projectId, day, requests, rejected),
        ),
        this.env.DB.prepare("UPDATE api_keys SET last_used_at = ?2 WHERE id = ?1 AND (last_used_at IS NULL OR last_used_at < ?2)").bind(
          policy.keyId,
          lastUsedAt === null ? null : new Date(lastUsedAt).toISOString(),
        ),
      ]);
      for (const { day, requests, rejected } of sent) {
        const now = this.days.get(day)!;
        if (now.requests !== requests || now.rejected !== rejected) continue; // counted on meanwhile
        this.unflushed.delete(day); // persist() below drops past days D1 now has
      }
    } catch (error) {
      // Nothing is lost: the totals stay unflushed and go with the next attempt.
      console.error(JSON.stringify({ level: "error", msg: "usage flush failed", key_id: policy.keyId, error: String(error) }));
      retryIn = FLUSH_RETRY_MS;
    }
    this.persist();
    if (this.unflushed.size > 0) await this.scheduleFlush(retryIn);
  }

  /** The running totals of a day (a fresh zero count if it has none yet; `counted` stores it). */
  private dayCount(day: string): DayCount {
    return this.days.get(day) ?? { requests: 0, rejected: 0 };
  }

  /** Records a change of today's (or another day's) totals and schedules its persistence. */
  private counted(day: string, count: DayCount): void {
    this.days.set(day, count);
    this.unflushed.add(day);
    this.persistTimer ??= setTimeout(() => {
      this.persistTimer = null;
      this.persist();
      if (!this.alarmSet) void this.scheduleFlush(FLUSH_INTERVAL_MS);
    }, WRITE_BEHIND_MS);
  }

  private persist(): void {
    const today = utcDay(Date.now());
    for (const day of this.days.keys()) if (day !== today && !this.unflushed.has(day)) this.days.delete(day);
    this.ctx.storage.kv.put<UsageState>(USAGE, {
      bucket: this.bucket,
      days: Object.fromEntries(this.days),
      unflushed: [...this.unflushed],
      lastUsedAt: this.lastUsedAt,
    });
  }

  private async scheduleFlush(inMs: number): Promise<void> {
    this.alarmSet = true;
    await this.ctx.storage.setAlarm(Date.now() + inMs);
  }

  /** Concurrent first requests share one D1 read. */
  private loadOnce(keyId: string): Promise<KeyPolicy | null> {
    this.loading ??= loadPolicy(this.env.DB, keyId)
      .then((policy) => {
        // A setPolicy (say, a revoke) that landed while D1 answered is newer: keep it.
        if (policy !== null && this.policy === undefined) this.setPolicy(policy);
        return this.policy ?? policy;
      })
      .finally(() => {
        this.loading = null;
      });
    return this.loading;
  }
}

function snapshot(limits: Limits, bucket: Bucket, count: DayCount, now: number): RateSnapshot {
  return { ...limits, tokens: bucket.tokens, dayUsed: count.requests, now };
}

/** The decision `KeyLimiter.admit` answered. */
export function readDecision(answer: string): AdmitDecision {
  return JSON.parse(answer) as AdmitDecision;
}

export function keyLimiter(env: Env, keyId: string): DurableObjectStub<KeyLimiter> {
  return env.KEY_LIMITER.getByName(keyId);
}
