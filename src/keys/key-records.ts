/**
 * Projects and keys as D1 records: reads, and the statements that write them. No policy lives
 * here: a key's mutable state is decided by its KeyLimiter object (the one writer, see
 * key-state.ts), which records each version it decides with `recordStateStatement` — an UPDATE
 * that only ever replaces an older version, so a late write never undoes a newer one.
 *
 * Stored shapes: migrations/*.sql. Only a keyed hash of a key is stored, never the key.
 */
import { effectiveLimits, type LimitOverrides } from "../policy/limits";
import type { Limits } from "../policy/limits";
import type { Scope } from "../policy/routes";
import { auditStatement, type AuditEntry } from "./audit";
import { randomBase62, type KeyEnvironment, type KeyType } from "./format";
import type { KeyState } from "./key-state";

export interface Project {
  id: string;
  name: string;
  created_at: string;
}

/** A key as shown to operators and users: never the plaintext, never the hash. */
export interface KeyRecord {
  id: string;
  project_id: string;
  type: KeyType;
  environment: KeyEnvironment;
  label: string;
  scopes: Scope[] | null;
  allowed_origins: string[] | null;
  prefix: string;
  last4: string;
  display: string;
  /** `expired` once expires_at has passed (a rolled key's old half, say). */
  status: "active" | "revoked" | "expired";
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
  last_used_at: string | null;
  /** Whole days since creation; keys older than ROTATION_DAYS are `rotation_due`. */
  age_days: number;
  rotation_due: boolean;
  /** The key this one was rolled into, and the key it replaced. */
  rolled_to: string | null;
  rolled_from: string | null;
  /** The limits in force: the type's defaults unless an operator overrode them. */
  limits: Limits;
  limit_overrides: LimitOverrides;
  /** The version of the key's state this record shows (key-state.ts). */
  version: number;
}

/** AUTH-DOCS: "Change your API keys every 90 days". */
export const ROTATION_DAYS = 90;

/** What identifies a new key besides its state: shown once (the plaintext is not stored). */
export interface KeyIdentity {
  hash: string;
  prefix: string;
  last4: string;
  createdAt: string;
  rolledFrom: string | null;
}

interface KeyRow {
  id: string;
  project_id: string;
  type: KeyType;
  environment: KeyEnvironment;
  label: string;
  scopes: string | null;
  allowed_origins: string | null;
  prefix: string;
  last4: string;
  status: "active" | "revoked";
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
  last_used_at: string | null;
  rate_limit: number | null;
  burst_limit: number | null;
  daily_quota: number | null;
  rolled_to: string | null;
  rolled_from: string | null;
  version: number;
}

const KEY_COLUMNS =
  "id, project_id, type, environment, label, scopes, allowed_origins, prefix, last4, status, created_at, expires_at, revoked_at, last_used_at, rate_limit, burst_limit, daily_quota, rolled_to, rolled_from, version";

const DAY_MS = 86_400_000;
const iso = (ms = Date.now()) => new Date(ms).toISOString();
const parseList = <T>(json: string | null): T[] | null => (json === null ? null : (JSON.parse(json) as T[]));
const listJson = (list: readonly string[] | null) => (list === null ? null : JSON.stringify(list));
const isoOrNull = (ms: number | null) => (ms === null ? null : iso(ms));

function toRecord({ rate_limit, burst_limit, daily_quota, ...row }: KeyRow, now = Date.now()): KeyRecord {
  const overrides: LimitOverrides = { rate: rate_limit, burst: burst_limit, daily: daily_quota };
  const expired = row.expires_at !== null && Date.parse(row.expires_at) <= now;
  const ageDays = Math.max(0, Math.floor((now - Date.parse(row.created_at)) / DAY_MS));
  return {
    ...row,
    status: row.status === "revoked" ? "revoked" : expired ? "expired" : "active",
    scopes: parseList<Scope>(row.scopes),
    allowed_origins: parseList<string>(row.allowed_origins),
    display: `${row.prefix}…${row.last4}`,
    age_days: ageDays,
    rotation_due: row.status !== "revoked" && !expired && ageDays >= ROTATION_DAYS,
    limits: effectiveLimits(row.type, overrides),
    limit_overrides: overrides,
  };
}

/** The key's state as this record shows it. */
export function stateOf(record: KeyRecord): KeyState {
  return {
    keyId: record.id,
    projectId: record.project_id,
    type: record.type,
    environment: record.environment,
    version: record.version,
    status: record.status === "revoked" ? "revoked" : "active",
    revokedAt: record.revoked_at,
    label: record.label,
    scopes: record.scopes,
    expiresAt: record.expires_at === null ? null : Date.parse(record.expires_at),
    allowedOrigins: record.allowed_origins,
    limits: record.limit_overrides,
    rolledTo: record.rolled_to,
  };
}

/** The record of a key in `state`: what never changes from `record`, the rest from the state. */
export function withState(record: KeyRecord, state: KeyState): KeyRecord {
  return toRecord({ ...rowOf(state), ...immutableOf(record) });
}

function immutableOf(record: KeyRecord) {
  const { prefix, last4, created_at, last_used_at, rolled_from } = record;
  return { prefix, last4, created_at, last_used_at, rolled_from };
}

/** The columns a key's state fills. */
function rowOf(state: KeyState): Omit<KeyRow, "prefix" | "last4" | "created_at" | "last_used_at" | "rolled_from"> {
  return {
    id: state.keyId,
    project_id: state.projectId,
    type: state.type,
    environment: state.environment,
    label: state.label,
    scopes: listJson(state.scopes),
    allowed_origins: listJson(state.allowedOrigins),
    status: state.status,
    expires_at: isoOrNull(state.expiresAt),
    revoked_at: state.revokedAt,
    rate_limit: state.limits.rate,
    burst_limit: state.limits.burst,
    daily_quota: state.limits.daily,
    rolled_to: state.rolledTo,
    version: state.version,
  };
}

/** The record of a key that is being created in `state` (not read back from D1). */
export function newRecord(state: KeyState, identity: KeyIdentity): KeyRecord {
  return toRecord({
    ...rowOf(state),
    prefix: identity.prefix,
    last4: identity.last4,
    created_at: identity.createdAt,
    last_used_at: null,
    rolled_from: identity.rolledFrom,
  });
}

export async function createProject(db: D1Database, name: string, audit: AuditEntry): Promise<Project> {
  const project = { id: "proj_" + randomBase62(20), name, created_at: iso() };
  await db.batch([
    db.prepare("INSERT INTO projects (id, name, created_at) VALUES (?1, ?2, ?3)").bind(project.id, project.name, project.created_at),
    auditStatement(db, project.id, null, { ...audit, details: { name } }),
  ]);
  return project;
}

export async function getProject(db: D1Database, id: string): Promise<Project | null> {
  return db.prepare("SELECT id, name, created_at FROM projects WHERE id = ?1").bind(id).first<Project>();
}

export async function listProjects(db: D1Database): Promise<Project[]> {
  const { results } = await db.prepare("SELECT id, name, created_at FROM projects ORDER BY created_at").all<Project>();
  return results;
}

export async function getKey(db: D1Database, id: string): Promise<KeyRecord | null> {
  const row = await db.prepare(`SELECT ${KEY_COLUMNS} FROM api_keys WHERE id = ?1`).bind(id).first<KeyRow>();
  return row === null ? null : toRecord(row);
}

export async function listKeys(db: D1Database, projectId: string, environment?: KeyEnvironment): Promise<KeyRecord[]> {
  const query =
    environment === undefined
      ? db.prepare(`SELECT ${KEY_COLUMNS} FROM api_keys WHERE project_id = ?1 ORDER BY created_at, id`).bind(projectId)
      : db
          .prepare(`SELECT ${KEY_COLUMNS} FROM api_keys WHERE project_id = ?1 AND environment = ?2 ORDER BY created_at, id`)
          .bind(projectId, environment);
  const { results } = await query.all<KeyRow>();
  const now = Date.now();
  return results.map((row) => toRecord(row, now));
}

/** The state D1 records for a key: what a KeyLimiter object with none of its own starts from. */
export async function loadKeyState(db: D1Database, keyId: string): Promise<KeyState | null> {
  const record = await getKey(db, keyId);
  return record === null ? null : stateOf(record);
}

/**
 * The INSERT of a new key in `state`. With `onlyAfterChange` (a roll), it inserts nothing unless
 * the statement before it in the batch — the old key's UPDATE — changed a row.
 */
export function insertKeyStatement(db: D1Database, state: KeyState, identity: KeyIdentity, { onlyAfterChange = false } = {}): D1PreparedStatement {
  const row = rowOf(state);
  return db
    .prepare(
      `INSERT INTO api_keys (id, project_id, key_hash, type, environment, label, scopes, allowed_origins, prefix, last4, status,
                             created_at, expires_at, rate_limit, burst_limit, daily_quota, rolled_from, version)
       SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18 ${onlyAfterChange ? "WHERE changes() = 1" : ""}`,
    )
    .bind(
      row.id,
      row.project_id,
      identity.hash,
      row.type,
      row.environment,
      row.label,
      row.scopes,
      row.allowed_origins,
      identity.prefix,
      identity.last4,
      row.status,
      identity.createdAt,
      row.expires_at,
      row.rate_limit,
      row.burst_limit,
      row.daily_quota,
      identity.rolledFrom,
      row.version,
    );
}

/**
 * The UPDATE that records `state`, only over an older version ("newer") — or, to re-assert a
 * state already recorded (a repeated revoke), over the same version too ("same"). It changes no
 * row when D1 already holds a newer version: the KeyLimiter then takes D1's up (key-limiter.ts).
 */
export function recordStateStatement(db: D1Database, state: KeyState, over: "newer" | "same"): D1PreparedStatement {
  const row = rowOf(state);
  return db
    .prepare(
      `UPDATE api_keys SET status = ?2, revoked_at = ?3, label = ?4, scopes = ?5, allowed_origins = ?6, expires_at = ?7,
                           rate_limit = ?8, burst_limit = ?9, daily_quota = ?10, rolled_to = ?11, version = ?12
       WHERE id = ?1 AND version ${over === "newer" ? "<" : "<="} ?12`,
    )
    .bind(
      row.id,
      row.status,
      row.revoked_at,
      row.label,
      row.scopes,
      row.allowed_origins,
      row.expires_at,
      row.rate_limit,
      row.burst_limit,
      row.daily_quota,
      row.rolled_to,
      row.version,
    );
}
