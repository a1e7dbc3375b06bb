/**
 * Projects and keys as records: D1 is the record of truth, KV indexes the immutable facts by
 * hash, and each key's KeyLimiter object holds its live policy. Every change goes to all the
 * places that need it, in an order that fails safe:
 *  - create: D1 row (with its audit record, one batch), then KV index, then the object's policy
 *    (an object without one reads D1 on first use);
 *  - revoke: the object first (refusing from the next request on), then D1;
 *  - update, limits, roll: D1 (one batch with the audit record), then the objects.
 */
import type { Env } from "../env";
import { auditStatement, type AuditEntry } from "../manage/audit";
import type { Limits } from "../limiter/bucket";
import { keyLimiter } from "../limiter/key-limiter";
import { effectiveLimits, NO_OVERRIDES, type LimitOverrides } from "../limiter/limits";
import { forgetRefusals } from "../limiter/refusal-memory";
import type { KeyPolicy } from "../policy/authorize";
import type { Scope } from "../policy/routes";
import { generateKey, keyPrefix, randomBase62, type KeyEnvironment, type KeyType } from "./format";
import { hashKey, indexKey } from "./key-index";

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
}

/** AUTH-DOCS: "Change your API keys every 90 days". */
export const ROTATION_DAYS = 90;

export interface NewKey {
  projectId: string;
  type: KeyType;
  environment: KeyEnvironment;
  label: string;
  scopes: Scope[] | null;
  expiresAt: string | null;
  allowedOrigins: string[] | null;
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
}

const KEY_COLUMNS =
  "id, project_id, type, environment, label, scopes, allowed_origins, prefix, last4, status, created_at, expires_at, revoked_at, last_used_at, rate_limit, burst_limit, daily_quota, rolled_to, rolled_from";

const DAY_MS = 86_400_000;
const iso = (ms = Date.now()) => new Date(ms).toISOString();
const parseList = <T>(json: string | null): T[] | null => (json === null ? null : (JSON.parse(json) as T[]));
const listJson = (list: readonly string[] | null) => (list === null ? null : JSON.stringify(list));

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

export function policyOf(record: KeyRecord): KeyPolicy {
  return {
    keyId: record.id,
    projectId: record.project_id,
    type: record.type,
    environment: record.environment,
    status: record.status === "revoked" ? "revoked" : "active",
    scopes: record.scopes,
    expiresAt: record.expires_at === null ? null : Date.parse(record.expires_at),
    allowedOrigins: record.allowed_origins,
    limits: record.limit_overrides,
  };
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

/** Mints a key. The plaintext is in the answer and nowhere else: only its hash is stored. */
export async function createKey(env: Env, input: NewKey, audit: AuditEntry): Promise<{ record: KeyRecord; key: string }> {
  const minted = await mint(env, input, NO_OVERRIDES, null);
  await env.DB.batch([insertKey(env.DB, minted), auditStatement(env.DB, input.projectId, minted.row.id, createdDetails(audit, minted.row))]);
  return publish(env, minted);
}

interface Minted {
  row: KeyRow;
  key: string;
  hash: string;
}

async function mint(env: Env, input: NewKey, overrides: LimitOverrides, rolledFrom: string | null): Promise<Minted> {
  const key = generateKey(input.type, input.environment);
  const row: KeyRow = {
    id: "key_" + randomBase62(20),
    project_id: input.projectId,
    type: input.type,
    environment: input.environment,
    label: input.label,
    scopes: input.type === "secret" ? listJson(input.scopes) : null,
    allowed_origins: input.type === "public" ? listJson(input.allowedOrigins) : null,
    prefix: keyPrefix(key),
    last4: key.slice(-4),
    status: "active",
    created_at: iso(),
    expires_at: input.expiresAt,
    revoked_at: null,
    last_used_at: null,
    rate_limit: overrides.rate,
    burst_limit: overrides.burst,
    daily_quota: overrides.daily,
    rolled_to: null,
    rolled_from: rolledFrom,
  };
  return { row, key, hash: await hashKey(env.KEY_HASH_SECRET, key) };
}

/**
 * The INSERT of a minted key. For a roll it only inserts if the old key now points at this new
 * one — so of two concurrent rolls of one key, exactly one creates a key.
 */
function insertKey(db: D1Database, { row, hash }: Minted): D1PreparedStatement {
  const guard = row.rolled_from === null ? "" : "WHERE (SELECT rolled_to FROM api_keys WHERE id = ?16) = ?1";
  return db
    .prepare(
      `INSERT INTO api_keys (id, project_id, key_hash, type, environment, label, scopes, allowed_origins, prefix, last4, status,
                             created_at, expires_at, rate_limit, burst_limit, daily_quota, rolled_from)
       SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'active', ?11, ?12, ?13, ?14, ?15, ?16 ${guard}`,
    )
    .bind(
      row.id,
      row.project_id,
      hash,
      row.type,
      row.environment,
      row.label,
      row.scopes,
      row.allowed_origins,
      row.prefix,
      row.last4,
      row.created_at,
      row.expires_at,
      row.rate_limit,
      row.burst_limit,
      row.daily_quota,
      row.rolled_from,
    );
}

function createdDetails(audit: AuditEntry, row: KeyRow): AuditEntry {
  return {
    ...audit,
    details: { ...audit.details, type: row.type, environment: row.environment, label: row.label, scopes: parseList<string>(row.scopes) },
  };
}

/** After the D1 row: the KV index entry and the key's limiter policy. */
async function publish(env: Env, { row, key, hash }: Minted): Promise<{ record: KeyRecord; key: string }> {
  const record = toRecord(row);
  await indexKey(env, hash, { keyId: row.id, projectId: row.project_id, type: row.type, environment: row.environment });
  await publishPolicy(env, row.id, policyOf(record));
  return { record, key };
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

/** Revokes at once and for good; revoking a revoked key changes nothing (idempotent). */
export async function revokeKey(env: Env, record: KeyRecord, audit: AuditEntry): Promise<KeyRecord> {
  if (record.status === "revoked") return record;
  const revoked: KeyRecord = { ...record, status: "revoked", revoked_at: iso(), rotation_due: false };
  await publishPolicy(env, record.id, policyOf(revoked));
  await env.DB.batch([
    env.DB.prepare("UPDATE api_keys SET status = 'revoked', revoked_at = ?2 WHERE id = ?1").bind(record.id, revoked.revoked_at),
    auditStatement(env.DB, record.project_id, record.id, audit),
  ]);
  return revoked;
}

export interface KeyChanges {
  label?: string;
  scopes?: Scope[] | null;
  allowedOrigins?: string[] | null;
}

/** Changes label, scopes or allowed origins; the key's limiter enforces them from the next request. */
export async function updateKey(env: Env, record: KeyRecord, changes: KeyChanges, audit: AuditEntry): Promise<KeyRecord> {
  const updated: KeyRecord = {
    ...record,
    label: changes.label ?? record.label,
    scopes: changes.scopes !== undefined ? changes.scopes : record.scopes,
    allowed_origins: changes.allowedOrigins !== undefined ? changes.allowedOrigins : record.allowed_origins,
  };
  await env.DB.batch([
    env.DB.prepare("UPDATE api_keys SET label = ?2, scopes = ?3, allowed_origins = ?4 WHERE id = ?1").bind(
      record.id,
      updated.label,
      listJson(updated.scopes),
      listJson(updated.allowed_origins),
    ),
    auditStatement(env.DB, record.project_id, record.id, { ...audit, details: { ...changes } }),
  ]);
  await publishPolicy(env, record.id, policyOf(updated));
  return updated;
}

/** Overrides a key's limits (null restores the type's default); in force on the next request. */
export async function setKeyLimits(env: Env, record: KeyRecord, overrides: LimitOverrides, audit: AuditEntry): Promise<KeyRecord> {
  await env.DB.batch([
    env.DB.prepare("UPDATE api_keys SET rate_limit = ?2, burst_limit = ?3, daily_quota = ?4 WHERE id = ?1").bind(
      record.id,
      overrides.rate,
      overrides.burst,
      overrides.daily,
    ),
    auditStatement(env.DB, record.project_id, record.id, { ...audit, details: { limits: overrides } }),
  ]);
  const updated: KeyRecord = { ...record, limits: effectiveLimits(record.type, overrides), limit_overrides: overrides };
  await publishPolicy(env, record.id, policyOf(updated));
  return updated;
}

export type RollRefusal = "revoked" | "expired" | "already_rolled";

/**
 * Rolls a key (Stripe's model): a new key with the same type, environment, label, scopes,
 * allowed origins and limits, and the old key expiring `expiresInSeconds` from now — or earlier,
 * if it was already expiring sooner (a roll never extends a key's life). A key is rolled once:
 * the old row's `rolled_to` and the new row are written in one D1 batch.
 */
export async function rollKey(
  env: Env,
  old: KeyRecord,
  expiresInSeconds: number,
  audit: AuditEntry,
): Promise<{ record: KeyRecord; key: string; old: KeyRecord } | RollRefusal> {
  if (old.status === "revoked") return "revoked";
  if (old.status === "expired") return "expired";
  if (old.rolled_to !== null) return "already_rolled";
  const rollAt = Date.now() + expiresInSeconds * 1000;
  const expiresAt = old.expires_at !== null && Date.parse(old.expires_at) < rollAt ? old.expires_at : iso(rollAt);
  const input: NewKey = {
    projectId: old.project_id,
    type: old.type,
    environment: old.environment,
    label: old.label,
    scopes: old.scopes,
    expiresAt: null,
    allowedOrigins: old.allowed_origins,
  };
  const minted = await mint(env, input, old.limit_overrides, old.id);
  const [, inserted] = await env.DB.batch([
    env.DB.prepare("UPDATE api_keys SET expires_at = ?2, rolled_to = ?3 WHERE id = ?1 AND rolled_to IS NULL AND status = 'active'").bind(
      old.id,
      expiresAt,
      minted.row.id,
    ),
    insertKey(env.DB, minted),
    auditStatement(env.DB, old.project_id, old.id, { ...audit, details: { rolled_to: minted.row.id, old_expires_at: expiresAt } }, minted.row.id),
  ]);
  if (inserted!.meta.changes !== 1) return "already_rolled"; // a concurrent roll or revoke won
  const created = await publish(env, minted);
  const expiring = toRecord({ ...rowOf(old), expires_at: expiresAt, rolled_to: minted.row.id });
  await publishPolicy(env, old.id, policyOf(expiring));
  return { ...created, old: expiring };
}

/** The stored row of a record (for recomputing derived fields after a change). */
function rowOf(record: KeyRecord): KeyRow {
  return {
    id: record.id,
    project_id: record.project_id,
    type: record.type,
    environment: record.environment,
    label: record.label,
    scopes: listJson(record.scopes),
    allowed_origins: listJson(record.allowed_origins),
    prefix: record.prefix,
    last4: record.last4,
    status: record.status === "revoked" ? "revoked" : "active",
    created_at: record.created_at,
    expires_at: record.expires_at,
    revoked_at: record.revoked_at,
    last_used_at: record.last_used_at,
    rate_limit: record.limit_overrides.rate,
    burst_limit: record.limit_overrides.burst,
    daily_quota: record.limit_overrides.daily,
    rolled_to: record.rolled_to,
    rolled_from: record.rolled_from,
  };
}

/** The policy a KeyLimiter object starts from when it has none of its own yet. */
export async function loadPolicy(db: D1Database, keyId: string): Promise<KeyPolicy | null> {
  const record = await getKey(db, keyId);
  return record === null ? null : policyOf(record);
}

/**
 * Puts a key's new policy in force: in its KeyLimiter (every location, the very next request),
 * and in this isolate's memory of the key's 429s, which is dropped so that the next request here
 * asks the object (other isolates' memories end within their cap, see refusal-memory.ts).
 */
async function publishPolicy(env: Env, keyId: string, policy: KeyPolicy): Promise<void> {
  await keyLimiter(env, keyId).setPolicy(policy);
  forgetRefusals(keyId);
}
