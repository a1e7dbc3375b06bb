/** The route table of API.md §1 as data, and deny by default. */
import { describe, expect, it } from "vitest";
import { matchRoute, ROUTES } from "../../src/policy/routes";

const need = (method: string, path: string) => {
  const rule = matchRoute(method, path);
  return rule === null ? null : { permission: rule.permission, publicKey: rule.publicKey };
};

describe("matchRoute", () => {
  it.each([
    ["POST", "/v1/events", "events:write", true],
    ["POST", "/v1/batch", "events:write", true],
    ["POST", "/v1/sessions", "events:write", true],
    ["POST", "/v1/identify", "users:write", true],
    ["GET", "/v1/users/me", "users:read", true],
    ["GET", "/v1/project", "projects:read", true],
    ["GET", "/v1/events", "events:read", false],
    ["GET", "/v1/sessions", "events:read", false],
    ["GET", "/v1/export", "events:read", false],
    ["DELETE", "/v1/events", "events:write", false],
    ["GET", "/v1/users", "users:read", false],
    ["GET", "/v1/users/u_1", "users:read", false],
    ["POST", "/v1/users", "users:write", false],
    ["PATCH", "/v1/users/u_1", "users:write", false],
    ["DELETE", "/v1/users/u_1", "users:write", false],
    ["PATCH", "/v1/users/me", "users:write", false],
    ["PATCH", "/v1/project", "projects:write", false],
    ["GET", "/v1/team", "team:write", false],
    ["DELETE", "/v1/team/members/7", "team:write", false],
    ["GET", "/v1/billing", "billing:read", false],
    ["GET", "/v1/billing/invoices/7", "billing:read", false],
    ["POST", "/v1/billing/plan", "billing:write", false],
    ["PUT", "/v1/billing/plan", "billing:write", false],
    ["DELETE", "/v1/billing/cards/1", "billing:write", false],
    ["GET", "/v1/admin/tenants", "admin", false],
    ["POST", "/v1/admin/tenants/1/suspend", "admin", false],
    ["GET", "/v1/api_keys", "projects:read", false],
    ["POST", "/v1/api_keys", "projects:write", false],
    ["GET", "/v1/api_keys/key_1", "projects:read", false],
    ["PATCH", "/v1/api_keys/key_1", "projects:write", false],
    ["DELETE", "/v1/api_keys/key_1", "projects:write", false],
    ["POST", "/v1/api_keys/key_1/roll", "projects:write", false],
    ["GET", "/v1/api_keys/key_1/usage", "projects:read", false],
    ["GET", "/v1/usage", "projects:read", false],
  ])("%s %s needs %s (public key: %s)", (method, path, permission, publicKey) => {
    expect(need(method, path)).toEqual({ permission, publicKey });
  });

  it.each([
    ["GET", "/"],
    ["GET", "/v1"],
    ["GET", "/v1/"],
    ["POST", "/v1/events/"],
    ["POST", "/v1/events/extra"],
    ["PUT", "/v1/events"],
    ["GET", "/v1/identify"],
    ["POST", "/v1/users/u_1"],
    ["GET", "/v1/users/"],
    ["GET", "/v1/users/a/b"],
    ["GET", "/v1/admin"],
    ["GET", "/v1/admin/"],
    ["POST", "/v1/billing"],
    ["GET", "/v1/team/"],
    ["GET", "/v1/team//x"],
    ["GET", "/V1/events"],
    ["GET", "/v2/events"],
    ["OPTIONS", "/v1/events"],
    ["HEAD", "/v1/events"],
    ["PUT", "/v1/api_keys"],
    ["POST", "/v1/api_keys/key_1"],
    ["GET", "/v1/api_keys/key_1/roll"],
    ["GET", "/_operator/keys"],
    // An origin that decodes %2F or %5C before routing would see other segments than the table did.
    ["GET", "/v1/users/..%2Fadmin%2Fx"],
    ["GET", "/v1/users/me%2f..%2fadmin"],
    ["GET", "/v1/users/a%5Cb"],
    ["POST", "/v1/team/x%2fy"],
    ["GET", "/v1/billing/%5c"],
  ])("%s %s is not a route (404, never forwarded)", (method, path) => {
    expect(matchRoute(method, path)).toBeNull();
  });

  it("every rule is reachable: no rule is shadowed by an earlier one", () => {
    for (const rule of ROUTES) {
      const path = rule.path.replace(":id", "x1").replace("*", "y/z");
      const method = rule.methods === "any" ? "GET" : rule.methods[0]!;
      expect(matchRoute(method, path)).toBe(rule);
    }
  });
});

describe("leased routes (token leases, API.md §3)", () => {
  it("are exactly event ingestion: events, batches, sessions, identify and the outside SDKs' ingestion paths", () => {
    const leased = ROUTES.filter((rule) => rule.leased).map((rule) => `${rule.methods === "any" ? "ANY" : rule.methods.join("|")} ${rule.path}`);
    expect(leased.sort()).toEqual(["POST /batch/", "POST /capture/", "POST /e/", "POST /v1/batch", "POST /v1/events", "POST /v1/identify", "POST /v1/sessions"]);
  });

  it("never include a read, an admin route or the key management API: there a change is in force on the next request", () => {
    for (const rule of ROUTES.filter((r) => r.leased)) {
      expect(rule.class === "ingest" || rule.class === "write", rule.path).toBe(true);
      expect(rule.gateway, rule.path).toBeUndefined();
      expect(rule.methods, rule.path).toEqual(["POST"]);
    }
  });
});
