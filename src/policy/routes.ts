/**
 * The route table of API.md §1 — the only place that says which route needs which permission.
 * Deny by default: a method and path that match no row are 404 `route_not_found` and never
 * reach the origin. Pure data and one matching function, no I/O.
 *
 * Path patterns: literal segments, `:id` (exactly one non-empty segment) and a trailing `*`
 * (one or more further segments). A path with an encoded `/` or `\` matches nothing (the gateway
 * refuses such paths earlier, 400, in path-safety.ts; this keeps the table safe on its own).
 */

export const SCOPES = [
  "events:write",
  "events:read",
  "users:write",
  "users:read",
  "projects:write",
  "projects:read",
  "team:write",
  "billing:read",
  "billing:write",
] as const;

export type Scope = (typeof SCOPES)[number];

/** What a route needs: a scope, or an unrestricted secret key (`admin`). */
export type Permission = Scope | "admin";

/**
 * What kind of traffic a route carries; decides what happens when the limiter is unreachable
 * (LIMITER_FAIL_OPEN): event ingestion fails open, everything else fails closed by default.
 */
export type RouteClass = "ingest" | "read" | "write" | "admin";

export interface RouteRule {
  methods: readonly string[] | "any";
  class: RouteClass;
  path: string;
  permission: Permission;
  /** Whether a public (pk_) key may call it. */
  publicKey: boolean;
  /** Plain words for error messages: "public keys cannot <action>". */
  action: string;
  /**
   * Event ingestion (API.md §3: events, batches, sessions, identify): a hot key's requests are
   * admitted from a token lease (limiter/leases.ts), so a change to the key stops them within
   * LEASE_MS rather than at the next request. The failure policy is the class's all the same.
   */
  leased?: true;
  /** Served by the gateway itself (the key management API), never forwarded. */
  gateway?: true;
  /**
   * A member of the JSON body where an outside SDK puts the key (keys/body-credential.ts): PostHog's
   * `api_key` (the credential itself), Segment's `writeKey` (a copy of its Basic user name). On
   * these routes the gateway reads the body before the key, takes the key out and forwards the rest.
   */
  bodyKey?: "api_key" | "writeKey";
}

const ANY = "any" as const;
const WRITES = ["POST", "PUT", "PATCH", "DELETE"] as const;

export const ROUTES: readonly RouteRule[] = [
  { methods: ["POST"], path: "/v1/events", class: "ingest", permission: "events:write", publicKey: true, leased: true, action: "send events" },
  // Segment's and RudderStack's SDKs post here with the key as the Basic user; Segment copies it into the body's writeKey.
  { methods: ["POST"], path: "/v1/batch", class: "ingest", permission: "events:write", publicKey: true, leased: true, action: "send events", bodyKey: "writeKey" },
  // PostHog's ingestion paths with the key as the JSON body's api_key: /batch/ (posthog-node), /capture/ and /e/ (one event).
  { methods: ["POST"], path: "/batch/", class: "ingest", permission: "events:write", publicKey: true, leased: true, action: "send events", bodyKey: "api_key" },
  { methods: ["POST"], path: "/capture/", class: "ingest", permission: "events:write", publicKey: true, leased: true, action: "send events", bodyKey: "api_key" },
  { methods: ["POST"], path: "/e/", class: "ingest", permission: "events:write", publicKey: true, leased: true, action: "send events", bodyKey: "api_key" },
  { methods: ["POST"], path: "/v1/sessions", class: "ingest", permission: "events:write", publicKey: true, leased: true, action: "send session recordings" },
  { methods: ["POST"], path: "/v1/identify", class: "write", permission: "users:write", publicKey: true, leased: true, action: "identify users" },
  { methods: ["GET"], path: "/v1/users/me", class: "read", permission: "users:read", publicKey: true, action: "read their user profile" },
  { methods: ["GET"], path: "/v1/project", class: "read", permission: "projects:read", publicKey: true, action: "read project configuration" },
  { methods: ["GET"], path: "/v1/events", class: "read", permission: "events:read", publicKey: false, action: "read events" },
  { methods: ["GET"], path: "/v1/sessions", class: "read", permission: "events:read", publicKey: false, action: "read sessions" },
  { methods: ["GET"], path: "/v1/export", class: "read", permission: "events:read", publicKey: false, action: "export data" },
  { methods: ["DELETE"], path: "/v1/events", class: "write", permission: "events:write", publicKey: false, action: "delete events" },
  { methods: ["GET"], path: "/v1/users", class: "read", permission: "users:read", publicKey: false, action: "read other users' data" },
  { methods: ["GET"], path: "/v1/users/:id", class: "read", permission: "users:read", publicKey: false, action: "read other users' data" },
  { methods: ["POST"], path: "/v1/users", class: "write", permission: "users:write", publicKey: false, action: "create users" },
  { methods: ["PATCH", "DELETE"], path: "/v1/users/:id", class: "write", permission: "users:write", publicKey: false, action: "modify users" },
  { methods: ["PATCH"], path: "/v1/project", class: "write", permission: "projects:write", publicKey: false, action: "modify project settings" },
  { methods: ANY, path: "/v1/team", class: "write", permission: "team:write", publicKey: false, action: "manage team members" },
  { methods: ANY, path: "/v1/team/*", class: "write", permission: "team:write", publicKey: false, action: "manage team members" },
  { methods: ["GET"], path: "/v1/billing", class: "read", permission: "billing:read", publicKey: false, action: "access billing" },
  { methods: ["GET"], path: "/v1/billing/*", class: "read", permission: "billing:read", publicKey: false, action: "access billing" },
  { methods: WRITES, path: "/v1/billing/*", class: "write", permission: "billing:write", publicKey: false, action: "modify billing" },
  { methods: ANY, path: "/v1/admin/*", class: "admin", permission: "admin", publicKey: false, action: "access admin endpoints" },
  // The key management API (API.md §5), served by the gateway.
  { methods: ["GET"], path: "/v1/api_keys", class: "read", permission: "projects:read", publicKey: false, action: "read API keys", gateway: true },
  { methods: ["POST"], path: "/v1/api_keys", class: "write", permission: "projects:write", publicKey: false, action: "create API keys", gateway: true },
  { methods: ["GET"], path: "/v1/api_keys/:id", class: "read", permission: "projects:read", publicKey: false, action: "read API keys", gateway: true },
  { methods: ["PATCH", "DELETE"], path: "/v1/api_keys/:id", class: "write", permission: "projects:write", publicKey: false, action: "change API keys", gateway: true },
  { methods: ["POST"], path: "/v1/api_keys/:id/roll", class: "write", permission: "projects:write", publicKey: false, action: "roll API keys", gateway: true },
  { methods: ["GET"], path: "/v1/api_keys/:id/usage", class: "read", permission: "projects:read", publicKey: false, action: "read key usage", gateway: true },
  { methods: ["GET"], path: "/v1/usage", class: "read", permission: "projects:read", publicKey: false, action: "read usage", gateway: true },
];

interface CompiledRule {
  rule: RouteRule;
  segments: readonly string[];
}

const COMPILED: readonly CompiledRule[] = ROUTES.map((rule) => ({ rule, segments: rule.path.split("/").slice(1) }));

/**
 * A segment with an encoded slash or backslash is one segment here but may become two at an
 * origin that decodes before it routes (`/v1/users/..%2Fadmin`): such paths match nothing.
 */
const ENCODED_SEPARATOR = /%2f|%5c/i;

/** The rule for this method and path, or null (→ 404). `/v1/users/me` is listed before `/v1/users/:id`. */
export function matchRoute(method: string, pathname: string): RouteRule | null {
  if (ENCODED_SEPARATOR.test(pathname)) return null;
  const segments = pathname.split("/").slice(1);
  for (const { rule, segments: pattern } of COMPILED) {
    if (rule.methods !== ANY && !rule.methods.includes(method)) continue;
    if (segmentsMatch(pattern, segments)) return rule;
  }
  return null;
}

function segmentsMatch(pattern: readonly string[], actual: readonly string[]): boolean {
  const wildcard = pattern[pattern.length - 1] === "*";
  const fixed = wildcard ? pattern.length - 1 : pattern.length;
  if (wildcard ? actual.length <= fixed : actual.length !== fixed) return false;
  for (let i = 0; i < fixed; i++) {
    const want = pattern[i]!;
    const got = actual[i]!;
    if (want === ":id" ? got === "" : want !== got) return false;
  }
  // A wildcard needs real segments after it: `/v1/admin/` is not an admin route.
  return !wildcard || actual.slice(fixed).every((segment) => segment !== "");
}
