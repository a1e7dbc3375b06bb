/**
 * Who may manage which key through /v1/api_keys. The route table already required a secret key
 * with projects:read or projects:write; on top of that:
 *  - only keys of the caller's own project exist for it (others are 404, indistinguishable from
 *    ids that do not exist);
 *  - a `test` key sees and manages only `test` keys;
 *  - no escalation: a key may create, change, roll or revoke only keys that can do no more than
 *    it can itself — a scoped key cannot mint an unrestricted one.
 */
import type { Context } from "hono";
import type { AppEnv } from "../../env";
import type { Admission } from "../../gateway";
import { GatewayError } from "../../http/problem";
import type { KeyRecord } from "../../keys/key-records";
import { effectiveScopes } from "../../policy/authorize";
import type { Scope } from "../../policy/routes";
import type { AuditEntry } from "../audit";

/** Who manages keys: the admitted API key, or the key a dashboard session was opened with. */
export type Manager = Pick<Admission, "facts" | "scopes">;

export function admissionOf(c: Context<AppEnv>): Admission {
  const admission = c.get("admission");
  if (admission === undefined) throw new Error("management route reached without an admitted key");
  return admission;
}

export function auditBy(c: Context<AppEnv>, action: AuditEntry["action"]): AuditEntry {
  return { actor: admissionOf(c).facts.keyId, action, ip: c.req.header("cf-connecting-ip") ?? null };
}

const notFound = () => new GatewayError("not_found", "No key of this project has this id. List the project's keys to find it.");

/** The key if the caller may see it; 404 otherwise, whether or not it exists elsewhere. */
export function visibleKey(manager: Manager, record: KeyRecord | null): KeyRecord {
  if (record === null || record.project_id !== manager.facts.projectId) throw notFound();
  if (manager.facts.environment === "test" && record.environment !== "test") throw notFound();
  return record;
}

/** Refuses acting on (or creating) a key that could do more than the caller. */
export function requireNoEscalation(manager: Manager, target: { type: KeyRecord["type"]; scopes: Scope[] | null }): void {
  const missing = effectiveScopes(target).filter((scope) => !manager.scopes.includes(scope));
  if (missing.length > 0) {
    throw new GatewayError(
      "insufficient_permissions",
      `This key cannot manage a key that can do more than itself (it lacks ${missing.join(", ")}). Use an unrestricted secret key.`,
    );
  }
}

export function requireEnvironment(manager: Manager, environment: KeyRecord["environment"]): void {
  if (manager.facts.environment === "test" && environment !== "test") {
    throw new GatewayError("insufficient_permissions", "A test key manages only test keys. Use a live secret key to manage live keys.");
  }
}
