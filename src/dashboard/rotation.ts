/**
 * Where a rotation stands (AUTH-DOCS "Key Rotation": create new key → update applications →
 * verify → revoke old key), from the old key's record, its replacement and its recent traffic.
 * Pure. "Safe to revoke" means the old key's traffic has stopped: nothing admitted or refused
 * for it since the roll, or for the last QUIET_MINUTES — an application still sending it would
 * be cut off by the revoke (or, past its expiry, is already being refused).
 */
import type { KeyRecord, TrafficCount } from "../lifecycle";

export const QUIET_MINUTES = 15;

export interface Rotation {
  /** When the replacement was generated (its creation). */
  rolledAt: string;
  /** Milliseconds until the old key stops working (negative: since it stopped); null: revoked. */
  expiresInMs: number | null;
  /** Traffic of the old key since `from`: the minute after the roll within the last hour, else the day after it. */
  sinceRoll: { requests: number; refused: number; from: string };
  /** The old key's last admitted request. */
  lastUsedAt: string | null;
  state: "revoked" | "in_use" | "safe_to_revoke";
}

const MINUTE_MS = 60_000;
const minuteLabel = (at: number) => new Date(at).toISOString().slice(0, 16);

/**
 * `minutes`: the old key's last hour, minute by minute (oldest first). `days`: its last 30 days.
 * `replacement`: the key that replaces it (null if not visible: its rolled_at is then unknown).
 */
export function rotationOf(old: KeyRecord, replacement: KeyRecord, minutes: readonly TrafficCount[], days: readonly TrafficCount[], now = Date.now()): Rotation {
  const rolledAt = replacement.created_at;
  const rolledMs = Date.parse(rolledAt);
  const rollMinute = minuteLabel(rolledMs - (rolledMs % MINUTE_MS));
  // The roll's own minute also holds what came just before the roll: minutes count from the next
  // one, and the roll's minute is judged by the key's last use (exact to the millisecond).
  const withinHour = minutes.length > 0 && rollMinute >= minutes[0]!.at;
  const counted = withinHour ? minutes.filter((minute) => minute.at > rollMinute) : days.filter((day) => day.at > rolledAt.slice(0, 10));
  const sinceRoll = {
    requests: counted.reduce((sum, slot) => sum + slot.requests, 0),
    refused: counted.reduce((sum, slot) => sum + slot.rejected + slot.denied, 0),
    from: withinHour ? `${minuteLabel(rolledMs - (rolledMs % MINUTE_MS) + MINUTE_MS)}:00.000Z` : `${rolledAt.slice(0, 10)}T23:59:59.999Z`,
  };
  const quietFrom = minuteLabel(now - (now % MINUTE_MS) - (QUIET_MINUTES - 1) * MINUTE_MS);
  const recent = minutes.filter((minute) => minute.at >= quietFrom && minute.at > rollMinute).some((minute) => minute.requests + minute.rejected + minute.denied > 0);
  const usedSinceRoll = old.last_used_at !== null && old.last_used_at >= rolledAt;
  const usedLately = old.last_used_at !== null && Date.parse(old.last_used_at) > now - QUIET_MINUTES * MINUTE_MS;
  const state = old.status === "revoked" ? "revoked" : recent || (usedSinceRoll && usedLately) ? "in_use" : "safe_to_revoke";
  return {
    rolledAt,
    expiresInMs: old.status === "revoked" || old.expires_at === null ? null : Date.parse(old.expires_at) - now,
    sinceRoll,
    lastUsedAt: old.last_used_at,
    state,
  };
}

/** "3 h 12 min", "45 s": a countdown as a person reads it. */
export function duration(ms: number): string {
  const seconds = Math.max(0, Math.round(Math.abs(ms) / 1000));
  const days = Math.floor(seconds / 86_400);
  const hours = Math.floor((seconds % 86_400) / 3_600);
  const minutes = Math.floor((seconds % 3_600) / 60);
  if (days > 0) return `${days} d ${hours} h`;
  if (hours > 0) return `${hours} h ${minutes} min`;
  if (minutes > 0) return `${minutes} min`;
  return `${seconds} s`;
}
