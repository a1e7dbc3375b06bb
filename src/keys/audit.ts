/**
 * The audit log: one D1 row per management action, written in the same batch as the change it
 * records, so there is never a change without its record. Stored shape: see
 * migrations/0003_rolls_and_audit.sql. An actor is a key id or "operator" — never a key.
 */
import { randomBase62, type KeyEnvironment } from "./format";

export interface AuditEntry {
  /** `key_…` of the calling key, or "operator". */
  actor: string;
  action: "project.create" | "project.plan" | "key.create" | "key.update" | "key.limits" | "key.roll" | "key.revoke";
  ip: string | null;
  /** Changed fields; must never hold a key or a hash. */
  details?: Record<string, unknown>;
}

export interface AuditRecord {
  id: string;
  project_id: string;
  actor: string;
  action: string;
  target_id: string | null;
  ip: string | null;
  at: string;
  details: Record<string, unknown> | null;
}

/**
 * The INSERT of an audit record. With `onlyAfterChange`, it records nothing unless the statement
 * just before it in the same D1 batch changed a row (SQLite's `changes()`): a change that lost to
 * a newer version, or a roll whose new key was not inserted, leaves no record of itself.
 */
export function auditStatement(
  db: D1Database,
  projectId: string,
  targetId: string | null,
  entry: AuditEntry,
  { onlyAfterChange = false } = {},
): D1PreparedStatement {
  return db
    .prepare(
      `INSERT INTO audit_log (id, project_id, actor, action, target_id, ip, at, details)
       SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8 ${onlyAfterChange ? "WHERE changes() = 1" : ""}`,
    )
    .bind(
      "aud_" + randomBase62(20),
      projectId,
      entry.actor,
      entry.action,
      targetId,
      entry.ip,
      new Date().toISOString(),
      entry.details === undefined ? null : JSON.stringify(entry.details),
    );
}

/** Newest first; with `environment`, only actions on keys of that environment (what a test key may see). */
export async function listAudit(db: D1Database, projectId: string, limit: number, environment: KeyEnvironment | null = null): Promise<AuditRecord[]> {
  const { results } = await db
    .prepare(
      `SELECT a.id, a.project_id, a.actor, a.action, a.target_id, a.ip, a.at, a.details FROM audit_log a
       LEFT JOIN api_keys k ON k.id = a.target_id
       WHERE a.project_id = ?1 AND (?3 IS NULL OR k.environment = ?3) ORDER BY a.at DESC, a.id LIMIT ?2`,
    )
    .bind(projectId, limit, environment)
    .all<Omit<AuditRecord, "details"> & { details: string | null }>();
  return results.map((row) => ({ ...row, details: row.details === null ? null : (JSON.parse(row.details) as Record<string, unknown>) }));
}
