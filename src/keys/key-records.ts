/**
 * Projects and keys as records: D1 is the record of truth, KV indexes the immutable facts by
 * hash, and each key's KeyLimiter object holds its live policy. Every change goes to all the
 * places that need it, in an order that fails safe:
 *  - create: D1 row, then KV index, then the object's policy (an object without one reads D1);
 *  - revoke: the object first (refusing from the next request on), then D1.
 */
import type { Env } from "../env";
import type { KeyPolicy } from "../policy/authorize";
import type { Scope } from "../policy/routes";
import { generateKey, keyPrefix, randomBase62, type KeyEnvironment, type KeyType } from "./format";
import { hashKey, indexKey } from "./key-index";
import { keyLimiter } from "../limiter/key-limiter";
import { effectiveLimits, NO_OVERRIDES, type LimitOverrides } from "../limiter/limits";
import type { Limits } from "../limiter/bucket";

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
  status: "active" | "revoked";
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
  last_used_at: string | null;
  /** The limits in force: the type's defaults unless an operator overrode them. */
  limits: Limits;
  limit_overrides: LimitOverrides;
}

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
}

const KEY_COLUMNS =
  "id, project_id, type, environment, label, scopes, allowed_origins, prefix, last4, status, created_at, expires_at, revoked_at, last_used_at, rate_limit, burst_limit, daily_quota";

const now = () => new Date().toISOString();
const parseList = <T>(json: string | null): T[] | null => (json === null ? null : (JSON.parse(json) as T[]));

function toRecord({ rate_limit, burst_limit, daily_quota, ...row }: KeyRow): KeyRecord {
  const overrides: LimitOverrides = { rate: rate_limit, burst: burst_limit, daily: daily_quota };
  return {
    ...row,
    scopes: parseList<Scope>(row.scopes),
    allowed_origins: parseList<string>(row.allowed_origins),
    display: `${row.prefix}…${row.last4}`,
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
    status: record.status,
    scopes: record.scopes,
    expiresAt: record.expires_at === null ? null : Date.parse(record.expires_at),
    allowedOrigins: record.allowed_origins,
    limits: record.limit_overrides,
  };
}

export async function createProject(db: D1Database, name: string): Promise<Project> {
  const project = { id: "proj_" + randomBase62(20), name, created_at: now() };
  await db.prepare("INSERT INTO projects (id, name, created_at) VALUES (?1, ?2, ?3)")
    .bind(project.id, project.name, project.created_at)
    .run();
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
export async function createKey(env: Env, input: NewKey): Promise<{ record: KeyRecord; key: string }> {
  const key = generateKey(input.type, input.environment);
  const hash = await hashKey(env.KEY_HASH_SECRET, key);
  const record: KeyRecord = {
    id: "key_" + randomBase62(20),
    project_id: input.projectId,
    type: input.type,
    environment: input.environment,
    label: input.label,
    scopes: input.type === "secret" ? input.scopes : null,
    allowed_origins: input.type === "public" ? input.allowedOrigins : null,
    prefix: keyPrefix(key),
    last4: key.slice(-4),
    display: "",
    status: "active",
    created_at: now(),
    expires_at: input.expiresAt,
    revoked_at: null,
    last_used_at: null,
    limits: effectiveLimits(input.type, NO_OVERRIDES),
    limit_overrides: NO_OVERRIDES,
  };
  record.display = `${record.prefix}…${record.last4}`;
  await env.DB.prepare(
    `INSERT INTO api_keys (id, project_id, key_hash, type, environment, label, scopes, allowed_origins, prefix, last4, status, created_at, expires_at)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'active', ?11, ?12)`,
  )
    .bind(
      record.id,
      record.project_id,
      hash,
      record.type,
      record.environment,
      record.label,
      record.scopes === null ? null : JSON.stringify(record.scopes),
      record.allowed_origins === null ? null : JSON.stringify(record.allowed_origins),
      record.prefix,
      record.last4,
      record.created_at,
      record.expires_at,
    )
    .run();
  await indexKey(env, hash, {
    keyId: record.id,
    projectId: record.project_id,
    type: record.type,
    environment: record.environment,
  });
  await keyLimiter(env, record.id).setPolicy(policyOf(record));
  return { record, key };
}

export async function getKey(db: D1Database, id: string): Promise<KeyRecord | null> {
  const row = await db.prepare(`SELECT ${KEY_COLUMNS} FROM api_keys WHERE id = ?1`).bind(id).first<KeyRow>();
  return row === null ? null : toRecord(row);
}

export async function listKeys(db: D1Database, projectId: string): Promise<KeyRecord[]> {
  const { results } = await db
    .prepare(`SELECT ${KEY_COLUMNS} FROM api_keys WHERE project_id = ?1 ORDER BY created_at, id`)
    .bind(projectId)
    .all<KeyRow>();
  return results.map(toRecord);
}

/** Revokes at once and for good; revoking a revoked key changes nothing (idempotent). */
export async function revokeKey(env: Env, id: string): Promise<KeyRecord | null> {
  const record = await getKey(env.DB, id);
  if (record === null) return null;
  const revoked: KeyRecord = { ...record, status: "revoked", revoked_at: record.revoked_at ?? now() };
  await keyLimiter(env, id).setPolicy(policyOf(revoked));
  if (record.status !== "revoked") {
    await env.DB.prepare("UPDATE api_keys SET status = 'revoked', revoked_at = ?2 WHERE id = ?1")
      .bind(id, revoked.revoked_at)
      .run();
  }
  return revoked;
}

export interface KeyChanges {
  label?: string;
  scopes?: Scope[] | null;
  allowedOrigins?: string[] | null;
}

/** Changes label, scopes or allowed origins; the key's limiter enforces them from the next request. */
export async function updateKey(env: Env, id: string, changes: KeyChanges): Promise<KeyRecord | null> {
  const record = await getKey(env.DB, id);
  if (record === null) return null;
  const updated: KeyRecord = {
    ...record,
    label: changes.label ?? record.label,
    scopes: changes.scopes !== undefined ? changes.scopes : record.scopes,
    allowed_origins: changes.allowedOrigins !== undefined ? changes.allowedOrigins : record.allowed_origins,
  };
  await env.DB.prepare("UPDATE api_keys SET label = ?2, scopes = ?3, allowed_origins = ?4 WHERE id = ?1")
    .bind(
      id,
      updated.label,
      updated.scopes === null ? null : JSON.stringify(updated.scopes),
      updated.allowed_origins === null ? null : JSON.stringify(updated.allowed_origins),
    )
    .run();
  await keyLimiter(env, id).setPolicy(policyOf(updated));
  return updated;
}

/** Overrides a key's limits (null restores the type's default); in force on the next request. */
export async function setKeyLimits(env: Env, id: string, overrides: LimitOverrides): Promise<KeyRecord | null> {
  const record = await getKey(env.DB, id);
  if (record === null) return null;
  await env.DB.prepare("UPDATE api_keys SET rate_limit = ?2, burst_limit = ?3, daily_quota = ?4 WHERE id = ?1")
    .bind(id, overrides.rate, overrides.burst, overrides.daily)
    .run();
  const updated: KeyRecord = { ...record, limits: effectiveLimits(record.type, overrides), limit_overrides: overrides };
  await keyLimiter(env, id).setPolicy(policyOf(updated));
  return updated;
}

/** The policy a KeyLimiter object starts from when it has none of its own yet. */
export async function loadPolicy(db: D1Database, keyId: string): Promise<KeyPolicy | null> {
  const record = await getKey(db, keyId);
  return record === null ? null : policyOf(record);
}
