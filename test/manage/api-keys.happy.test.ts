/** /v1/api_keys and /v1/usage (API.md §5): the paths that work, through the Worker's fetch. */
import { runDurableObjectAlarm } from "cloudflare:test";
import { parseList } from "structured-headers";
import { beforeAll, describe, expect, it } from "vitest";
import { parseKey } from "../../src/keys/format";
import { utcDay } from "../../src/limiter/bucket";
import { keyLimiter } from "../../src/limiter/client";
import { env, gateway, projectWithKeys, withKey, type MintedKey } from "../helpers";

let admin: MintedKey; // an unrestricted secret test key: what manages the project's keys
let project: string;

beforeAll(async () => {
  ({ project, secretKey: admin } = await projectWithKeys());
});

function manage(method: string, path: string, body?: unknown, key = admin.key): Promise<Response> {
  return gateway(path, withKey(key, { method, body: body === undefined ? undefined : JSON.stringify(body), headers: { "content-type": "application/json" } }));
}

async function json<T = Record<string, unknown>>(res: Response, status: number): Promise<T> {
  const text = await res.text();
  expect(res.status, text).toBe(status);
  return JSON.parse(text) as T;
}

const flushUsage = async (keyId: string) => {
  await new Promise((resolve) => setTimeout(resolve, 300));
  await runDurableObjectAlarm(keyLimiter(env, keyId));
};

describe("POST /v1/api_keys", () => {
  it("creates a secret key with scopes, shown once, working on the next request", async () => {
    const res = await manage("POST", "/v1/api_keys", { type: "secret", environment: "test", label: "Export job", scopes: ["events:read"] });
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(parseList(res.headers.get("ratelimit")!)).toHaveLength(1); // the caller's own limits
    const created = await json<{ key: string; id: string } & Record<string, unknown>>(res, 201);
    expect(parseKey(created.key)).toEqual({ ok: true, type: "secret", environment: "test" });
    expect(created).toMatchObject({ project_id: project, type: "secret", environment: "test", label: "Export job", scopes: ["events:read"], status: "active", rotation_due: false, age_days: 0 });
    expect(created).not.toHaveProperty("limit_overrides");
    expect((await gateway("/v1/export", withKey(created.key))).status).toBe(200);
    expect((await gateway("/v1/events", withKey(created.key, { method: "POST" }))).status).toBe(403);
  });

  it("creates a public key with allowed origins and an expiry", async () => {
    const expires = new Date(Date.now() + 86_400_000).toISOString();
    const created = await json<{ key: string; expires_at: string; allowed_origins: string[] }>(
      await manage("POST", "/v1/api_keys", { type: "public", environment: "test", label: "Web", allowed_origins: ["https://app.example.com"], expires_at: expires }),
      201,
    );
    expect(created.key.startsWith("pk_test_")).toBe(true);
    expect(created.expires_at).toBe(expires);
    expect(created.allowed_origins).toEqual(["https://app.example.com"]);
  });

  it("takes a date alone as an expiry at 00:00 UTC that day", async () => {
    const day = new Date(Date.now() + 3 * 86_400_000).toISOString().slice(0, 10);
    const created = await json<{ expires_at: string }>(await manage("POST", "/v1/api_keys", { type: "secret", environment: "test", label: "Dated", expires_at: day }), 201);
    expect(created.expires_at).toBe(`${day}T00:00:00.000Z`);
  });
});

describe("GET /v1/api_keys and /v1/api_keys/{id}", () => {
  it("lists the project's keys with display fields and no plaintext or hash", async () => {
    const created = await json<{ key: string; id: string }>(await manage("POST", "/v1/api_keys", { type: "secret", environment: "test", label: "Listed" }), 201);
    const res = await manage("GET", "/v1/api_keys");
    const text = await res.clone().text();
    const { data } = await json<{ data: Record<string, unknown>[] }>(res, 200);
    expect(text).not.toContain(created.key);
    expect(text).not.toContain("hash");
    const listed = data.find((key) => key.id === created.id)!;
    expect(listed).toMatchObject({ prefix: "sk_test_", last4: created.key.slice(-4), display: `sk_test_…${created.key.slice(-4)}`, status: "active", last_used_at: null, age_days: 0, rotation_due: false, expires_at: null, created_at: expect.any(String) });
    expect(listed.key).toBeUndefined();
    expect(data.every((key) => key.project_id === project)).toBe(true);
    const one = await json(await manage("GET", `/v1/api_keys/${created.id}`), 200);
    expect(one).toEqual(listed);
  });
});

describe("PATCH /v1/api_keys/{id}", () => {
  it("changes label, scopes and origins, in force on the next request", async () => {
    const created = await json<{ key: string; id: string }>(await manage("POST", "/v1/api_keys", { type: "secret", environment: "test", label: "Before", scopes: ["events:read"] }), 201);
    expect((await gateway("/v1/users", withKey(created.key))).status).toBe(403);
    const updated = await json(await manage("PATCH", `/v1/api_keys/${created.id}`, { label: "After", scopes: ["users:read"] }), 200);
    expect(updated).toMatchObject({ label: "After", scopes: ["users:read"] });
    expect((await gateway("/v1/users", withKey(created.key))).status).toBe(200);
    expect((await gateway("/v1/export", withKey(created.key))).status).toBe(403);
    // null makes it unrestricted again
    expect(await json(await manage("PATCH", `/v1/api_keys/${created.id}`, { scopes: null }), 200)).toMatchObject({ scopes: null });
    expect((await gateway("/v1/admin/x", withKey(created.key))).status).toBe(200);

    const web = await json<{ key: string; id: string }>(await manage("POST", "/v1/api_keys", { type: "public", environment: "test", label: "Web" }), 201);
    await json(await manage("PATCH", `/v1/api_keys/${web.id}`, { allowed_origins: ["https://app.example.com"] }), 200);
    const refused = await gateway("/v1/events", withKey(web.key, { method: "POST", headers: { origin: "https://other.example.com" } }));
    expect(refused.status).toBe(403);
  });
});

describe("POST /v1/api_keys/{id}/roll", () => {
  it("gives a new key with the same settings; the old one works until expires_in, then is expired_api_key", async () => {
    const old = await json<{ key: string; id: string }>(await manage("POST", "/v1/api_keys", { type: "secret", environment: "test", label: "Backend", scopes: ["events:read", "events:write"] }), 201);
    const rolled = await json<{ key: string; id: string } & Record<string, unknown>>(await manage("POST", `/v1/api_keys/${old.id}/roll`, { expires_in: 1 }), 201);
    expect(rolled).toMatchObject({ label: "Backend", scopes: ["events:read", "events:write"], type: "secret", environment: "test", rolled_from: old.id, expires_at: null });
    expect(rolled.key).not.toBe(old.key);
    const oldNow = await json<{ status: string; rolled_to: string; expires_at: string }>(await manage("GET", `/v1/api_keys/${old.id}`), 200);
    expect(oldNow.rolled_to).toBe(rolled.id);
    expect(Date.parse(oldNow.expires_at) - Date.now()).toBeLessThanOrEqual(1000);
    expect((await gateway("/v1/export", withKey(old.key))).status).toBe(200);
    expect((await gateway("/v1/export", withKey(rolled.key))).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const expired = await gateway("/v1/export", withKey(old.key));
    expect(((await expired.json()) as { code: string }).code).toBe("expired_api_key");
    expect((await gateway("/v1/export", withKey(rolled.key))).status).toBe(200);
    expect(await json(await manage("GET", `/v1/api_keys/${old.id}`), 200)).toMatchObject({ status: "expired" });
  });

  it("expires_in 0 ends the old key at once", async () => {
    const old = await json<{ key: string; id: string }>(await manage("POST", "/v1/api_keys", { type: "public", environment: "test", label: "SDK" }), 201);
    const rolled = await json<{ key: string }>(await manage("POST", `/v1/api_keys/${old.id}/roll`, { expires_in: 0 }), 201);
    expect(((await (await gateway("/v1/events", withKey(old.key, { method: "POST" }))).json()) as { code: string }).code).toBe("expired_api_key");
    expect((await gateway("/v1/events", withKey(rolled.key, { method: "POST" }))).status).toBe(200);
  });

  it("never extends a key that was already expiring sooner", async () => {
    const soon = new Date(Date.now() + 60_000).toISOString();
    const old = await json<{ id: string }>(await manage("POST", "/v1/api_keys", { type: "secret", environment: "test", label: "Expiring", expires_at: soon }), 201);
    await json(await manage("POST", `/v1/api_keys/${old.id}/roll`, { expires_in: 7 * 86_400 }), 201);
    expect(await json(await manage("GET", `/v1/api_keys/${old.id}`), 200)).toMatchObject({ expires_at: soon });
  });
});

describe("DELETE /v1/api_keys/{id}", () => {
  it("revokes at once and is idempotent", async () => {
    const key = await json<{ key: string; id: string }>(await manage("POST", "/v1/api_keys", { type: "public", environment: "test", label: "Leaked" }), 201);
    expect((await gateway("/v1/events", withKey(key.key, { method: "POST" }))).status).toBe(200);
    const first = await json<{ status: string; revoked_at: string }>(await manage("DELETE", `/v1/api_keys/${key.id}`), 200);
    expect(first.status).toBe("revoked");
    expect(((await (await gateway("/v1/events", withKey(key.key, { method: "POST" }))).json()) as { code: string }).code).toBe("revoked_api_key");
    const again = await json<{ status: string; revoked_at: string }>(await manage("DELETE", `/v1/api_keys/${key.id}`), 200);
    expect(again).toEqual(first);
  });
});

describe("usage", () => {
  it("per key per day with zeros, last_used_at, and per project over a range", async () => {
    const key = await json<{ key: string; id: string }>(await manage("POST", "/v1/api_keys", { type: "public", environment: "test", label: "Counted" }), 201);
    for (let i = 0; i < 7; i++) await (await gateway("/v1/events", withKey(key.key, { method: "POST" }))).body?.cancel();
    await flushUsage(key.id);
    const usage = await json<{ data: { day: string; requests: number; rejected: number }[]; last_used_at: string }>(await manage("GET", `/v1/api_keys/${key.id}/usage?days=3`), 200);
    expect(usage.data).toHaveLength(3);
    expect(usage.data[2]).toEqual({ day: utcDay(Date.now()), requests: 7, rejected: 0 });
    expect(usage.data[0]).toMatchObject({ requests: 0, rejected: 0 });
    expect(Date.now() - Date.parse(usage.last_used_at)).toBeLessThan(60_000);

    const today = utcDay(Date.now());
    const project = await json<{ from: string; to: string; data: { key_id: string; day: string; requests: number }[] }>(await manage("GET", `/v1/usage?from=${today}&to=${today}`), 200);
    expect(project).toMatchObject({ from: today, to: today });
    expect(project.data).toContainEqual({ key_id: key.id, day: today, requests: 7, rejected: 0 });
    const defaults = await json<{ from: string; to: string }>(await manage("GET", "/v1/usage"), 200);
    expect(defaults.to).toBe(today);
    expect((Date.parse(defaults.to) - Date.parse(defaults.from)) / 86_400_000).toBe(29);
  });
});
