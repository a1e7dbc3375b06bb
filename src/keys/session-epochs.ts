/**
 * The dashboard's session epoch per key (migrations/0005): sessions opened with a key carry its
 * epoch; signing out bumps it, which ends every session of that key, copied cookies included.
 * In D1, not KV: a sign-out must hold in every location on the next page, not a minute later.
 */

/** The key's current epoch; 0 until its first sign-out. */
export async function sessionEpoch(db: D1Database, keyId: string): Promise<number> {
  const row = await db.prepare("SELECT epoch FROM dashboard_session_epochs WHERE key_id = ?1").bind(keyId).first<{ epoch: number }>();
  return row?.epoch ?? 0;
}

/** Ends every dashboard session opened with this key so far. */
export async function endSessions(db: D1Database, keyId: string): Promise<void> {
  await db
    .prepare("INSERT INTO dashboard_session_epochs (key_id, epoch) VALUES (?1, 1) ON CONFLICT (key_id) DO UPDATE SET epoch = epoch + 1")
    .bind(keyId)
    .run();
}
