/**
 * A key's mutable state and the operations that change it. Pure: the key's KeyLimiter object is
 * the one writer (DESIGN.md "One writer") and applies these, one at a time, in the order they
 * reach it; D1 records each version the object decides.
 *
 * Why operations and not whole states: a caller that read the key a moment ago and pushed back a
 * whole state built from that read would undo whatever happened in between — a revoke above all.
 * An operation names only what it changes and is applied to the state as it is at that moment.
 *
 * Revoked is terminal: every operation but revoke is refused on a revoked key, and revoke on a
 * revoked key changes nothing (the caller re-asserts it; see KeyLimiter.change).
 *
 * No escalation: a caller that is a key (not the operator) passes what it may do itself. `within`
 * (its scopes) bounds every key it touches; its Ceiling (its own expiry and limits) bounds every
 * key it brings into being, so that no key creates or rolls to one that outlives or out-limits it.
 */
import { effectiveScopes } from "../policy/authorize";
import type { Scope } from "../policy/routes";
import { effectiveLimits, type LimitOverrides, type Limits } from "../policy/limits";
import { defaultKeyPlan, type KeyPlan } from "../policy/plans";
import type { KeyEnvironment, KeyType } from "./format";

export interface KeyState {
  /** Facts that never change after creation. */
  keyId: string;
  projectId: string;
  type: KeyType;
  environment: KeyEnvironment;
  /** Starts at 1 with the D1 row; each applied operation adds one. */
  version: number;
  status: "active" | "revoked";
  /** ISO 8601, set once by the revoke. */
  revokedAt: string | null;
  label: string;
  /** Secret keys: null = unrestricted. Public keys: always null (their set is fixed). */
  scopes: Scope[] | null;
  /** Public keys: the browser origins allowed to use it, or null for any. */
  allowedOrigins: string[] | null;
  /** Epoch milliseconds, or null for a key that does not expire. */
  expiresAt: number | null;
  /** Operator overrides of the plan's default limits (null keeps the default). */
  limits: LimitOverrides;
  /**
   * The project's plan for this key's type, as of the plan revision this object last took: the
   * defaults that `limits` override. Changed only by a `plan` operation of a newer revision.
   */
  plan: KeyPlan;
  /** The key this one was rolled into (a key is rolled once). */
  rolledTo: string | null;
}

export type KeyOperation =
  | { kind: "revoke" }
  /** undefined leaves a field as it is; null clears scopes (unrestricted) or origins (any). */
  | { kind: "update"; label?: string; scopes?: Scope[] | null; allowedOrigins?: string[] | null }
  /** undefined leaves a limit as it is; null restores the type's default. */
  | { kind: "limits"; limits: Partial<LimitOverrides> }
  /** Brings the expiry forward; never later than the key already expires. */
  | { kind: "expire"; at: number }
  /**
   * Points the key at its replacement and lets it expire at `expiresAt` (or sooner, if it already
   * would). `ceiling`: the rolling key's, which the replacement may not exceed.
   */
  | { kind: "roll"; to: string; expiresAt: number; ceiling?: Ceiling }
  /**
   * The project's plan changed: its defaults for this key's type. Taken only over an older
   * revision, so plan changes arriving out of order leave the latest in force.
   */
  | { kind: "plan"; plan: KeyPlan };

/** The most a key that a key creates or rolls to may have: no later expiry, no higher limits. */
export interface Ceiling {
  /** Epoch milliseconds, or null for a key that does not expire. */
  expiresAt: number | null;
  limits: Limits;
}

/** What of a new key would exceed a ceiling. */
export type CeilingPart = "expiry" | keyof Limits;

/**
 * The parts of a new key (its expiry, its limits) above the ceiling; empty when it is within.
 * Judged on the limits in force now, plan included. A later plan change moves the plan's
 * defaults for every key of the project alike: that is the operator's decision, not a key's.
 */
export function beyondCeiling(key: Pick<KeyState, "expiresAt" | "limits" | "plan">, ceiling: Ceiling): CeilingPart[] {
  const beyond: CeilingPart[] = [];
  if (ceiling.expiresAt !== null && (key.expiresAt === null || key.expiresAt > ceiling.expiresAt)) beyond.push("expiry");
  const limits = limitsOf(key);
  for (const part of ["rate", "burst", "daily"] as const) if (limits[part] > ceiling.limits[part]) beyond.push(part);
  return beyond;
}

/** The limits in force for a key: its own overrides, its plan's defaults elsewhere. */
export function limitsOf(key: Pick<KeyState, "limits" | "plan">): Limits {
  return effectiveLimits(key.plan.limits, key.limits);
}

/** The overrides that keep a new key on `plan` within the ceiling's limits (its plan's defaults where they already are). */
export function overridesWithin(plan: KeyPlan, ceiling: Ceiling): LimitOverrides {
  const defaults = plan.limits;
  const capped = (part: keyof Limits) => (ceiling.limits[part] < defaults[part] ? ceiling.limits[part] : null);
  return { rate: capped("rate"), burst: capped("burst"), daily: capped("daily") };
}

export type OperationRefusal =
  | { refused: "revoked" }
  | { refused: "expired" }
  | { refused: "already_rolled"; rolledTo: string }
  | { refused: "not_yours"; missing: string[] }
  | { refused: "beyond_ceiling"; beyond: CeilingPart[] };

export type Applied = { ok: true; state: KeyState; changed: boolean } | ({ ok: false } & OperationRefusal);

/**
 * The state after `op`, or why it is refused. `within`, when given, is what the caller may do
 * itself (its effective scopes): a key that can do more than that is not the caller's to change,
 * judged on the key as it is now, not as the caller last read it.
 */
export function applyOperation(state: KeyState, op: KeyOperation, now: number, within?: readonly string[]): Applied {
  if (within !== undefined) {
    const missing = effectiveScopes(state).filter((scope) => !within.includes(scope));
    if (missing.length > 0) return { ok: false, refused: "not_yours", missing };
  }
  if (state.status === "revoked") {
    return op.kind === "revoke" ? { ok: true, state, changed: false } : { ok: false, refused: "revoked" };
  }
  const next = nextState(state, op, now);
  if ("refused" in next) return { ok: false, ...next };
  const changed = !sameState(next, state);
  return { ok: true, state: changed ? { ...next, version: state.version + 1 } : state, changed };
}

function nextState(state: KeyState, op: KeyOperation, now: number): KeyState | OperationRefusal {
  switch (op.kind) {
    case "revoke":
      return { ...state, status: "revoked", revokedAt: new Date(now).toISOString() };
    case "update":
      return {
        ...state,
        label: op.label ?? state.label,
        scopes: op.scopes !== undefined ? op.scopes : state.scopes,
        allowedOrigins: op.allowedOrigins !== undefined ? op.allowedOrigins : state.allowedOrigins,
      };
    case "limits":
      return {
        ...state,
        limits: {
          rate: op.limits.rate !== undefined ? op.limits.rate : state.limits.rate,
          burst: op.limits.burst !== undefined ? op.limits.burst : state.limits.burst,
          daily: op.limits.daily !== undefined ? op.limits.daily : state.limits.daily,
        },
      };
    case "expire":
      return { ...state, expiresAt: earlier(state.expiresAt, op.at) };
    case "roll":
      if (state.expiresAt !== null && state.expiresAt <= now) return { refused: "expired" };
      if (state.rolledTo !== null) return { refused: "already_rolled", rolledTo: state.rolledTo };
      if (op.ceiling !== undefined) {
        // The replacement has this key's settings as they are now, its expiry included (KeyLimiter's successorOf).
        const beyond = beyondCeiling(state, op.ceiling);
        if (beyond.length > 0) return { refused: "beyond_ceiling", beyond };
      }
      return { ...state, rolledTo: op.to, expiresAt: earlier(state.expiresAt, op.expiresAt) };
    case "plan":
      return op.plan.revision > state.plan.revision ? { ...state, plan: op.plan } : state;
  }
}

const earlier = (current: number | null, at: number) => (current === null ? at : Math.min(current, at));

/** The same key in the same state, whatever the version says. */
export function sameState(a: KeyState, b: KeyState): boolean {
  return (
    a.keyId === b.keyId &&
    a.projectId === b.projectId &&
    a.type === b.type &&
    a.environment === b.environment &&
    a.status === b.status &&
    a.revokedAt === b.revokedAt &&
    a.label === b.label &&
    sameList(a.scopes, b.scopes) &&
    sameList(a.allowedOrigins, b.allowedOrigins) &&
    a.expiresAt === b.expiresAt &&
    a.limits.rate === b.limits.rate &&
    a.limits.burst === b.limits.burst &&
    a.limits.daily === b.limits.daily &&
    a.plan.name === b.plan.name &&
    a.plan.revision === b.plan.revision &&
    a.plan.limits.rate === b.plan.limits.rate &&
    a.plan.limits.burst === b.plan.limits.burst &&
    a.plan.limits.daily === b.plan.limits.daily &&
    a.rolledTo === b.rolledTo
  );
}

/** A state as stored before plans existed has none: it is on the default plan, revision 0. */
export function withPlan(state: KeyState): KeyState {
  return state.plan === undefined ? { ...state, plan: defaultKeyPlan(state.type) } : state;
}

function sameList(a: readonly string[] | null, b: readonly string[] | null): boolean {
  if (a === null || b === null) return a === b;
  return a.length === b.length && a.every((item, i) => item === b[i]);
}

