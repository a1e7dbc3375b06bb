/**
 * "Monitor for unusual API activity" (AUTH-DOCS): a key whose traffic or refusals today are far
 * above its own recent days. Pure; the key list and the key's page show the flag.
 *
 * Today is compared as it stands (a partial day) with the mean of the key's previous days: that
 * can only under-flag early in the day, never flag a normal day. A floor keeps a quiet key's
 * ten requests from counting as "three times its norm", and a key younger than MIN_HISTORY_DAYS
 * has no norm for its traffic yet (its refusals still count: a new key refused by the dozen is news).
 */
export interface DayTraffic {
  at: string;
  requests: number;
  rejected: number;
  denied: number;
}

export interface Unusual {
  traffic: boolean;
  refusals: boolean;
  /** One sentence saying what is unusual, against what. */
  reason: string;
}

export const FACTOR = 3;
export const TRAFFIC_FLOOR = 500;
export const REFUSAL_FLOOR = 25;
export const NORM_DAYS = 14;
export const MIN_HISTORY_DAYS = 3;

const count = (n: number) => n.toLocaleString("en-US");

/** `days`: oldest first, the last one today. `historyDays`: whole days the key existed before today. */
export function unusualActivity(days: readonly DayTraffic[], historyDays: number): Unusual | null {
  const today = days.at(-1);
  if (today === undefined) return null;
  const before = days.slice(0, -1).slice(-Math.min(NORM_DAYS, Math.max(0, historyDays)));
  const mean = (pick: (day: DayTraffic) => number) => (before.length === 0 ? 0 : before.reduce((sum, day) => sum + pick(day), 0) / before.length);
  const normTraffic = mean((day) => day.requests);
  const normRefused = mean((day) => day.rejected + day.denied);
  const refusedToday = today.rejected + today.denied;
  const traffic = historyDays >= MIN_HISTORY_DAYS && today.requests >= Math.max(TRAFFIC_FLOOR, FACTOR * normTraffic);
  const refusals = refusedToday >= Math.max(REFUSAL_FLOOR, FACTOR * normRefused);
  if (!traffic && !refusals) return null;
  const parts: string[] = [];
  if (traffic) parts.push(`${count(today.requests)} requests today against about ${count(Math.round(normTraffic))} a day`);
  if (refusals) parts.push(`${count(refusedToday)} refused today (429, 401 or 403) against about ${count(Math.round(normRefused))} a day`);
  return { traffic, refusals, reason: `${parts.join("; ")} over the last ${before.length} days.` };
}
