/**
 * Which changes the dashboard offers on a key (issue 16: "actions that cannot apply are not
 * offered" — a rolled key offered "Generate replacement" and then showed an API-worded 409).
 * Pure; the same rules the key lifecycle enforces, so a form shown is a form that can succeed.
 */
import type { Manager, Viewer } from "../context";
import type { KeyRecord } from "../lifecycle";
import { effectiveScopes } from "../policy/authorize";

export interface Offers {
  edit: boolean;
  roll: boolean;
  revoke: boolean;
  /** Why something is not offered, said on the page; absent when all three are. */
  why?: string;
}

const NONE = { edit: false, roll: false, revoke: false };

export function offersFor(record: KeyRecord, manager: Manager, viewer: Viewer): Offers {
  if (!viewer.canChange) return { ...NONE, why: "You signed in with a key that can only look (it lacks projects:write)." };
  if (record.status === "revoked") return { ...NONE, why: "This key is revoked: nothing about it can change any more." };
  const missing = effectiveScopes(record).filter((scope) => !manager.scopes.includes(scope));
  if (missing.length > 0) {
    return { ...NONE, why: `The key you signed in with cannot change a key that can do more than itself (it lacks ${missing.join(", ")}).` };
  }
  if (record.status === "expired") return { ...NONE, revoke: true, why: "This key has expired: it can only be revoked." };
  if (record.rolled_to !== null) return { ...NONE, revoke: true, why: "This key has already been replaced; follow the rotation to its end instead." };
  const beyond = rollBeyond(record, viewer);
  return beyond === undefined ? { edit: true, roll: true, revoke: true } : { edit: true, roll: false, revoke: true, why: beyond };
}

/** Why the signed-in key may not roll this one (its replacement would outlive or out-limit it), if so. */
function rollBeyond(record: KeyRecord, viewer: Viewer): string | undefined {
  if (viewer.expiresAt !== null && (record.expires_at === null || record.expires_at > viewer.expiresAt)) {
    return `Generate replacement is not offered: the replacement would outlive the key you signed in with, which expires ${viewer.expiresAt}.`;
  }
  const higher = (["rate", "burst", "daily"] as const).filter((part) => record.limits[part] > viewer.limits[part]);
  if (higher.length > 0) return `Generate replacement is not offered: this key's limits (${higher.join(", ")}) are higher than those of the key you signed in with.`;
  return undefined;
}
