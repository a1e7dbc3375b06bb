/**
 * The key lifecycle — create, read, update, set limits, roll, revoke, usage — as the one module
 * that the management API, the operator API (and so the CLI) and the dashboard call. Routes
 * parse, check who the caller is and what it may see, and render; the rules of a change live
 * here and in the key's object.
 *
 * A change is an operation sent to the key's KeyLimiter object (keys/key-state.ts), never a whole
 * state built from an earlier read: the object applies it to the key as it is at that moment,
 * records the result in D1 and only then answers. `record` arguments below are for what never
 * changes (project, type, display) and for the answer's shape; no change is decided from them.
 *
 * No escalation: an actor with scopes (a key, not the operator) changes only keys that can do no
 * more than it can, and creates or grants nothing beyond that — judged by the object on the key
 * as it is now, not as the actor last read it. Nor does it bring into being a key that outlives
 * or out-limits it (its Ceiling): a key it creates expires no later and gets no higher limits, and
 * a key it rolls must have a replacement within the same bounds.
 */
import { configOf, type Env } from "./config";
import { GatewayError } from "./http/problem";
import { countOf, formatCount } from "./http/plural";
import { adoptKeyState, changeKey, type ChangeOutcome } from "./limiter/client";
import { NO_OVERRIDES, type LimitOverrides } from "./policy/limits";
import { keyPlanOf, type PlanLimits, type PlanName } from "./policy/plans";
import { effectiveScopes } from "./policy/authorize";
import type { Scope } from "./policy/routes";
import { auditStatement, type AuditEntry } from "./keys/audit";
import { generateKey, keyPrefix, randomBase62, type KeyEnvironment, type KeyType } from "./keys/format";
import { hashKey, indexKey, lookupKey } from "./keys/key-index";
import {
  getKey,
  getProject,
  insertKeyStatement,
  listKeys,
  loadKeyState,
  newRecord,
  projectOfResult,
  projectPlan,
  setPlanStatement,
  withState,
  type KeyIdentity,
  type KeyRecord,
  type Project,
} from "./keys/key-records";
import { beyondCeiling, limitsOf, overridesWithin, type Ceiling, type CeilingPart, type KeyOperation, type KeyState } from "./keys/key-state";

export { getKey as readKey, listKeys, getProject, listProjects, createProject, type KeyRecord, type Project } from "./keys/key-records";
export { PLAN_NAMES, PLANS, customLimits, planLimits, type PlanName, type PlanLimits } from "./policy/plans";
export { keyUsage, projectUsage, lastDays, type UsageDay, type KeyUsageDay } from "./limiter/usage";
export { trafficSeries, projectTrafficByKey, lastMinutes, type TrafficCount } from "./limiter/usage";
export { openHandoff, takeHandoff } from "./keys/handoffs";
export { listAudit, type AuditEntry, type AuditRecord } from "./keys/audit";
export { endSessions, sessionEpoch } from "./keys/session-epochs";

/** The record of a well-formed key as presented (null for a key no record has); see lookupKey for `beforeRecordLookup`. */
export async function keyOfPresented(
  env: Env,
  key: string,
  waitUntil: (promise: Promise<unknown>) => void,
  beforeRecordLookup?: () => void,
): Promise<KeyRecord | null> {
  const facts = await lookupKey(env, key, waitUntil, beforeRecordLookup);
  return facts === null ? null : getKey(env.DB, facts.keyId);
}

/** Who changes a key: the audit entry to write, and (for a key, not the operator) what it may do itself. */
export interface Actor {
  audit: AuditEntry;
  /** The actor's effective scopes; undefined for the operator, who may do anything. */
  scopes?: readonly string[];
  /** The acting key, whose expiry and limits bound the keys it creates or rolls; undefined for the operator. */
  keyId?: string;
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

export interface KeyChanges {
  label?: string;
  scopes?: Scope[] | null;
  allowedOrigins?: string[] | null;
}

/**
 * Mints a key. The plaintext is in the answer and nowhere else: only its hash is stored. Order:
 * the D1 row with its audit record (one batch), then the KV index, then the key's object.
 */
export async function createKey(env: Env, input: NewKey, actor: Actor): Promise<{ record: KeyRecord; key: string }> {
  requireWithin(actor, input);
  const ceiling = await ceilingOf(env, actor);
  const project = await getProject(env.DB, input.projectId);
  if (project === null) throw new GatewayError("not_found", "No project has this id.");
  const plan = keyPlanOf(projectPlan(project), input.type);
  // Limits cannot be asked for here: a new key gets the actor's where they are lower than its plan's defaults.
  const limits = ceiling === undefined ? NO_OVERRIDES : overridesWithin(plan, ceiling);
  const expiresAt = input.expiresAt === null ? null : Date.parse(input.expiresAt);
  if (ceiling !== undefined && beyondCeiling({ expiresAt, limits, plan }, ceiling).includes("expiry")) {
    throw outlives(ceiling, "create");
  }
  const { key, identity } = await mint(env, input.type, input.environment, null);
  const state: KeyState = {
    keyId: "key_" + randomBase62(20),
    projectId: input.projectId,
    type: input.type,
    environment: input.environment,
    version: 1,
    status: "active",
    revokedAt: null,
    label: input.label,
    scopes: input.type === "secret" ? input.scopes : null,
    allowedOrigins: input.type === "public" ? input.allowedOrigins : null,
    expiresAt,
    limits,
    plan,
    rolledTo: null,
  };
  const capped = limits === NO_OVERRIDES ? {} : { limits };
  const details = { ...actor.audit.details, type: state.type, environment: state.environment, label: state.label, scopes: state.scopes, ...capped };
  await env.DB.batch([
    insertKeyStatement(env.DB, state, identity),
    auditStatement(env.DB, state.projectId, state.keyId, { ...actor.audit, details }),
  ]);
  await publish(env, state, identity.hash);
  return { record: newRecord(await catchUpPlan(env, state), identity), key };
}

async function mint(env: Env, type: KeyType, environment: KeyEnvironment, rolledFrom: string | null): Promise<{ key: string; identity: KeyIdentity }> {
  const key = generateKey(type, environment);
  const identity = { hash: await hashKey(configOf(env).keyHashSecret, key), prefix: keyPrefix(key), last4: key.slice(-4), createdAt: new Date().toISOString(), rolledFrom };
  return { key, identity };
}

/**
 * After the D1 row: the KV index entry, then the state handed to the key's object. Both only
 * save time — a key missing from KV is found in D1 by its hash (and KV refilled), an object
 * without state reads it from D1 — so neither may fail a creation whose key the caller must get.
 */
async function publish(env: Env, state: KeyState, hash: string): Promise<void> {
  const facts = { keyId: state.keyId, projectId: state.projectId, type: state.type, environment: state.environment };
  const [indexed, adopted] = await Promise.allSettled([indexKey(env, hash, facts), adoptKeyState(env, state)]);
  for (const [step, result] of [["kv index", indexed], ["limiter state", adopted]] as const) {
    if (result.status === "rejected") {
      console.error(JSON.stringify({ level: "warn", msg: `new key: ${step} not written, D1 serves it`, key_id: state.keyId, error: String(result.reason) }));
    }
  }
}

/** Revokes at once and for good; revoking a revoked key re-asserts it everywhere and answers the same. */
export async function revokeKey(env: Env, record: KeyRecord, actor: Actor): Promise<KeyRecord> {
  return withState(record, await change(env, record, { kind: "revoke" }, actor));
}

/** Label, scopes or allowed origins; in force on the key's next request. */
export async function updateKey(env: Env, record: KeyRecord, changes: KeyChanges, actor: Actor): Promise<KeyRecord> {
  if (changes.scopes !== undefined) requireWithin(actor, { type: record.type, scopes: changes.scopes });
  const op: KeyOperation = { kind: "update", label: changes.label, scopes: changes.scopes, allowedOrigins: changes.allowedOrigins };
  return withState(record, await change(env, record, op, { ...actor, audit: { ...actor.audit, details: { ...changes } } }));
}

/** Overrides a key's limits (null restores the type's default, undefined keeps the current one). */
export async function setKeyLimits(env: Env, record: KeyRecord, limits: Partial<LimitOverrides>, actor: Actor): Promise<KeyRecord> {
  return withState(record, await change(env, record, { kind: "limits", limits }, actor));
}

/**
 * Rolls a key (Stripe's model): a new key with the old one's settings as they are at that moment
 * (type, environment, label, scopes, allowed origins, limits), and the old key expiring
 * `expiresInSeconds` from now — or earlier, if it was already expiring sooner. A key is rolled
 * once; the old key's change and the new key's row are one D1 batch.
 */
export async function rollKey(
  env: Env,
  old: KeyRecord,
  expiresInSeconds: number,
  actor: Actor,
): Promise<{ record: KeyRecord; key: string; old: KeyRecord }> {
  const ceiling = await ceilingOf(env, actor);
  const { key, identity } = await mint(env, old.type, old.environment, old.id);
  const to = "key_" + randomBase62(20);
  const outcome = await changeKey(env, {
    keyId: old.id,
    op: { kind: "roll", to, expiresAt: Date.now() + expiresInSeconds * 1000, ceiling },
    audit: actor.audit,
    within: actor.scopes,
    successor: identity,
  });
  if (!outcome.ok && outcome.refused === "beyond_ceiling") throw beyondOnRoll(ceiling!, outcome.beyond);
  const rolled = settled(outcome, "roll");
  const successor = (outcome as Extract<ChangeOutcome, { ok: true }>).successor!;
  await publish(env, successor, identity.hash);
  return { record: newRecord(await catchUpPlan(env, successor), identity), key, old: withState(old, rolled) };
}

/**
 * A key just brought into being (created, or a roll's replacement) took its project's plan as it
 * was read before the key's row existed. A plan change in between sent its operation to every
 * key D1 listed — perhaps before this one was there. So once the row is in D1, the project's plan
 * is read again, and a newer revision is sent to the key: either the plan change listed the key,
 * or this read comes after that change and sees it. The key ends on the latest plan either way.
 */
async function catchUpPlan(env: Env, state: KeyState): Promise<KeyState> {
  const project = await getProject(env.DB, state.projectId);
  if (project === null || project.plan_revision <= state.plan.revision) return state;
  const outcome = await changeKey(env, { keyId: state.keyId, op: { kind: "plan", plan: keyPlanOf(projectPlan(project), state.type) } });
  if (outcome.ok) return outcome.state;
  // The key exists and its plaintext must reach the caller: answered on the plan it has, which the
  // next plan call for the project brings up to date (keys behind the latest revision are sent it).
  console.error(JSON.stringify({ level: "warn", msg: "new key: plan not caught up", key_id: state.keyId, refused: outcome.refused }));
  return state;
}

/** How many keys a plan change sends its operation to at once. */
const PLAN_FAN_OUT = 8;

/**
 * Puts a project on a plan, and every key of it on the plan's defaults (keys with limits of their
 * own keep those). The project's row gets the next plan revision with its audit record (one D1
 * batch); then each key that is not revoked and not yet on that revision gets a `plan` operation,
 * applied by its object like any change: a key in use takes it on its next request, a busy key's
 * leased events within LEASE_MS. Setting the plan a project is on changes nothing and only brings
 * any key that missed the last change up to date, so a failed call is finished by sending it again.
 */
export async function setProjectPlan(
  env: Env,
  project: Project,
  plan: { name: PlanName; limits: PlanLimits },
  actor: Actor,
): Promise<{ project: Project; keys: { total: number; updated: number } }> {
  // Compared in D1, not with `project` as read earlier: another plan change may have come between.
  const [updated] = await env.DB.batch([
    setPlanStatement(env.DB, project.id, plan.name, plan.limits),
    auditStatement(env.DB, project.id, null, { ...actor.audit, details: { plan: plan.name, limits: plan.limits } }, { onlyAfterChange: true }),
  ]);
  const current = projectOfResult(updated!) ?? (await getProject(env.DB, project.id)) ?? project;
  const target = projectPlan(current);
  const keys = (await listKeys(env.DB, project.id)).filter((key) => key.status !== "revoked");
  const behind = keys.filter((key) => key.plan_revision < target.revision);
  let failed = 0;
  for (let start = 0; start < behind.length; start += PLAN_FAN_OUT) {
    await Promise.all(
      behind.slice(start, start + PLAN_FAN_OUT).map(async (key) => {
        try {
          const outcome = await changeKey(env, { keyId: key.id, op: { kind: "plan", plan: keyPlanOf(target, key.type) } });
          // Revoked since the list: it needs no plan.
          if (!outcome.ok && outcome.refused !== "revoked" && outcome.refused !== "not_found") failed++;
        } catch (error) {
          console.error(JSON.stringify({ level: "error", msg: "plan not sent to key", key_id: key.id, error: String(error) }));
          failed++;
        }
      }),
    );
  }
  if (failed > 0) {
    throw new GatewayError(
      "storage_unavailable",
      `The project is on the ${current.plan} plan now, but ${countOf(failed, "key")} of ${formatCount(behind.length)} did not take it yet (the change could not be recorded). Send the same call again to finish: keys that have the plan are left as they are.`,
      { headers: { "Retry-After": "2" } },
    );
  }
  return { project: current, keys: { total: keys.length, updated: behind.length } };
}

async function change(env: Env, record: KeyRecord, op: KeyOperation, actor: Actor): Promise<KeyState> {
  return settled(await changeKey(env, { keyId: record.id, op, audit: actor.audit, within: actor.scopes }), op.kind);
}

/** The state the object answered, or the refusal as the API answers it. */
function settled(outcome: ChangeOutcome, kind: KeyOperation["kind"]): KeyState {
  if (outcome.ok) return outcome.state;
  switch (outcome.refused) {
    case "not_found":
      throw new GatewayError("not_found", "No key has this id. List the project's keys to find it.");
    case "revoked":
      throw new GatewayError("conflict", kind === "roll" ? ROLL_REFUSALS.revoked : "This key is revoked and can no longer be changed. Create a new key instead.");
    case "expired":
      throw new GatewayError("conflict", ROLL_REFUSALS.expired);
    case "already_rolled":
      throw new GatewayError("conflict", ROLL_REFUSALS.already_rolled, { members: { rolled_to: outcome.rolledTo } });
    case "not_yours":
      throw notYours(outcome.missing);
    case "beyond_ceiling":
      throw new GatewayError("insufficient_permissions", "This key cannot bring a key into being that outlives it or has higher limits.");
    case "unrecorded":
      throw new GatewayError(
        "storage_unavailable",
        outcome.inForce
          ? "The key is revoked and refused from its next request on, but the record of it could not be written yet; it is written automatically. Retry to confirm."
          : "Nothing was changed: the key's record could not be written. Retry in a few seconds.",
        { headers: { "Retry-After": "2" } },
      );
  }
}

const ROLL_REFUSALS = {
  revoked: "This key is revoked and cannot be rolled. Create a new key instead.",
  expired: "This key has expired and cannot be rolled. Create a new key instead.",
  already_rolled: "This key was already rolled. Roll its replacement (rolled_to) instead.",
};

/** Refuses creating (or granting) a key that could do more than the actor. */
function requireWithin(actor: Actor, target: { type: KeyType; scopes: readonly Scope[] | null }): void {
  if (actor.scopes === undefined) return;
  const missing = effectiveScopes(target).filter((scope) => !actor.scopes!.includes(scope));
  if (missing.length > 0) throw notYours(missing);
}

/**
 * The acting key's own expiry and limits, as its record holds them (D1 records every version its
 * object decides before answering); undefined for the operator. A key without a record may not act.
 */
async function ceilingOf(env: Env, actor: Actor): Promise<Ceiling | undefined> {
  if (actor.keyId === undefined) return undefined;
  const own = await loadKeyState(env.DB, actor.keyId);
  if (own === null) throw new GatewayError("insufficient_permissions", "The key making this call has no record any more; use another key.");
  return { expiresAt: own.expiresAt, limits: limitsOf(own) };
}

const iso = (epochMs: number) => new Date(epochMs).toISOString();

function outlives(ceiling: Ceiling, action: "create"): GatewayError {
  const until = iso(ceiling.expiresAt!);
  return new GatewayError(
    "insufficient_permissions",
    `This key expires at ${until}, and a key it ${action}s may not outlive it: send expires_at at or before ${until}, or use a key that does not expire.`,
  );
}

function beyondOnRoll(ceiling: Ceiling, beyond: readonly CeilingPart[]): GatewayError {
  const reasons: string[] = [];
  if (beyond.includes("expiry")) reasons.push(`it would outlive this key, which expires at ${iso(ceiling.expiresAt!)} (a replacement does not expire)`);
  const limits = beyond.filter((part): part is Exclude<CeilingPart, "expiry"> => part !== "expiry");
  if (limits.length > 0) {
    reasons.push(`its limits would be higher than this key's (${limits.map((part) => `${part} ${ceiling.limits[part]}`).join(", ")})`);
  }
  return new GatewayError(
    "insufficient_permissions",
    `This key cannot roll that key: ${reasons.join("; and ")}. Roll it with a key that does not expire and has at least its limits.`,
  );
}

function notYours(missing: readonly string[]): GatewayError {
  return new GatewayError(
    "insufficient_permissions",
    `This key cannot manage a key that can do more than itself (it lacks ${missing.join(", ")}). Use an unrestricted secret key.`,
  );
}
