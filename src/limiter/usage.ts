/**
 * Reading daily usage (D1 `usage_daily`, written by the KeyLimiter alarms — see key-limiter.ts).
 * Counts reach D1 within a flush interval (~5 s) of the traffic.
 */
import { DAY_MS, utcDay } from "./bucket";

export interface UsageDay {
  day: string;
  requests: number;
  rejected: number;
}

export interface KeyUsageDay extends UsageDay {
  key_id: string;
}

/** Every day from `from` to `to` (inclusive), zeros where nothing was counted. */
export async function keyUsage(db: D1Database, keyId: string, from: string, to: string): Promise<UsageDay[]> {
  const { results } = await db
    .prepare("SELECT day, requests, rejected FROM usage_daily WHERE key_id = ?1 AND day BETWEEN ?2 AND ?3")
    .bind(keyId, from, to)
    .all<UsageDay>();
  const counted = new Map(results.map((row) => [row.day, row]));
  return daysBetween(from, to).map((day) => counted.get(day) ?? { day, requests: 0, rejected: 0 });
}

/** The project's counted days per key, oldest first; `environment` limits it to that kind of key. */
export async function projectUsage(
  db: D1Database,
  projectId: string,
  from: string,
  to: string,
  environment: "test" | "live" | null,
): Promise<KeyUsageDay[]> {
  const { results } = await db
    .prepare(
      `SELECT u.key_id, u.day, u.requests, u.rejected FROM usage_daily u JOIN api_keys k ON k.id = u.key_id
       WHERE u.project_id = ?1 AND u.day BETWEEN ?2 AND ?3 AND (?4 IS NULL OR k.environment = ?4)
       ORDER BY u.day, u.key_id`,
    )
    .bind(projectId, from, to, environment)
    .all<KeyUsageDay>();
  return results;
}

export function daysBetween(from: string, to: string): string[] {
  const days: string[] = [];
  for (let at = Date.parse(from); at <= Date.parse(to); at += DAY_MS) days.push(utcDay(at));
  return days;
}

/** The `days` most recent UTC days, today included. */
export function lastDays(days: number, now = Date.now()): { from: string; to: string } {
  return { from: utcDay(now - (days - 1) * DAY_MS), to: utcDay(now) };
}

/** A day or a minute of traffic as the dashboard charts it: admitted, refused 429, refused 401/403. */
export interface TrafficCount {
  /** `YYYY-MM-DD` for a day, `YYYY-MM-DDTHH:MM` (UTC) for a minute. */
  at: string;
  requests: number;
  rejected: number;
  denied: number;
}

const TRAFFIC_COLUMNS = "SUM(requests) AS requests, SUM(rejected) AS rejected, SUM(denied) AS denied";

/**
 * Traffic per day (`unit` day, from `usage_daily`) or per minute (`usage_minute`), from `from` to
 * `to` inclusive, zeros filled in: of one key, or of every key of a project (and environment).
 */
export async function trafficSeries(
  db: D1Database,
  scope: { keyId: string } | { projectId: string; environment: "test" | "live" | null },
  unit: "day" | "minute",
  from: string,
  to: string,
): Promise<TrafficCount[]> {
  const [table, column] = unit === "day" ? ["usage_daily", "day"] : ["usage_minute", "minute"];
  const query =
    "keyId" in scope
      ? db
          .prepare(`SELECT ${column} AS at, ${TRAFFIC_COLUMNS} FROM ${table} WHERE key_id = ?1 AND ${column} BETWEEN ?2 AND ?3 GROUP BY ${column}`)
          .bind(scope.keyId, from, to)
      : db
          .prepare(
            `SELECT u.${column} AS at, SUM(u.requests) AS requests, SUM(u.rejected) AS rejected, SUM(u.denied) AS denied
             FROM ${table} u JOIN api_keys k ON k.id = u.key_id
             WHERE u.project_id = ?1 AND u.${column} BETWEEN ?2 AND ?3 AND (?4 IS NULL OR k.environment = ?4) GROUP BY u.${column}`,
          )
          .bind(scope.projectId, from, to, scope.environment);
  const { results } = await query.all<TrafficCount>();
  const counted = new Map(results.map((row) => [row.at, row]));
  const slots = unit === "day" ? daysBetween(from, to) : minutesBetween(from, to);
  return slots.map((at) => counted.get(at) ?? { at, requests: 0, rejected: 0, denied: 0 });
}

/** Per key, its days from `from` to `to` with 401/403 refusals too (only days that were counted). */
export async function projectTrafficByKey(
  db: D1Database,
  projectId: string,
  from: string,
  to: string,
  environment: "test" | "live" | null,
): Promise<(TrafficCount & { key_id: string })[]> {
  const { results } = await db
    .prepare(
      `SELECT u.key_id, u.day AS at, u.requests, u.rejected, u.denied FROM usage_daily u JOIN api_keys k ON k.id = u.key_id
       WHERE u.project_id = ?1 AND u.day BETWEEN ?2 AND ?3 AND (?4 IS NULL OR k.environment = ?4)`,
    )
    .bind(projectId, from, to, environment)
    .all<TrafficCount & { key_id: string }>();
  return results;
}

const MINUTE_MS = 60_000;

/** Every minute label (`YYYY-MM-DDTHH:MM`) from `from` to `to` inclusive. */
export function minutesBetween(from: string, to: string): string[] {
  const minutes: string[] = [];
  for (let at = Date.parse(`${from}Z`); at <= Date.parse(`${to}Z`); at += MINUTE_MS) minutes.push(new Date(at).toISOString().slice(0, 16));
  return minutes;
}

/** The last `minutes` minutes, the current one included, as minute labels. */
export function lastMinutes(minutes: number, now = Date.now()): { from: string; to: string } {
  const current = now - (now % MINUTE_MS);
  const label = (at: number) => new Date(at).toISOString().slice(0, 16);
  return { from: label(current - (minutes - 1) * MINUTE_MS), to: label(current) };
}
