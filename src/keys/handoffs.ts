/**
 * One-time handoffs (migrations/0007): a just-created key goes from the dashboard's POST to the
 * page that shows it in the browser's encrypted handoff cookie (dashboard/handoff.ts); this row
 * is what lets that cookie be opened once. Holds a random id, the session key's id and an expiry
 * — never the key, never a hash of it.
 */
import { randomBase62 } from "./format";

/** Records a handoff that the session of `sessionKeyId` may open once before `expiresAt` (epoch ms); also sweeps expired ones. */
export async function openHandoff(db: D1Database, sessionKeyId: string, expiresAt: number, now = Date.now()): Promise<string> {
  const id = "hnd_" + randomBase62(24);
  await db.batch([
    db.prepare("DELETE FROM dashboard_handoffs WHERE expires_at <= ?1").bind(now),
    db.prepare("INSERT INTO dashboard_handoffs (id, key_id, expires_at) VALUES (?1, ?2, ?3)").bind(id, sessionKeyId, expiresAt),
  ]);
  return id;
}

/** Opens a handoff: true once, for its own session and before its expiry; false ever after. */
export async function takeHandoff(db: D1Database, id: string, sessionKeyId: string, now = Date.now()): Promise<boolean> {
  const { meta } = await db.prepare("DELETE FROM dashboard_handoffs WHERE id = ?1 AND key_id = ?2 AND expires_at > ?3").bind(id, sessionKeyId, now).run();
  return meta.changes === 1;
}
