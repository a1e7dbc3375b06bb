/**
 * Requests this isolate let through unmetered — a fail-open route while the key's limiter could
 * not be reached — until the key's object has counted them (API.md §3: "counted when the limiter
 * returns"). Plain data, per key: a list of reports, each a number of requests of one UTC day
 * with an id. Requests join the newest report until it is first sent; from then on it is sealed
 * and is sent again as it is, with the same id, until the object acknowledges it. The object
 * remembers the ids it counted (key-limiter.ts), so a report that landed but whose answer was
 * lost is not counted twice, and one that failed is not lost.
 *
 * One sender per key at a time (`claimSender`): an outage's worth of requests is a handful of
 * calls when the object is back, not one per request.
 *
 * At most MAX_UNMETERED_KEYS keys are held: in an outage wide enough to fill it, a further key's
 * request is not taken, and its route fails closed (503) rather than go through uncounted or
 * grow the isolate's memory without bound.
 */
import { utcDay } from "./bucket";
import { onePerKey } from "./one-per-key";

export interface UnmeteredReport {
  id: string;
  requests: number;
  /** When the latest of its requests went through (epoch ms): the object counts them for that day. */
  at: number;
  day: string;
  /** Sent at least once: it no longer takes requests, and is sent again exactly as it was. */
  sealed: boolean;
}

export const MAX_UNMETERED_KEYS = 10_000;

const pending = new Map<string, UnmeteredReport[]>();
const sending = onePerKey();

/** One more request of the key goes through unmetered at `at`; false if there is no room to hold it (it must not go through). */
export function noteUnmetered(keyId: string, at: number): boolean {
  const held = pending.get(keyId);
  if (held === undefined && pending.size >= MAX_UNMETERED_KEYS) return false;
  const reports = held ?? [];
  const day = utcDay(at);
  const last = reports.at(-1);
  if (last !== undefined && !last.sealed && last.day === day) {
    last.requests++;
    last.at = Math.max(last.at, at);
  } else {
    reports.push({ id: crypto.randomUUID(), requests: 1, at, day, sealed: false });
  }
  pending.set(keyId, reports);
  return true;
}

/**
 * One request noted at `at` turned out to be counted by the key's object after all (its answer
 * came after the request stopped waiting): taken out again while its report is unsent. False
 * when it has been sent already; the object then counts it twice.
 */
export function withdrawUnmetered(keyId: string, at: number): boolean {
  const reports = pending.get(keyId);
  const report = reports?.findLast((candidate) => !candidate.sealed && candidate.day === utcDay(at));
  if (reports === undefined || report === undefined) return false;
  report.requests--;
  if (report.requests === 0) reports.splice(reports.indexOf(report), 1);
  if (reports.length === 0) pending.delete(keyId);
  return true;
}

/** The key's oldest report not yet acknowledged, sealed for sending (undefined: none). */
export function nextReport(keyId: string): UnmeteredReport | undefined {
  const report = pending.get(keyId)?.[0];
  if (report !== undefined) report.sealed = true;
  return report;
}

/** The object counted this report: it is done. */
export function reportCounted(keyId: string, report: UnmeteredReport): void {
  const reports = pending.get(keyId);
  if (reports?.[0] !== report) return;
  reports.shift();
  if (reports.length === 0) pending.delete(keyId);
}

/** Requests of the key not yet counted by its object. */
export function unmeteredRequests(keyId: string): number {
  return (pending.get(keyId) ?? []).reduce((sum, report) => sum + report.requests, 0);
}

/** True if the caller is now the key's one sender (and must call `senderDone`). */
export const claimSender = sending.claim;

export const senderDone = sending.release;
