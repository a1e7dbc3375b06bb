/** /v1/api_keys and /v1/usage: every bad input gets a clear 4xx problem and changes nothing. */
import { runDurableObjectAlarm } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { keyLimiter } from "../../src/limiter/client";
import { env, expectProblem, gateway, mintKey, newProject, operator, projectWithKeys, setLimits, settleCounts, withKey, type MintedKey } from "../helpers";

let admin: MintedKey;
let project: string;

beforeAll(async () => {
  ({ project, secretKey: admin } = await projectWithKeys());
});

function manage(method: string, path: string, body?: unknown): Promise<Response> {
  const init: RequestInit = { method, headers: { "content-type": "application/json" } };
  if (body !== undefined) init.body = typeof body === "string" ? body : JSON.stringify(body);
  return gateway(path, withKey(admin.key, init));
}

async function created(body: Record<string, unknown>): Promise<{ id: string; key: string }> {
  const res = await manage("POST", "/v1/api_keys", body);
  expect(res.status).toBe(201);
  return (await res.json()) as { id: string; key: string };
}

const keyCount = async () => (await env.DB.prepare("SELECT COUNT(*) AS n FROM api_keys WHERE project_id = ?1").bind(project).first<{ n: number }>())!.n;
const auditCount = async () => (await env.DB.prepare("SELECT COUNT(*) AS n FROM audit_log WHERE project_id = ?1").bind(project).first<{ n: number }>())!.n;

describe("POST /v1/api_keys errors", () => {
  it.each([
    ["unknown type", { type: "root", environment: "test", label: "x" }, "type"],
    ["no label", { type: "secret", environment: "test" }, "label"],
    ["unknown scope, listing the valid ones", { type: "secret", environment: "test", label: "x", scopes: ["events:write", "everything"] }, "valid scopes are events:write, events:read"],
    ["empty scope list", { type: "secret", environment: "test", label: "x", scopes: [] }, "scopes"],
    ["scopes on a public key", { type: "public", environment: "test", label: "x", scopes: ["events:write"] }, "scopes"],
    ["allowed origins on a secret key", { type: "secret", environment: "test", label: "x", allowed_origins: ["https://a.example"] }, "allowed_origins"],
    ["an origin with a path", { type: "public", environment: "test", label: "x", allowed_origins: ["https://a.example/x"] }, "allowed_origins"],
    ["an expiry in the past", { type: "public", environment: "test", label: "x", expires_at: "2020-01-01T00:00:00Z" }, "expires_at"],
    ["an unknown field", { type: "public", environment: "test", label: "x", project_id: "proj_other" }, "project_id"],
    ["not JSON", "{oops", "JSON"],
  ])("%s → 400 invalid_request, nothing created", async (_name, body, mention) => {
    const [keys, audits] = [await keyCount(), await auditCount()];
    const problem = await expectProblem(await manage("POST", "/v1/api_keys", body), 400, "invalid_request", admin.key);
    expect(problem.detail).toContain(mention);
    expect([await keyCount(), await auditCount()]).toEqual([keys, audits]);
  });
});

describe("a body without a JSON content type", () => {
  it.each([
    ["POST", "/v1/api_keys"],
    ["PATCH", "/v1/api_keys/{id}"],
    ["POST", "/v1/api_keys/{id}/roll"],
  ])("%s %s → 400 invalid_request naming the content type, nothing changed", async (method, pattern) => {
    const key = await created({ type: "public", environment: "test", label: "Web" });
    const path = pattern.replace("{id}", key.id);
    const body = method === "PATCH" ? { label: "changed" } : pattern.endsWith("roll") ? { expires_in: 0 } : { type: "public", environment: "test", label: "x" };
    for (const contentType of ["text/plain", "application/x-www-form-urlencoded", null]) {
      const [keys, audits] = [await keyCount(), await auditCount()];
      const headers: Record<string, string> = contentType === null ? {} : { "content-type": contentType };
      const res = await gateway(path, withKey(admin.key, { method, headers, body: JSON.stringify(body) }));
      const problem = await expectProblem(res, 400, "invalid_request", admin.key);
      expect(problem.detail).toContain("content-type: application/json");
      expect([await keyCount(), await auditCount()]).toEqual([keys, audits]);
    }
  });
});

describe("PATCH errors", () => {
  it.each([
    ["nothing to change", {}, "at least one"],
    ["scopes on a public key", { scopes: ["events:write"] }, "scopes"],
    ["an unknown scope", { scopes: ["admin"] }, "valid scopes"],
    ["an empty label", { label: "" }, "label"],
  ])("%s → 400", async (_name, body, mention) => {
    const key = await created({ type: "public", environment: "test", label: "Web" });
    const problem = await expectProblem(await manage("PATCH", `/v1/api_keys/${key.id}`, body), 400, "invalid_request");
    expect(problem.detail).toContain(mention);
  });
});

describe("changing a revoked key", () => {
  it("PATCH → 409 conflict, nothing changed, for the management and the operator API", async () => {
    const key = await created({ type: "secret", environment: "test", label: "Gone", scopes: ["events:read"] });
    await manage("DELETE", `/v1/api_keys/${key.id}`);
    const audits = await auditCount();
    await expectProblem(await manage("PATCH", `/v1/api_keys/${key.id}`, { label: "Back", scopes: ["events:write"] }), 409, "conflict");
    await expectProblem(await operator("PATCH", `/keys/${key.id}`, { label: "Back" }), 409, "conflict");
    const after = (await (await manage("GET", `/v1/api_keys/${key.id}`)).json()) as { label: string; scopes: string[]; status: string };
    expect(after).toMatchObject({ label: "Gone", scopes: ["events:read"], status: "revoked" });
    expect(await auditCount()).toBe(audits);
    await expectProblem(await gateway("/v1/events", withKey(key.key)), 401, "revoked_api_key", key.key);
  });
});

describe("roll errors", () => {
  it.each([
    ["no body", undefined],
    ["a negative expires_in", { expires_in: -1 }],
    ["more than 7 days", { expires_in: 7 * 86_400 + 1 }],
    ["a fraction", { expires_in: 1.5 }],
    ["a string", { expires_in: "60" }],
  ])("%s → 400, the key is not rolled", async (_name, body) => {
    const key = await created({ type: "secret", environment: "test", label: "Job" });
    await expectProblem(await manage("POST", `/v1/api_keys/${key.id}/roll`, body), 400, "invalid_request");
    expect(((await (await manage("GET", `/v1/api_keys/${key.id}`)).json()) as { rolled_to: null }).rolled_to).toBeNull();
  });

  it("rolling a key twice → 409 naming its replacement", async () => {
    const key = await created({ type: "secret", environment: "test", label: "Job" });
    const first = (await (await manage("POST", `/v1/api_keys/${key.id}/roll`, { expires_in: 3600 })).json()) as { id: string };
    const problem = await expectProblem(await manage("POST", `/v1/api_keys/${key.id}/roll`, { expires_in: 3600 }), 409, "conflict", key.key);
    expect(problem).toMatchObject({ rolled_to: first.id, detail: expect.stringContaining("already rolled") });
  });

  it("two concurrent rolls of one key: exactly one new key", async () => {
    const key = await created({ type: "secret", environment: "test", label: "Race" });
    const before = await keyCount();
    const answers = await Promise.all([1, 2, 3].map(() => manage("POST", `/v1/api_keys/${key.id}/roll`, { expires_in: 60 })));
    expect(answers.map((res) => res.status).sort()).toEqual([201, 409, 409]);
    expect(await keyCount()).toBe(before + 1);
  });

  it("rolling a revoked key → 409", async () => {
    const key = await created({ type: "secret", environment: "test", label: "Gone" });
    await manage("DELETE", `/v1/api_keys/${key.id}`);
    const problem = await expectProblem(await manage("POST", `/v1/api_keys/${key.id}/roll`, { expires_in: 60 }), 409, "conflict");
    expect(problem.detail).toContain("revoked");
  });

  it("rolling an expired key → 409", async () => {
    const key = await created({ type: "secret", environment: "test", label: "Old" });
    await manage("POST", `/v1/api_keys/${key.id}/roll`, { expires_in: 0 });
    const replacement = (await (await manage("GET", `/v1/api_keys/${key.id}`)).json()) as { rolled_to: string };
    const problem = await expectProblem(await manage("POST", `/v1/api_keys/${key.id}/roll`, { expires_in: 60 }), 409, "conflict");
    expect(problem.detail).toContain("expired");
    // Its replacement can be rolled.
    expect((await manage("POST", `/v1/api_keys/${replacement.rolled_to}/roll`, { expires_in: 60 })).status).toBe(201);
  });
});

describe("usage errors", () => {
  it.each([["0"], ["91"], ["-3"], ["1.5"], ["lots"]])("days=%s → 400", async (days) => {
    const key = await created({ type: "public", environment: "test", label: "x" });
    const problem = await expectProblem(await manage("GET", `/v1/api_keys/${key.id}/usage?days=${days}`), 400, "invalid_request");
    expect(problem.detail).toContain("days");
  });

  it.each([
    ["from after to", "from=2026-11-20&to=2026-11-01", "after"],
    ["more than 90 days", "from=2026-01-01&to=2026-11-01", "at most 90"],
    ["not a day", "from=yesterday", "YYYY-MM-DD"],
    ["not a calendar day", "from=2026-02-30", "calendar day"],
  ])("/v1/usage with %s → 400", async (_name, query, mention) => {
    const problem = await expectProblem(await manage("GET", `/v1/usage?${query}`), 400, "invalid_request");
    expect(problem.detail).toContain(mention);
  });

  it("an unknown key id → 404", async () => {
    await expectProblem(await manage("GET", "/v1/api_keys/key_doesnotexist/usage"), 404, "not_found");
    await expectProblem(await manage("GET", "/v1/api_keys/key_doesnotexist"), 404, "not_found");
    await expectProblem(await manage("PATCH", "/v1/api_keys/key_doesnotexist", { label: "x" }), 404, "not_found");
    await expectProblem(await manage("DELETE", "/v1/api_keys/key_doesnotexist"), 404, "not_found");
    await expectProblem(await manage("POST", "/v1/api_keys/key_doesnotexist/roll", { expires_in: 0 }), 404, "not_found");
  });

  it("methods not in the table → 404 route_not_found, never forwarded", async () => {
    await expectProblem(await manage("PUT", "/v1/api_keys"), 404, "route_not_found");
    await expectProblem(await manage("GET", "/v1/api_keys/key_x/roll"), 404, "route_not_found");
  });
});

describe("a call the endpoint refuses after the key was admitted takes nothing (API.md §3)", () => {
  it("every admitted management call takes exactly one request of the day, and says its request id", async () => {
    const project = await newProject();
    const key = await mintKey(project, { type: "secret" });
    const other = await mintKey(project, { type: "public" });
    const calls: [string, string, unknown?][] = [
      ["GET", "/v1/api_keys"],
      ["POST", "/v1/api_keys", { type: "public", environment: "test", label: "x" }],
      ["GET", `/v1/api_keys/${other.id}`],
      ["GET", `/v1/api_keys/${other.id}/usage`],
      ["GET", "/v1/usage"],
    ];
    const remaining: number[] = [];
    for (const [method, path, body] of calls) {
      const init: RequestInit = body === undefined ? { method } : { method, headers: { "content-type": "application/json" }, body: JSON.stringify(body) };
      const res = await gateway(path, withKey(key.key, init));
      expect(res.status, `${method} ${path}`).toBeLessThan(300);
      expect(res.headers.get("x-request-id"), "as the OpenAPI document says").toMatch(/^req_[0-9a-f]{32}$/);
      await res.body?.cancel();
      remaining.push(Number(res.headers.get("x-ratelimit-remaining-day")));
    }
    const first = remaining[0]!;
    expect(remaining).toEqual(calls.map((_, i) => first - i));
  });

  it("404 for an id the project does not have: the bucket and the day's quota stay whole, in the headers and in D1", async () => {
    const key = await mintKey(await newProject(), { type: "secret" });
    await setLimits(key.id, { burst: 1_000, rate: 1, daily: 3 });
    for (let i = 0; i < 5; i++) {
      const res = await gateway("/v1/api_keys/key_doesnotexist", withKey(key.key));
      expect(res.headers.get("x-ratelimit-remaining"), "the refusal's headers say it took nothing").toBe("1000");
      expect(res.headers.get("x-ratelimit-remaining-day")).toBe("3");
      await expectProblem(res, 404, "not_found", key.key);
    }
    const listed = await gateway("/v1/api_keys", withKey(key.key));
    expect(listed.status, "five refusals left the day's three").toBe(200);
    expect(listed.headers.get("x-ratelimit-remaining-day")).toBe("2");
    await listed.body?.cancel();
    await settleCounts();
    await runDurableObjectAlarm(keyLimiter(env, key.id));
    const row = await env.DB.prepare("SELECT requests FROM usage_daily WHERE key_id = ?1").bind(key.id).first<{ requests: number }>();
    expect(row?.requests, "D1 counts the one admitted call").toBe(1);
  });

  it("403 for a test key acting on live keys takes nothing either", async () => {
    const project = await newProject();
    const key = await mintKey(project, { type: "secret" });
    await setLimits(key.id, { burst: 1_000, rate: 1, daily: 2 });
    for (let i = 0; i < 4; i++) {
      const res = await gateway("/v1/api_keys", withKey(key.key, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ type: "public", environment: "live", label: "x" }) }));
      await expectProblem(res, 403, "insufficient_permissions", key.key);
    }
    const statuses = [];
    for (let i = 0; i < 3; i++) {
      const res = await gateway("/v1/api_keys", withKey(key.key));
      statuses.push(res.status);
      await res.body?.cancel();
    }
    expect(statuses, "the day's two calls are left for the admitted ones").toEqual([200, 200, 429]);
  });
});
