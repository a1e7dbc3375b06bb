/**
 * Audit entries as sentences with labels (issue 16): "Revoked 'Checkout server' (sk_live_…9LmN)",
 * by whom, from where — instead of ids and raw JSON. Pure; labels are the keys' current ones.
 */
import type { AuditRecord, KeyRecord } from "../lifecycle";

/** A key as a sentence names it. */
export interface KeyName {
  id: string;
  label: string;
  display: string;
}

export interface Sentence {
  /** What was done, up to the key it was done to. */
  verb: string;
  /** The key it was done to, if any (a link on the page). */
  target?: KeyName | { id: string };
  /** The rest of the sentence, after the key. */
  rest: string;
  /** Who did it: a key of the project, the operator. */
  actor: KeyName | "the operator" | string;
}

const count = (n: number) => n.toLocaleString("en-US");
const when = (iso: string) => iso.replace("T", " ").replace(/(:\d\d)(\.\d+)?Z$/, "$1 UTC");

export function nameOf(record: KeyRecord): KeyName {
  return { id: record.id, label: record.label, display: record.display };
}

function list(value: unknown): string[] | null {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === "string") : null;
}

function changes(details: Record<string, unknown>): string {
  const said: string[] = [];
  if (typeof details.label === "string") said.push(`the label to '${details.label}'`);
  if ("scopes" in details) said.push(details.scopes === null ? "permissions to full access" : `permissions to ${(list(details.scopes) ?? []).join(", ") || "none"}`);
  if ("allowedOrigins" in details) {
    said.push(details.allowedOrigins === null ? "allowed origins to any" : `allowed origins to ${(list(details.allowedOrigins) ?? []).join(", ")}`);
  }
  return said.length === 0 ? "" : `: ${said.join(", ")}`;
}

function limits(details: Record<string, unknown>): string {
  const set = details.limits as { rate?: number | null; burst?: number | null; daily?: number | null } | undefined;
  if (set === undefined) return "";
  const part = (value: number | null | undefined, text: (n: number) => string, name: string) => (value == null ? `${name} default` : text(value));
  return `: ${part(set.rate, (n) => `${count(n)} per second`, "rate")}, ${part(set.burst, (n) => `burst ${count(n)}`, "burst")}, ${part(set.daily, (n) => `${count(n)} per day`, "daily quota")}`;
}

export function describeEntry(entry: AuditRecord, keys: ReadonlyMap<string, KeyName>): Sentence {
  const details = entry.details ?? {};
  const target = entry.target_id === null ? undefined : (keys.get(entry.target_id) ?? { id: entry.target_id });
  const actor = entry.actor === "operator" ? "the operator" : (keys.get(entry.actor) ?? entry.actor);
  switch (entry.action) {
    case "project.create":
      return { verb: typeof details.name === "string" ? `Created the project '${details.name}'` : "Created the project", rest: "", actor };
    case "project.plan":
      return { verb: typeof details.plan === "string" ? `Moved the project to the ${details.plan} plan` : "Changed the project's plan", rest: "", actor };
    case "key.create": {
      const kind = [details.type, details.environment].filter((part) => typeof part === "string").join(" ");
      const scopes = list(details.scopes);
      const access = details.type === "secret" ? (scopes === null ? ", full access" : `, with ${scopes.join(", ")}`) : "";
      return { verb: "Created", target, rest: kind === "" ? "" : `, a ${kind} key${access}`, actor };
    }
    case "key.update":
      return { verb: "Changed", target, rest: changes(details), actor };
    case "key.limits":
      return { verb: "Set the limits of", target, rest: limits(details), actor };
    case "key.roll": {
      const to = typeof details.rolled_to === "string" ? keys.get(details.rolled_to) : undefined;
      const replacement = to === undefined ? "" : ` with ${to.display}`;
      const expires = typeof details.old_expires_at === "string" ? `; the old key stops working at ${when(details.old_expires_at)}` : "";
      return { verb: "Generated a replacement for", target, rest: `${replacement}${expires}`, actor };
    }
    case "key.revoke":
      return { verb: "Revoked", target, rest: "", actor };
    default:
      return { verb: entry.action, target, rest: "", actor };
  }
}
