/** authorize(): the decision the KeyLimiter makes from a key's live policy. */
import { describe, expect, it } from "vitest";
import { authorize, effectiveScopes, PUBLIC_KEY_SCOPES, type KeyPolicy, type Need } from "../../src/policy/authorize";
import { SCOPES } from "../../src/policy/routes";

const NOW = Date.parse("2026-11-26T12:00:00Z");
const base: KeyPolicy = {
  type: "secret",
  status: "active",
  scopes: null,
  expiresAt: null,
  allowedOrigins: null,
};
const events: Need = { permission: "events:write", publicKey: true, action: "send events" };
const exportData: Need = { permission: "events:read", publicKey: false, action: "export data" };
const admin: Need = { permission: "admin", publicKey: false, action: "access admin endpoints" };
const code = (policy: Partial<KeyPolicy>, need: Need, origin: string | null = null, now = NOW) =>
  authorize({ ...base, ...policy }, need, origin, now)?.code ?? "ok";

describe("authorize", () => {
  it("an active unrestricted secret key may do everything", () => {
    for (const need of [events, exportData, admin]) expect(code({}, need)).toBe("ok");
  });

  it("revoked wins over everything else", () => {
    expect(code({ status: "revoked", expiresAt: NOW - 1 }, events)).toBe("revoked_api_key");
  });

  it("expires exactly at expires_at", () => {
    expect(code({ expiresAt: NOW + 1 }, events)).toBe("ok");
    expect(code({ expiresAt: NOW }, events)).toBe("expired_api_key");
    expect(code({ expiresAt: NOW - 1 }, events)).toBe("expired_api_key");
  });

  it("public keys: public routes only, with a message that says so", () => {
    expect(code({ type: "public" }, events)).toBe("ok");
    const refusal = authorize({ ...base, type: "public" }, exportData, null, NOW);
    expect(refusal).toEqual({ code: "insufficient_permissions", detail: expect.stringContaining("Public keys cannot export data") });
    expect(code({ type: "public" }, admin)).toBe("insufficient_permissions");
  });

  it("public keys with allowed origins: exact origin match, none without an Origin", () => {
    const policy = { type: "public" as const, allowedOrigins: ["https://app.example.com"] };
    expect(code(policy, events, "https://app.example.com")).toBe("ok");
    expect(code(policy, events, "https://app.example.com.evil.com")).toBe("origin_not_allowed");
    expect(code(policy, events, "https://APP.example.com")).toBe("origin_not_allowed");
    expect(code(policy, events, null)).toBe("origin_not_allowed");
    expect(code({ type: "public" }, events, "https://anything.example")).toBe("ok");
  });

  it("scoped secret keys: exactly their scopes, never admin, and the refusal names the scope", () => {
    expect(code({ scopes: ["events:write"] }, events)).toBe("ok");
    const refusal = authorize({ ...base, scopes: ["events:write"] }, exportData, null, NOW);
    expect(refusal?.code).toBe("insufficient_permissions");
    expect(refusal?.detail).toContain("events:read");
    expect(code({ scopes: [...SCOPES] }, admin)).toBe("insufficient_permissions");
  });

  it("effective scopes: the fixed public set, the scope list, or everything", () => {
    expect(effectiveScopes({ ...base, type: "public" })).toEqual(PUBLIC_KEY_SCOPES);
    expect([...PUBLIC_KEY_SCOPES].sort()).toEqual(["events:write", "projects:read", "users:read", "users:write"]);
    expect(effectiveScopes({ ...base, scopes: ["billing:read"] })).toEqual(["billing:read"]);
    expect(effectiveScopes(base)).toEqual([...SCOPES, "admin"]);
  });
});
