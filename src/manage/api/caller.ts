/**
 * Who may manage which key through /v1/api_keys. The route table already required a secret key
 * with projects:read or projects:write; on top of that:
 *  - only keys of the caller's own project exist for it (others are 404, indistinguishable from
 *    ids that do not exist);
 *  - a `test` key sees and manages only `test` keys;
 *  - no escalation: the key lifecycle (lifecycle.ts) lets a key create, change, roll or revoke
 *    only keys that can do no more than it can itself, given as the actor's scopes here, and
 *    create or roll to none that outlives or out-limits it (the acting key's id, below).
 */
import type { Context } from "hono";
import type { Admission, AppEnv, Manager } from "../../context";
import { GatewayError } from "../../http/problem";
import type { Actor, AuditEntry, KeyRecord } from "../../lifecycle";

export function admissionOf(c: Context<AppEnv>): Admission {
  const admission = c.get("admission");
  if (admission === undefined) throw new Error("management route reached without an admitted key");
  return admission;
}

/** The manager as the key lifecycle's actor: its audit entry, and what it may do itself. */
export function actorOf(c: Context<AppEnv>, manager: Manager, action: AuditEntry["action"]): Actor {
  return { audit: { actor: manager.facts.keyId, action, ip: c.req.header("cf-connecting-ip") ?? null }, scopes: manager.scopes, keyId: manager.facts.keyId };
}

const notFound = () => new GatewayError("not_found", "No key of this project has this id. List the project's keys to find it.");

/** The key if the caller may see it; 404 otherwise, whether or not it exists elsewhere. */
export function visibleKey(manager: Manager, record: KeyRecord | null): KeyRecord {
  if (record === null || record.project_id !== manager.facts.projectId) throw notFound();
  if (manager.facts.environment === "test" && record.environment !== "test") throw notFound();
  return record;
}

export function requireEnvironment(manager: Manager, environment: KeyRecord["environment"]): void {
  if (manager.facts.environment === "test" && environment !== "test") {
    throw new GatewayError("insufficient_permissions", "A test key manages only test keys. Use a live secret key to manage live keys.");
  }
}

/** A test key sees and manages only test keys: the environment it may list, or undefined for all. */
export function visibleEnvironment(manager: Manager): "test" | undefined {
  return manager.facts.environment === "test" ? "test" : undefined;
}
