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
import { defaultKeyPlan, DEFAULT_PROJECT_PLAN, PLANS, type KeyPlan, type PlanLimits, type PlanName, type ProjectPlan } from "../policy/plans";
import type { Scope } from "../policy/routes";
import { auditStatement, type AuditEntry } from "./audit";
import { randomBase62, type KeyEnvironment, type KeyType } from "./format";
import type { KeyState } from "./key-state";

export interface Project {
  id: string;
  name: string;
  created_at: string;
  /** The plan that sets its keys' default limits (policy/plans.ts). */
  plan: PlanName;
  /** The plan's default limits per key type. */
  limits: PlanLimits;
  /** Grows by one with each plan change; a key's object takes a plan only from a newer revision. */
  plan_revision: number;
}

interface ProjectRow {
  id: string;
  name: string;
  created_at: string;
  plan: PlanName;
  plan_limits: string | null;
  plan_revision: number;
}

const PROJECT_COLUMNS = "id, name, created_at, plan, plan_limits, plan_revision";

function toProject({ plan_limits, ...row }: ProjectRow): Project {
  const limits = row.plan === "custom" ? (JSON.parse(plan_limits!) as PlanLimits) : PLANS[row.plan];
  return { ...row, limits };
}

/** The plan a project is on, as its keys take it. */
export function projectPlan(project: Project): ProjectPlan {
  return { name: project.plan, limits: project.limits, revision: project.plan_revision };
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
  /** The limits in force: the plan's defaults for the key's type, where an operator did not override them. */
  limits: Limits;
  limit_overrides: LimitOverrides;
  /** The project's plan as the key's object last took it (policy/plans.ts). */
  plan: PlanName;
  /** That plan's defaults for this key's type, and the plan revision they are from. */
  plan_limits: Limits;
  plan_revision: number;
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
  /** JSON KeyPlan; NULL for a key recorded before plans (the default plan, revision 0). */
  plan: string | null;
}

const KEY_COLUMNS =
  "id, project_id, type, environment, label, scopes, allowed_origins, prefix, last4, status, created_at, expires_at, revoked_at, last_used_at, rate_limit, burst_limit, daily_quota, rolled_to, rolled_from, version, plan";

const DAY_MS = 86_400_000;
const iso = (ms = Date.now()) => new Date(ms).toISOString();
const parseList = <T>(json: string | null): T[] | null => (json === null ? null : (JSON.parse(json) as T[]));
const listJson = (list: readonly string[] | null) => (list === null ? null : JSON.stringify(list));
const isoOrNull = (ms: number | null) => (ms === null ? null : iso(ms));

const planOfRow = (row: Pick<KeyRow, "plan" | "type">): KeyPlan => (row.plan === null ? defaultKeyPlan(row.type) : (JSON.parse(row.plan) as KeyPlan));

function toRecord({ rate_limit, burst_limit, daily_quota, plan: planJson, ...row }: KeyRow, now = Date.now()): KeyRecord {
  const overrides: LimitOverrides = { rate: rate_limit, burst: burst_limit, daily: daily_quota };
  const plan = planOfRow({ plan: planJson, type: row.type });
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
    limits: effectiveLimits(plan.limits, overrides),
    limit_overrides: overrides,
    plan: plan.name,
    plan_limits: plan.limits,
    plan_revision: plan.revision,
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
    plan: { name: record.plan, revision: record.plan_revision, limits: record.plan_limits },
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
    plan: JSON.stringify(state.plan),
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
  const { name: plan, limits, revision } = DEFAULT_PROJECT_PLAN;
  const project: Project = { id: "proj_" + randomBase62(20), name, created_at: iso(), plan, limits, plan_revision: revision };
  await db.batch([
    db.prepare("INSERT INTO projects (id, name, created_at) VALUES (?1, ?2, ?3)").bind(project.id, project.name, project.created_at),
    auditStatement(db, project.id, null, { ...audit, details: { name } }),
  ]);
  return project;
}

export async function getProject(db: D1Database, id: string): Promise<Project | null> {
  const row = await db.prepare(`SELECT ${PROJECT_COLUMNS} FROM projects WHERE id = ?1`).bind(id).first<ProjectRow>();
  return row === null ? null : toProject(row);
}

export async function listProjects(db: D1Database): Promise<Project[]> {
  const { results } = await db.prepare(`SELECT ${PROJECT_COLUMNS} FROM projects ORDER BY created_at`).all<ProjectRow>();
  return results.map(toProject);
}

/**
 * The statement that puts a project on a plan, as the next revision, RETURNING the project as it
 * is then — unless it is on that very plan already: then it changes and returns nothing. Named
 * plans store no limits: PLANS holds them. Batched with its audit record.
 */
export function setPlanStatement(db: D1Database, projectId: string, plan: PlanName, limits: PlanLimits): D1PreparedStatement {
  return db
    .prepare(
      `UPDATE projects SET plan = ?2, plan_limits = ?3, plan_revision = plan_revision + 1
       WHERE id = ?1 AND (plan IS NOT ?2 OR plan_limits IS NOT ?3) RETURNING ${PROJECT_COLUMNS}`,
    )
    .bind(projectId, plan, plan === "custom" ? JSON.stringify(limits) : null);
}

/** The project of a setPlanStatement's result (null: no such project, or no change). */
export function projectOfResult(result: D1Result): Project | null {
  const row = (result.results as ProjectRow[])[0];
  return row === undefined ? null : toProject(row);
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
                             created_at, expires_at, rate_limit, burst_limit, daily_quota, rolled_from, version, plan)
       SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19 ${onlyAfterChange ? "WHERE changes() = 1" : ""}`,
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
      row.plan,
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
                           rate_limit = ?8, burst_limit = ?9, daily_quota = ?10, rolled_to = ?11, version = ?12, plan = ?13
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
      row.plan,
    );
}
