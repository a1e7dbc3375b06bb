/**
 * Who may call what (API.md §1), proven through the Worker: public keys on exactly the public
 * routes, scoped secret keys on exactly their scopes, unrestricted secret keys everywhere.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { ROUTES, SCOPES, type RouteRule } from "../../src/policy/routes";
import { expectProblem, gateway, mintKey, projectWithKeys, withKey, type MintedKey, type OriginEcho } from "../helpers";

/** One concrete request per row of the route table (and per method of rows with several). */
function samples(rule: RouteRule): { method: string; path: string }[] {
  const path = rule.path.replace(":id", "user_42").replace("*", "invoices/7");
  const methods = rule.methods === "any" ? ["GET", "POST", "PUT", "PATCH", "DELETE"] : rule.methods;
  return methods.map((method) => ({ method, path }));
}

// The management routes (served by the gateway, not forwarded) have their own tests in test/manage.
const ALL = ROUTES.filter((rule) => !rule.gateway).flatMap((rule) => samples(rule).map((sample) => ({ ...sample, rule })));
const PUBLIC = ALL.filter(({ rule }) => rule.publicKey);
const SECRET_ONLY = ALL.filter(({ rule }) => !rule.publicKey);

let project: string;
let publicKey: MintedKey;
let secretKey: MintedKey;

beforeAll(async () => {
  ({ project, publicKey, secretKey } = await projectWithKeys());
});

async function call(key: string, method: string, path: string): Promise<Response> {
  const body = method === "GET" || method === "HEAD" ? undefined : "{}";
  return gateway(path, withKey(key, { method, body }));
}

describe("public keys", () => {
  it.each(PUBLIC.map((r) => [r.method, r.path]))("may call %s %s", async (method, path) => {
    const res = await call(publicKey.key, method, path);
    expect(res.status).toBe(200);
    const echo = (await res.json()) as OriginEcho;
    expect(echo.received).toMatchObject({ method, path });
  });

  it.each(SECRET_ONLY.map((r) => [r.method, r.path]))("are refused %s %s", async (method, path) => {
    const res = await call(publicKey.key, method, path);
    const body = await expectProblem(res, 403, "insufficient_permissions", publicKey.key);
    expect(body.detail).toMatch(/^Public keys cannot /);
  });
});

describe("unrestricted secret keys", () => {
  it.each(ALL.map((r) => [r.method, r.path]))("may call %s %s", async (method, path) => {
    expect((await call(secretKey.key, method, path)).status).toBe(200);
  });
});

describe("scoped secret keys", () => {
  it.each(SCOPES.map((scope) => [scope]))("with only %s: allowed exactly where it is needed", async (scope) => {
    const key = await mintKey(project, { type: "secret", scopes: [scope] });
    for (const { method, path, rule } of ALL) {
      const res = await call(key.key, method, path);
      if (rule.permission === scope) {
        expect(res.status, `${method} ${path}`).toBe(200);
        await res.body?.cancel();
      } else {
        const body = await expectProblem(res, 403, "insufficient_permissions", key.key);
        if (rule.permission !== "admin") expect(body.detail).toContain(rule.permission);
      }
    }
  });

  it("with every scope is still refused on admin endpoints", async () => {
    const key = await mintKey(project, { type: "secret", scopes: [...SCOPES] });
    const res = await call(key.key, "GET", "/v1/admin/tenants");
    const body = await expectProblem(res, 403, "insufficient_permissions", key.key);
    expect(body.detail).toContain("unrestricted secret key");
  });

  it("tell the origin their scopes", async () => {
    const key = await mintKey(project, { type: "secret", scopes: ["events:read", "users:read"] });
    const echo = (await (await call(key.key, "GET", "/v1/export")).json()) as OriginEcho;
    expect(echo.received.headers["x-composite-scopes"]).toBe("events:read,users:read");
  });
});
