/**
 * Isolate memory of a key's 429, for keys hammered far above their limit.
 *
 * One KeyLimiter object serves about 1,000 requests per second. A client sending a key many
 * times faster than its rate would otherwise send every refused request to that object too,
 * overload it, and — event ingestion fails open — get through uncounted. So for a moment, while
 * the object's answer cannot change, this isolate answers the same 429 itself:
 *   - `rate_limited`: until the bucket holds a whole token again (1/rate seconds at most: 10 ms
 *     for a public key's default rate), re-based to the time of each request;
 *   - `daily_quota_exceeded`: until midnight, as far as anyone knows here;
 * both for at most MEMORY_CAP_MS. Then one request asks the object again while the others keep
 * the 429 until it answers (at most another MEMORY_CAP_MS). A revoke, a scope change or a new
 * limit made through this isolate drops the key's memory at once (`forgetRefusals`), so its next
 * request here asks the object; in other isolates such a change shows within 2 × MEMORY_CAP_MS
 * for a key that is being refused at that moment — a request before then gets the 429, refused
 * either way.
 * Memory is per key, permission and origin, because those decide whether the object would have
 * answered 403 instead.
 *
 * The requests refused here still count: `takeRefused` hands their number to the object with the
 * key's next admit (or a report once the window is over), so `rejected` in D1 stays complete.
 */
import { nextUtcMidnight, refill, secondsUntilMidnight, secondsUntilTokens, type Bucket, type Limits } from "./bucket";
import type { PolicyName, RateSnapshot } from "./headers";
import type { AdmitDecision } from "./key-limiter";
import { onePerKey } from "./one-per-key";

export const MEMORY_CAP_MS = 100;
const MAX_REMEMBERED = 10_000;
const ALMOST_ONE = 0.999;

/** A refusal of the KeyLimiter that this module can repeat: a 429 with its numbers. */
export interface LimitRefusal {
  ok: false;
  code: "rate_limited" | "daily_quota_exceeded";
  detail: string;
  rate: RateSnapshot;
  violated: PolicyName;
  retryAfter: number;
}

interface Remembered {
  refusal: LimitRefusal;
  /** Epoch ms until which the object would give the same answer. */
  until: number;
  /** Past `until`: one request is asking the object again. */
  asking: boolean;
}

const remembered = new Map<string, Remembered>();
const refusedHere = new Map<string, number>();
/** Keys with a report of their refused count scheduled (at most one each). */
const reporting = onePerKey();

export function refusalSlot(keyId: string, permission: string, origin: string | null): string {
  return `${keyId}\n${permission}\n${origin ?? ""}`;
}

export function isLimitRefusal(decision: AdmitDecision): decision is LimitRefusal {
  return !decision.ok && (decision.code === "rate_limited" || decision.code === "daily_quota_exceeded") && decision.rate !== undefined;
}

/** Keeps a 429 of the object for as long as the object would repeat it. */
export function rememberRefusal(slot: string, refusal: LimitRefusal): void {
  const { rate } = refusal;
  const changesAt =
    refusal.code === "rate_limited" ? rate.now + Math.ceil(((1 - rate.tokens) / rate.rate) * 1000) : nextUtcMidnight(rate.now);
  const until = Math.min(changesAt, rate.now + MEMORY_CAP_MS);
  if (until <= rate.now) return;
  if (remembered.size >= MAX_REMEMBERED) remembered.delete(remembered.keys().next().value!);
  remembered.set(slot, { refusal, until, asking: false });
}

/**
 * The remembered 429 as the object would answer it at `now`, counted as refused here; undefined
 * when the caller must ask the object. Once the object may answer differently, one caller asks
 * it (and then calls `rememberRefusal` or `settleRefusal`); the others meanwhile still get the
 * 429, for at most another MEMORY_CAP_MS — so a key's object is not asked by every request
 * that happens to be in flight when a window ends.
 */
export function recallRefusal(slot: string, keyId: string, now: number): LimitRefusal | undefined {
  const entry = remembered.get(slot);
  if (entry === undefined) return undefined;
  if (now >= entry.until) {
    if (now >= entry.until + MEMORY_CAP_MS || isNewDay(entry.refusal, now)) {
      remembered.delete(slot);
      return undefined;
    }
    if (!entry.asking) {
      entry.asking = true;
      return undefined;
    }
  }
  addRefused(keyId, 1);
  return rebase(entry.refusal, now);
}

/**
 * The object admitted the request that asked for the slot. If that took the bucket's last whole
 * token, the object will refuse again until the next one: the memory goes on from the admitted
 * numbers, so that the requests in flight do not all ask the object at once.
 */
export function admittedAfterRefusal(slot: string, rate: RateSnapshot): void {
  const entry = remembered.get(slot);
  if (entry === undefined) return;
  if (entry.refusal.code !== "rate_limited" || rate.tokens >= 1) return void remembered.delete(slot);
  rememberRefusal(slot, { ...entry.refusal, rate });
}

/** The object answered the slot with something other than a 429 (or not at all): nothing to repeat. */
export function settleRefusal(slot: string): void {
  remembered.delete(slot);
}

/** How many requests of the key were refused here since last asked; resets the count. */
export function takeRefused(keyId: string): number {
  const count = refusedHere.get(keyId) ?? 0;
  refusedHere.delete(keyId);
  return count;
}

/** Gives back a count that could not be handed to the object. */
export function returnRefused(keyId: string, count: number): void {
  if (count > 0) addRefused(keyId, count);
}

function addRefused(keyId: string, count: number): void {
  refusedHere.set(keyId, (refusedHere.get(keyId) ?? 0) + count);
}

/**
 * Drops the key's remembered 429s: its policy was just changed through this isolate, so its next
 * request here must ask the object.
 */
export function forgetRefusals(keyId: string): void {
  const prefix = `${keyId}\n`;
  for (const slot of remembered.keys()) if (slot.startsWith(prefix)) remembered.delete(slot);
}

/** True for the one caller that should schedule the key's report; false while one is pending. */
export const claimReport = reporting.claim;

export const reportDone = reporting.release;

/** When the slot's memory ends (epoch ms), if it has one. */
export function rememberedUntil(slot: string): number | undefined {
  return remembered.get(slot)?.until;
}

/** A daily refusal is never repeated on the next day: its quota is new. */
function isNewDay(refusal: LimitRefusal, now: number): boolean {
  return refusal.code === "daily_quota_exceeded" && now >= nextUtcMidnight(refusal.rate.now);
}

function rebase(refusal: LimitRefusal, now: number): LimitRefusal {
  const then = refusal.rate;
  const limits: Limits = { rate: then.rate, burst: then.burst, daily: then.daily };
  const refilled: Bucket = refill({ tokens: then.tokens, at: then.now }, limits, now);
  // While one request asks the object again, a whole token may have come: the answer is still a
  // refusal, and its headers must not say otherwise.
  const bucket = refusal.code === "rate_limited" ? { ...refilled, tokens: Math.min(refilled.tokens, ALMOST_ONE) } : refilled;
  const at = Math.max(now, then.now);
  const retryAfter = refusal.code === "rate_limited" ? secondsUntilTokens(bucket, limits) : secondsUntilMidnight(at);
  return { ...refusal, rate: { ...then, tokens: bucket.tokens, now: at }, retryAfter };
}
