/**
 * Admissions ahead of the KeyLimiter's storage write. Pure: the object keeps a WriteAhead and
 * calls these; the write-ahead property test runs them against a simulated object that crashes.
 *
 * The object writes its bucket and counts behind the traffic (at most every WRITE_BEHIND_MS), so
 * an abrupt reset (a crash, a deploy) loses what it admitted since its last write, and the object
 * that takes its place would admit those requests again: from a bucket that forgot them, and from
 * a day's quota that never counted them. So every write also records an *allowance*: how many
 * requests the object may admit before its next write. A restored object takes the whole
 * allowance as spent — out of the bucket, and held back from the day's quota like the tokens of a
 * lease whose isolate died (lease-ledger.ts `unreported`) — and an admission past the allowance
 * waits for a write of its own (the output gate holds its answer until it is durable).
 *
 * The allowance follows the key's pace: none for a key slower than one request per
 * WRITE_BEHIND_MS (each of its admissions is written before it is answered, which costs no more
 * writes than the write-behind did), twice the busiest recent slot for a faster one (its
 * admissions ride on the write-behind, with a write of their own only when a burst outruns the
 * allowance). A write with an allowance is followed by another once the key is quiet, so an idle
 * object's allowance is none and a reset after it holds nothing back.
 *
 * Bound: a reset costs the key at most its allowance (≤ MAX_ALLOWANCE, ≤ burst) — tokens that
 * refill at the key's rate, and requests of that day's quota — and D1 may miss up to that many of
 * the day's requests (the ones admitted since the last write). It never admits one twice.
 */
import type { Limits } from "../policy/limits";
import { utcDay } from "./bucket";
import { holdBack, refillLedger, type Ledger } from "./lease-ledger";

/** As written with the object's counts: the allowance at that write, of the day it was written on. */
export interface Allowance {
  tokens: number;
  day: string;
}

/** The object's side, in memory. */
export interface WriteAhead {
  /** Admissions the last write allows before the next one. */
  left: number;
  /** Per-request admissions in the current pace slot (SLOT_MS long, aligned) and in the one before it. */
  slot: number;
  inSlot: number;
  inPreviousSlot: number;
}

/** Pace slots are the write-behind interval: a key faster than one admission per slot rides on the write-behind. */
export const SLOT_MS = 100;
export const MAX_ALLOWANCE = 100;

export function freshWriteAhead(): WriteAhead {
  return { left: 0, slot: 0, inSlot: 0, inPreviousSlot: 0 };
}

/** Moves the pace slots on to `now`'s. */
function rollTo(ahead: WriteAhead, now: number): void {
  const slot = Math.floor(now / SLOT_MS);
  if (slot === ahead.slot) return;
  ahead.inPreviousSlot = slot === ahead.slot + 1 ? ahead.inSlot : 0;
  ahead.inSlot = 0;
  ahead.slot = slot;
}

/**
 * Notes one per-request admission at `now`; answers whether it needs a write of its own before
 * it is answered (the last write did not allow it).
 */
export function admitAhead(ahead: WriteAhead, now: number): boolean {
  rollTo(ahead, now);
  ahead.inSlot++;
  if (ahead.left > 0) {
    ahead.left--;
    return false;
  }
  return true;
}

/**
 * The allowance to write now, and to admit from until the next write: twice the busier of the
 * two recent slots, none for a key that admitted at most one request in each; never more than
 * MAX_ALLOWANCE, the key's burst, or what is left of the day's quota (`dayRoom`).
 */
export function allowanceAt(ahead: WriteAhead, now: number, limits: Limits, dayRoom: number): number {
  rollTo(ahead, now);
  const busier = Math.max(ahead.inSlot, ahead.inPreviousSlot);
  const allowance = busier < 2 ? 0 : Math.max(0, Math.min(MAX_ALLOWANCE, limits.burst, Math.floor(dayRoom), 2 * busier));
  ahead.left = allowance;
  return allowance;
}

/**
 * A restored object's ledger with the allowance of its last write taken as spent: out of the
 * bucket as it stands now (refilled first: subtracted from the bucket of the last write, the
 * tokens a full bucket could not take in the meantime would be counted twice), and, for today's
 * allowance, held back from the day's quota until midnight. Answers whether there was any to spend.
 */
export function spendAllowance(ledger: Ledger, allowance: Allowance | undefined, limits: Limits, now: number): boolean {
  if (allowance === undefined || allowance.tokens <= 0) return false;
  refillLedger(ledger, limits, now);
  ledger.bucket = { ...ledger.bucket, tokens: ledger.bucket.tokens - allowance.tokens };
  if (allowance.day === utcDay(now)) holdBack(ledger, allowance.day, allowance.tokens);
  return true;
}
