/**
 * /v1/api_keys security: who may manage which key. Other projects' keys do not exist for a
 * caller, test keys manage test keys only, no key creates or changes one that can do more than
 * itself, and no answer, log line or audit record carries a plaintext key (except the one
 * creation answer) or a hash.
 */
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { hashKey } from "../../src/keys/key-index";
import { expectProblem, gateway, mintKey, operator, projectWithKeys, setLimits, withKey, type MintedKey } from "../helpers";

let project: string;
let admin: MintedKey;
let publicKey: MintedKey;
let liveAdmin: MintedKey;

beforeAll(async () => {
  ({ project, secretKey: admin, publicKey } = await projectWithKeys());
  liveAdmin = await mintKey(project, { type: "secret", environment: "live" });
});

afterEach(() => {
  vi.restoreAllMocks();
});

function manage(key: string, method: string, path: string, body?: unknown): Promise<Response> {
  return gateway(path, withKey(key, { method, body: body === undefined ? undefined : JSON.stringify(body), headers: { "content-type": "application/json" } }));
}

const ENDPOINTS: [string, string, unknown?][] = [
  ["GET", "/v1/api_keys"],
  ["POST", "/v1/api_keys", { type: "public", environment: "test", label: "x" }],
  ["GET", "/v1/api_keys/KEY"],
  ["PATCH", "/v1/api_keys/KEY", { label: "x" }],
  ["DELETE", "/v1/api_keys/KEY"],
  ["POST", "/v1/api_keys/KEY/roll", { expires_in: 0 }],
  ["GET", "/v1/api_keys/KEY/usage"],
  ["GET", "/v1/usage"],
];

describe("who may call the management API", () => {
  it("public keys: 403 on every endpoint", async () => {
    for (const [method, path, body] of ENDPOINTS) {
      const res = await manage(publicKey.key, method, path.replace("KEY", admin.id), body);
      const problem = await expectProblem(res, 403, "insufficient_permissions", publicKey.key);
      expect(problem.detail).toMatch(/^Public keys cannot/);
    }
  });

  it("scoped secret keys need projects:read to read and projects:write to change", async () => {
    const none = await mintKey(project, { type: "secret", scopes: ["events:read"] });
    const reader = await mintKey(project, { type: "secret", scopes: ["projects:read"] });
    for (const [method, path, body] of ENDPOINTS) {
      const needs = method === "GET" ? "projects:read" : "projects:write";
      const refused = await expectProblem(await manage(none.key, method, path.replace("KEY", none.id), body), 403, "insufficient_permissions", none.key);
      expect(refused.detail).toContain(needs);
      const res = await manage(reader.key, method, path.replace("KEY", reader.id), body);
      if (method === "GET") expect(res.status, `${method} ${path}`).toBe(200);
      else expect((await expectProblem(res, 403, "insufficient_permissions")).detail).toContain("projects:write");
    }
  });

  it("a revoked key is refused before anything else", async () => {
    const key = await mintKey(project, { type: "secret" });
    await operator("DELETE", `/keys/${key.id}`);
    await expectProblem(await manage(key.key, "GET", "/v1/api_keys"), 401, "revoked_api_key", key.key);
  });

  it("management answers carry the caller's rate-limit headers", async () => {
    const res = await manage(admin.key, "GET", "/v1/api_keys");
    expect(res.headers.get("x-ratelimit-limit")).toBe("10000");
    expect(res.headers.get("ratelimit-policy")).toContain('"burst";q=10000');
  });
});

describe("projects and environments", () => {
  it("another project's key is 404, exactly like an id that does not exist", async () => {
    const other = await projectWithKeys();
    const theirs = await manage(admin.key, "GET", `/v1/api_keys/${other.secretKey.id}`);
    const nobody = await manage(admin.key, "GET", "/v1/api_keys/key_00000000000000000000");
    const [a, b] = [await expectProblem(theirs, 404, "not_found"), await expectProblem(nobody, 404, "not_found")];
    expect(a.detail).toBe(b.detail);
    for (const [method, path, body] of ENDPOINTS.filter(([, p]) => p.includes("KEY"))) {
      await expectProblem(await manage(admin.key, method, path.replace("KEY", other.secretKey.id), body), 404, "not_found");
    }
    // and it is untouched
    expect((await gateway("/v1/export", withKey(other.secretKey.key))).status).toBe(200);
    const list = (await (await manage(admin.key, "GET", "/v1/api_keys")).json()) as { data: { id: string }[] };
    expect(list.data.map((k) => k.id)).not.toContain(other.secretKey.id);
  });

  it("a test key sees and manages only test keys; a live key manages both", async () => {
    const listed = (await (await manage(admin.key, "GET", "/v1/api_keys")).json()) as { data: { environment: string }[] };
    expect(listed.data.every((k) => k.environment === "test")).toBe(true);
    await expectProblem(await manage(admin.key, "GET", `/v1/api_keys/${liveAdmin.id}`), 404, "not_found");
    await expectProblem(await manage(admin.key, "DELETE", `/v1/api_keys/${liveAdmin.id}`), 404, "not_found");
    const live = await expectProblem(await manage(admin.key, "POST", "/v1/api_keys", { type: "secret", environment: "live", label: "x" }), 403, "insufficient_permissions");
    expect(live.detail).toContain("test key manages only test keys");

    const all = (await (await manage(liveAdmin.key, "GET", "/v1/api_keys")).json()) as { data: { environment: string }[] };
    expect(new Set(all.data.map((k) => k.environment))).toEqual(new Set(["test", "live"]));
    expect((await manage(liveAdmin.key, "POST", "/v1/api_keys", { type: "secret", environment: "test", label: "from live" })).status).toBe(201);
  });
});

describe("no escalation", () => {
  it("a scoped key creates only keys within its own scopes", async () => {
    const manager = await mintKey(project, { type: "secret", scopes: ["projects:write", "projects:read", "events:read"] });
    expect((await manage(manager.key, "POST", "/v1/api_keys", { type: "secret", environment: "test", label: "ok", scopes: ["events:read"] })).status).toBe(201);
    for (const body of [
      { type: "secret", environment: "test", label: "unrestricted" },
      { type: "secret", environment: "test", label: "more", scopes: ["users:read"] },
      { type: "public", environment: "test", label: "public set" },
    ]) {
      const problem = await expectProblem(await manage(manager.key, "POST", "/v1/api_keys", body), 403, "insufficient_permissions", manager.key);
      expect(problem.detail).toContain("more than itself");
    }
  });

  it("a scoped key cannot widen keys, or revoke, roll or change a stronger key", async () => {
    const manager = await mintKey(project, { type: "secret", scopes: ["projects:write", "projects:read", "events:read"] });
    const self = await manage(manager.key, "PATCH", `/v1/api_keys/${manager.id}`, { scopes: null });
    await expectProblem(self, 403, "insufficient_permissions");
    for (const [method, path, body] of [
      ["DELETE", `/v1/api_keys/${admin.id}`],
      ["POST", `/v1/api_keys/${admin.id}/roll`, { expires_in: 0 }],
      ["PATCH", `/v1/api_keys/${admin.id}`, { label: "mine now" }],
    ] as const) {
      await expectProblem(await manage(manager.key, method, path, body), 403, "insufficient_permissions");
    }
    expect((await gateway("/v1/admin/x", withKey(admin.key))).status).toBe(200);
  });
});

describe("no escalation by expiry or limits: a key never creates or rolls to a key that outlives or out-limits it", () => {
  const inDays = (days: number) => new Date(Date.now() + days * 86_400_000).toISOString().replace(/\.\d{3}Z$/, ".000Z");

  it("a key with expires_at creates keys that expire no later; a later or missing expiry is 403 naming its own", async () => {
    const expiresAt = inDays(7);
    const manager = await mintKey(project, { type: "secret", expires_at: expiresAt });
    for (const body of [
      { type: "secret", environment: "test", label: "forever" },
      { type: "public", environment: "test", label: "forever public" },
      { type: "secret", environment: "test", label: "later", expires_at: inDays(8) },
    ]) {
      const problem = await expectProblem(await manage(manager.key, "POST", "/v1/api_keys", body), 403, "insufficient_permissions", manager.key);
      expect(problem.detail).toContain(expiresAt);
      expect(problem.detail).toContain("expires_at");
    }
    for (const expires_at of [inDays(1), expiresAt]) {
      const res = await manage(manager.key, "POST", "/v1/api_keys", { type: "secret", environment: "test", label: "sooner", expires_at });
      expect(res.status, await res.clone().text()).toBe(201);
      expect(((await res.json()) as { expires_at: string }).expires_at).toBe(expires_at);
    }
  });

  it("a key with expires_at rolls itself to a replacement with its expiry, but not a key that never expires", async () => {
    const expiresAt = inDays(7);
    const manager = await mintKey(project, { type: "secret", expires_at: expiresAt });
    const target = await mintKey(project, { type: "secret", scopes: ["events:read"] });
    const problem = await expectProblem(await manage(manager.key, "POST", `/v1/api_keys/${target.id}/roll`, { expires_in: 60 }), 403, "insufficient_permissions", manager.key);
    expect(problem.detail).toContain("would outlive");
    // Nothing was rolled: the target still rolls for a key without an expiry.
    expect((await manage(admin.key, "POST", `/v1/api_keys/${target.id}/roll`, { expires_in: 0 })).status).toBe(201);
    const self = await manage(manager.key, "POST", `/v1/api_keys/${manager.id}/roll`, { expires_in: 60 });
    expect(self.status, await self.clone().text()).toBe(201);
    expect(((await self.json()) as { expires_at: string }).expires_at).toBe(expiresAt);
  });

  it("a key with lowered limits creates keys with no higher limits, and they hold", async () => {
    const manager = await mintKey(project, { type: "secret" });
    await setLimits(manager.id, { rate: 1, burst: 6, daily: 500 });
    for (const type of ["secret", "public"] as const) {
      const res = await manage(manager.key, "POST", "/v1/api_keys", { type, environment: "test", label: `capped ${type}` });
      expect(res.status, await res.clone().text()).toBe(201);
      const created = (await res.json()) as { key: string; limits: { rate: number; burst: number; daily: number } };
      expect(created.limits).toEqual({ rate: 1, burst: 6, daily: 500 });
      const statuses: number[] = [];
      for (let i = 0; i < 7; i++) statuses.push((await gateway("/v1/events", withKey(created.key, { method: "POST", body: "{}" }))).status);
      expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 429]);
    }
    // Limits above a type's default are not handed on: a public key keeps its lower default.
    expect((await operator("PUT", `/keys/${manager.id}/limits`, { rate: 500, burst: null, daily: null })).status).toBe(200);
    const res = await manage(manager.key, "POST", "/v1/api_keys", { type: "public", environment: "test", label: "public default" });
    expect(((await res.json()) as { limits: unknown }).limits).toEqual({ rate: 100, burst: 1000, daily: 1_000_000 });
  });

  it("a key with lowered limits cannot roll a key with higher ones; it may roll itself", async () => {
    const manager = await mintKey(project, { type: "secret" });
    await setLimits(manager.id, { daily: 1000 });
    const target = await mintKey(project, { type: "secret" });
    const problem = await expectProblem(await manage(manager.key, "POST", `/v1/api_keys/${target.id}/roll`, { expires_in: 60 }), 403, "insufficient_permissions", manager.key);
    expect(problem.detail).toContain("daily");
    const self = await manage(manager.key, "POST", `/v1/api_keys/${manager.id}/roll`, { expires_in: 60 });
    expect(self.status, await self.clone().text()).toBe(201);
    expect(((await self.json()) as { limits: { daily: number } }).limits.daily).toBe(1000);
  });

  it("the operator has no ceiling", async () => {
    const created = await operator("POST", "/keys", { project_id: project, type: "secret", environment: "test", label: "op" });
    expect(((await created.json()) as { expires_at: unknown }).expires_at).toBeNull();
  });
});

describe("no plaintext key and no hash outside the creation answer", () => {
  it("scans every answer, log line and audit record of a full management cycle", async () => {
    const lines: string[] = [];
    for (const level of ["log", "info", "warn", "error", "debug"] as const) {
      vi.spyOn(console, level).mockImplementation((...args: unknown[]) => void lines.push(args.map(String).join(" ")));
    }
    const answers: string[] = [];
    const record = async (res: Response) => {
      const text = await res.text();
      answers.push(text, JSON.stringify([...res.headers]));
      return JSON.parse(text) as { id: string; key?: string; rolled_to?: string };
    };
    const createdAnswer = await manage(admin.key, "POST", "/v1/api_keys", { type: "secret", environment: "test", label: "scan" });
    const created = (await createdAnswer.json()) as { id: string; key: string };
    await record(await manage(admin.key, "GET", "/v1/api_keys"));
    await record(await manage(admin.key, "GET", `/v1/api_keys/${created.id}`));
    await record(await manage(admin.key, "PATCH", `/v1/api_keys/${created.id}`, { label: "scan 2" }));
    await gateway("/v1/events", withKey(created.key, { method: "POST" }));
    const rolledAnswer = await manage(admin.key, "POST", `/v1/api_keys/${created.id}/roll`, { expires_in: 0 });
    const rolled = (await rolledAnswer.json()) as { id: string; key: string };
    await record(await manage(admin.key, "GET", `/v1/api_keys/${created.id}/usage`));
    await record(await manage(admin.key, "GET", "/v1/usage"));
    await record(await manage(admin.key, "DELETE", `/v1/api_keys/${rolled.id}`));
    await record(await manage(admin.key, "POST", `/v1/api_keys/${rolled.id}/roll`, { expires_in: 0 }));
    await record(await manage(created.key, "GET", "/v1/api_keys"));
    const audit = await record(await operator("GET", `/audit?project_id=${project}&limit=1000`));

    const keys = [created.key, rolled.key, admin.key];
    const secrets = [...keys, ...(await Promise.all(keys.map((key) => hashKey("test-key-hash-secret", key))))];
    const everything = [...answers, ...lines].join("\n");
    for (const secret of secrets) expect(everything).not.toContain(secret);
    expect(JSON.stringify(audit)).toContain(created.id); // the scan did see the audit records
    expect(lines.length).toBeGreaterThan(5);
  });
});
