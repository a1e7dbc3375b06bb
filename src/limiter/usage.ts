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
