/**
 * The object's allowance ahead of its storage write (write-ahead.ts) as a property (fast-check):
 * a simulated KeyLimiter admits per-request arrivals (single requests and bursts at one instant)
 * from its ledger, writes behind the traffic as the object does (within WRITE_BEHIND_MS of a
 * count, at once for an admission past the allowance, again once the key is quiet), and is reset
 * abruptly at random moments: the next one starts from the last write, the allowance taken as
 * spent. After every run:
 *  - never over-admit: for any two admissions, those between them ≤ burst + rate × seconds, and
 *    in all ≤ the daily quota, resets included;
 *  - after every reset, the restored count never exceeds what was admitted, misses at most the
 *    last write's allowance, and with what it holds back covers everything admitted;
 *  - a reset after the key went quiet holds nothing back and misses nothing.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fullBucket, utcDay } from "../../src/limiter/bucket";
import { WRITE_BEHIND_MS } from "../../src/limiter/key-limiter";
import { refillLedger, reservedOn, type Ledger } from "../../src/limiter/lease-ledger";
import { admitAhead, allowanceAt, freshWriteAhead, MAX_ALLOWANCE, SLOT_MS, spendAllowance, type Allowance, type WriteAhead } from "../../src/limiter/write-ahead";
import type { Limits } from "../../src/policy/limits";

const T0 = Date.UTC(2026, 11, 7, 10, 0, 0);
const DAY = utcDay(T0);
/** Long enough after the last admission for the follow-up writes to have run. */
const QUIET_MS = WRITE_BEHIND_MS + 4 * SLOT_MS;

interface Written {
  ledger: Ledger;
  requests: number;
  allowance: Allowance;
}

/** KeyLimiter's ledger, day count and writes, as decide / counted / persist / the constructor use them. */
class SimObject {
  ledger: Ledger;
  requests = 0;
  ahead: WriteAhead = freshWriteAhead();
  written: Written | null = null;
  due: number | null = null;

  constructor(readonly limits: Limits) {
    this.ledger = { bucket: fullBucket(limits, T0), leases: {} };
  }

  admit(now: number): boolean {
    refillLedger(this.ledger, this.limits, now);
    if (this.requests + reservedOn(this.ledger, DAY) >= this.limits.daily || this.ledger.bucket.tokens < 1) return false;
    this.ledger.bucket = { ...this.ledger.bucket, tokens: this.ledger.bucket.tokens - 1 };
    this.requests++;
    this.writeWithin(now, WRITE_BEHIND_MS);
    if (admitAhead(this.ahead, now)) this.write(now);
    return true;
  }

  /** Runs the write that is due by `now`, if any, at its time. */
  runDue(now: number): void {
    while (this.due !== null && this.due <= now) this.write(this.due);
  }

  reset(now: number): void {
    const written = this.written;
    this.ledger = written === null ? { bucket: fullBucket(this.limits, T0), leases: {} } : structuredClone(written.ledger);
    this.requests = written?.requests ?? 0;
    this.ahead = freshWriteAhead();
    this.due = null;
    if (written !== null && written.allowance.tokens > 0) {
      spendAllowance(this.ledger, written.allowance, this.limits, now);
      this.write(now);
    }
  }

  private write(now: number): void {
    const dayRoom = this.limits.daily - this.requests - reservedOn(this.ledger, DAY);
    const tokens = allowanceAt(this.ahead, now, this.limits, dayRoom);
    this.written = { ledger: structuredClone(this.ledger), requests: this.requests, allowance: { tokens, day: DAY } };
    this.due = null;
    if (tokens > 0) this.writeWithin(now, 2 * SLOT_MS);
  }

  private writeWithin(now: number, ms: number): void {
    if (this.due === null || this.due > now + ms) this.due = now + ms;
  }
}

type Step = { kind: "arrive"; after: number; count: number } | { kind: "reset"; after: number };

const steps = fc.array(
  fc.oneof(
    { weight: 10, arbitrary: fc.record({ kind: fc.constant("arrive" as const), after: fc.integer({ min: 0, max: 150 }), count: fc.constant(1) }) },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant("arrive" as const), after: fc.integer({ min: 0, max: 150 }), count: fc.integer({ min: 2, max: 80 }) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant("reset" as const), after: fc.integer({ min: 0, max: 700 }) }) },
  ),
  { size: "max", maxLength: 200 },
);
const limitsArb = fc.record({ rate: fc.integer({ min: 1, max: 200 }), burst: fc.integer({ min: 1, max: 150 }), daily: fc.integer({ min: 1, max: 2_000 }) });

/** The largest excess of any window of admissions over burst + rate × its seconds (≤ 0: none). */
function worstWindow(times: readonly number[], { rate, burst }: Limits): number {
  // Admissions i..j number j − i + 1; with f(k) = k − rate·t_k, the excess is f(j) − f(i) + 1 − burst.
  let lowest = Infinity;
  let worst = -Infinity;
  times.forEach((at, k) => {
    const f = k - (rate * (at - T0)) / 1000;
    lowest = Math.min(lowest, f);
    worst = Math.max(worst, f - lowest + 1 - burst);
  });
  return worst;
}

describe("write-ahead: an object reset between its writes", () => {
  it("never admits over the limits, and a restored count misses at most the allowance", () => {
    fc.assert(
      fc.property(limitsArb, steps, (limits, plan: Step[]) => {
        const object = new SimObject(limits);
        const admittedAt: number[] = [];
        let now = T0;
        let lastAdmission = -Infinity;
        let missed = 0; // by earlier resets
        for (const step of plan) {
          now += step.after;
          object.runDue(now);
          if (step.kind === "arrive") {
            for (let i = 0; i < step.count; i++) {
              if (object.admit(now)) {
                admittedAt.push(now);
                lastAdmission = now;
              }
            }
            continue;
          }
          const allowance = object.written?.allowance.tokens ?? 0;
          const quiet = now - lastAdmission >= QUIET_MS;
          const heldBefore = reservedOn(object.ledger, DAY); // by earlier resets
          object.reset(now);
          const admitted = admittedAt.length;
          expect(object.requests, "a restored count never exceeds what was admitted").toBeLessThanOrEqual(admitted);
          const missedNow = admitted - object.requests - missed;
          expect(missedNow, "it misses at most the last write's allowance").toBeLessThanOrEqual(allowance);
          expect(missedNow).toBeGreaterThanOrEqual(0);
          missed += missedNow;
          expect(object.requests + reservedOn(object.ledger, DAY), "with what it holds back, it covers every admission").toBeGreaterThanOrEqual(admitted);
          if (quiet) {
            expect(missedNow, "quiet: nothing missed").toBe(0);
            expect(reservedOn(object.ledger, DAY), "quiet: nothing more held back").toBe(heldBefore);
          }
        }
        expect(admittedAt.length, "the daily quota").toBeLessThanOrEqual(limits.daily);
        expect(worstWindow(admittedAt, limits), "a window admitted more than burst + rate × seconds").toBeLessThanOrEqual(1e-6);
      }),
      { numRuns: 300 },
    );
  });

  it("sizes the allowance to the key's pace: none for a slow key, twice the busier slot for a fast one, within its limits", () => {
    const limits: Limits = { rate: 1_000, burst: 10_000, daily: 10_000_000 };
    const slow = freshWriteAhead();
    expect(admitAhead(slow, T0), "a first admission waits for its write").toBe(true);
    expect(allowanceAt(slow, T0, limits, 1e9)).toBe(0);
    expect(admitAhead(slow, T0 + SLOT_MS), "one per slot: written each time").toBe(true);
    expect(allowanceAt(slow, T0 + SLOT_MS, limits, 1e9)).toBe(0);

    const fast = freshWriteAhead();
    for (let i = 0; i < 30; i++) admitAhead(fast, T0 + i);
    expect(allowanceAt(fast, T0 + 30, limits, 1e9)).toBe(60);
    expect(allowanceAt(fast, T0 + SLOT_MS + 30, limits, 1e9), "the slot before still counts").toBe(60);
    expect(allowanceAt(fast, T0 + 2 * SLOT_MS + 30, limits, 1e9), "quiet for two slots: none").toBe(0);

    const many = freshWriteAhead();
    for (let i = 0; i < 500; i++) admitAhead(many, T0);
    expect(allowanceAt(many, T0, limits, 1e9)).toBe(MAX_ALLOWANCE);
    expect(allowanceAt(many, T0, { ...limits, burst: 7 }, 1e9), "never past the burst").toBe(7);
    expect(allowanceAt(many, T0, limits, 3.5), "never past the day's room").toBe(3);
    expect(allowanceAt(many, T0, limits, -2)).toBe(0);
  });

  it("a restored ledger takes the allowance as spent: from the bucket as it stands now, and from today's quota only", () => {
    const limits: Limits = { rate: 10, burst: 20, daily: 1_000 };
    // Written at T0 with 5 tokens; a second later a full bucket would hold 15 — it holds at most 20.
    const ledger: Ledger = { bucket: { tokens: 5, at: T0 }, leases: {} };
    spendAllowance(ledger, { tokens: 8, day: DAY }, limits, T0 + 1_000);
    expect(ledger.bucket).toEqual({ tokens: 7, at: T0 + 1_000 });
    expect(reservedOn(ledger, DAY)).toBe(8);
    // Refilled past the burst, the bucket is full before the allowance comes off.
    spendAllowance(ledger, { tokens: 4, day: "2026-12-06" }, limits, T0 + 60_000);
    expect(ledger.bucket).toEqual({ tokens: 16, at: T0 + 60_000 });
    expect(reservedOn(ledger, DAY), "yesterday's allowance holds nothing of today's quota back").toBe(8);
    spendAllowance(ledger, undefined, limits, T0 + 61_000);
    expect(ledger.bucket.tokens).toBe(16);
  });
});
