/**
 * The last hour of a key's traffic, minute by minute, for the dashboard's charts. Pure: the
 * KeyLimiter object feeds it the day's running totals each time they change (`counted`), and
 * this takes the difference from the totals it saw last, so no admit, lease report or refusal
 * path needs a counting call of its own. A count lands in the minute the object counted it —
 * for lease reports and isolate refusals that is up to LEASE_MS (or a report's delay) after the
 * request, which is as close as a per-minute chart needs.
 *
 * The object flushes unflushed minutes to D1 `usage_minute` with its day totals, in the same
 * batch, as totals merged with max(): a repeated flush is harmless, as for the days.
 */

export interface MinuteCount {
  /** Admitted. */
  requests: number;
  /** Refused 429 by the key's rate limit or daily quota. */
  rejected: number;
  /** Refused 401/403 by the key's object: revoked, expired, missing permission, origin not allowed. */
  denied: number;
}

export interface MinuteTally {
  /** Today's totals as last seen; the next change is measured from them. */
  last: ({ day: string } & MinuteCount) | null;
  /** Counts by minute start (epoch ms, as a string key: it is stored as JSON). */
  minutes: Record<string, MinuteCount>;
  /** Minute starts whose latest counts D1 has not acknowledged. */
  unflushed: number[];
}

export const MINUTE_MS = 60_000;
/** Kept in the object: the chart's hour and the minute it started in. */
export const KEEP_MINUTES = 61;

export function emptyTally(): MinuteTally {
  return { last: null, minutes: {}, unflushed: [] };
}

export const minuteOf = (at: number) => at - (at % MINUTE_MS);

/** D1's minute column: `YYYY-MM-DDTHH:MM`, UTC, sortable as text. */
export const minuteLabel = (minuteStart: number) => new Date(minuteStart).toISOString().slice(0, 16);

/**
 * Takes the change from the last totals of `day` to `totals` into the current minute. Totals of
 * another day than today (a late report of yesterday's traffic) are not the last hour's.
 */
export function tallyTotals(tally: MinuteTally, day: string, today: string, totals: Partial<MinuteCount>, now: number): void {
  if (day !== today) return;
  // Called on every count in the object: one small object per change (the totals seen), and the
  // hour is pruned only when a new minute starts.
  const requests = totals.requests ?? 0;
  const rejected = totals.rejected ?? 0;
  const denied = totals.denied ?? 0;
  const last = tally.last !== null && tally.last.day === day ? tally.last : null;
  const addedRequests = requests - (last?.requests ?? 0);
  const addedRejected = rejected - (last?.rejected ?? 0);
  const addedDenied = denied - (last?.denied ?? 0);
  const unchanged = addedRequests === 0 && addedRejected === 0 && addedDenied === 0;
  if (unchanged && last !== null) return;
  tally.last = { day, requests, rejected, denied };
  if (unchanged) return;
  const minute = minuteOf(now);
  let count = tally.minutes[minute];
  if (count === undefined) {
    count = { requests: 0, rejected: 0, denied: 0 };
    tally.minutes[minute] = count;
    prune(tally, now);
  }
  // A total goes down only when an admission is given back (KeyLimiter.giveBack): it leaves this minute.
  count.requests = Math.max(0, count.requests + addedRequests);
  count.rejected = Math.max(0, count.rejected + addedRejected);
  count.denied = Math.max(0, count.denied + addedDenied);
  if (!tally.unflushed.includes(minute)) tally.unflushed.push(minute);
}

/** The unflushed minutes as D1 rows. */
export function minutesToFlush(tally: MinuteTally): ({ minute: number } & MinuteCount)[] {
  return tally.unflushed.flatMap((minute) => {
    const count = tally.minutes[minute];
    return count === undefined ? [] : [{ minute, ...count }];
  });
}

/** D1 acknowledged these rows: they are flushed unless counted on meanwhile. */
export function minutesFlushed(tally: MinuteTally, sent: readonly ({ minute: number } & MinuteCount)[]): void {
  for (const row of sent) {
    const now = tally.minutes[row.minute];
    if (now !== undefined && (now.requests !== row.requests || now.rejected !== row.rejected || now.denied !== row.denied)) continue;
    tally.unflushed = tally.unflushed.filter((minute) => minute !== row.minute);
  }
}

/** Forgets minutes older than the hour kept (an unflushed one too: the chart no longer shows it). */
function prune(tally: MinuteTally, now: number): void {
  const oldest = minuteOf(now) - (KEEP_MINUTES - 1) * MINUTE_MS;
  for (const key of Object.keys(tally.minutes)) if (Number(key) < oldest) delete tally.minutes[key];
  tally.unflushed = tally.unflushed.filter((minute) => minute >= oldest);
}
