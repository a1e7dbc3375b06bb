/**
 * When the key's limiter cannot be reached: event ingestion fails open (and is counted once the
 * limiter is back), everything else fails closed with 503. Failed authentication is limited per
 * client IP. Failures are injected by wrapping the real KeyLimiter namespace.
 */
import { runDurableObjectAlarm } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { generateKey } from "../../src/keys/format";
import { keyLimiter } from "../../src/limiter/client";
import { env, envWithFailingLimiter, expectProblem, mintKey, newProject, operator, sendWith, withKey, type MintedKey, type OriginEcho } from "../helpers";

/** The real env, with every admit() on the KeyLimiter failing as an overloaded object would (or never answering). */
function limiterDown(overrides: Partial<typeof env> = {}, failure?: () => Promise<never>): typeof env {
  return { ...envWithFailingLimiter(() => true, failure), ...overrides };
}

function send(path: string, init: RequestInit, testEnv: typeof env): Promise<Response> {
  return sendWith(testEnv, new Request(`https://gateway.test${path}`, init));
}

let key: MintedKey;
beforeAll(async () => {
  key = await mintKey(await newProject(), { type: "secret" });
});

describe("limiter unreachable", () => {
  it("event ingestion fails open, and the request is counted once the limiter is back", async () => {
    const res = await send("/v1/events", withKey(key.key, { method: "POST", body: "{}" }), limiterDown());
    expect(res.status).toBe(200);
    const echo = (await res.json()) as OriginEcho;
    expect(echo.received.headers["x-composite-key-id"]).toBe(key.id);
    expect(echo.received.headers["x-composite-scopes"]).toBe("events:write");
    expect(res.headers.get("ratelimit")).toBeNull(); // nothing reliable to say
    // waitOnExecutionContext waited for the deferred count; then the write-behind and the flush.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await runDurableObjectAlarm(keyLimiter(env, key.id))).toBe(true);
    const row = await env.DB.prepare("SELECT requests FROM usage_daily WHERE key_id = ?1").bind(key.id).first<{ requests: number }>();
    expect(row?.requests).toBe(1);
  });

  it.each([
    ["GET", "/v1/events"],
    ["POST", "/v1/identify"],
    ["PATCH", "/v1/project"],
    ["GET", "/v1/admin/tenants"],
  ])("%s %s fails closed: 503 limiter_unavailable with Retry-After", async (method, path) => {
    const res = await send(path, withKey(key.key, { method, body: method === "GET" ? undefined : "{}" }), limiterDown());
    await expectProblem(res, 503, "limiter_unavailable", key.key);
    expect(res.headers.get("retry-after")).toBe("1");
  });

  it("a limiter that does not answer within ORIGIN_TIMEOUT_MS counts as unreachable", async () => {
    const hung = () => new Promise<never>(() => {});
    const started = Date.now();
    const closed = await send("/v1/events", withKey(key.key), limiterDown({ ORIGIN_TIMEOUT_MS: "200" }, hung));
    await expectProblem(closed, 503, "limiter_unavailable", key.key);
    expect(Date.now() - started).toBeLessThan(5000);
    // Ingestion fails open, and the origin still gets its own full time.
    const open = await send("/v1/events", withKey(key.key, { method: "POST", body: "{}" }), limiterDown({ ORIGIN_TIMEOUT_MS: "200" }, hung));
    expect(open.status).toBe(200);
  });

  it("the fail-open classes are configurable: with none, ingestion fails closed too", async () => {
    const res = await send("/v1/events", withKey(key.key, { method: "POST", body: "{}" }), limiterDown({ LIMITER_FAIL_OPEN: "" }));
    await expectProblem(res, 503, "limiter_unavailable", key.key);
    const reads = await send("/v1/events", withKey(key.key), limiterDown({ LIMITER_FAIL_OPEN: "ingest,read" }));
    expect(reads.status).toBe(200);
  });
});

describe("failed authentication per client IP", () => {
  const limited = { FAILED_AUTH_LIMIT: "3", FAILED_AUTH_WINDOW_S: "60" };

  it("past the limit, an IP gets 429 too_many_failed_attempts for unknown keys, never for a valid key; other IPs do not", async () => {
    const ip = "203.0.113.7";
    const probe = () => generateKey("secret", "live");
    const from = (addr: string, k: string) => withKey(k, { method: "POST", body: "{}", headers: { "cf-connecting-ip": addr } });
    for (let i = 0; i < 3; i++) {
      const candidate = probe();
      await expectProblem(await send("/v1/events", from(ip, candidate), { ...env, ...limited }), 401, "invalid_api_key", candidate);
    }
    const fourth = await send("/v1/events", from(ip, probe()), { ...env, ...limited });
    await expectProblem(fourth, 429, "too_many_failed_attempts");
    const retryAfter = Number(fourth.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);

    // API.md §2: a valid key from the same address is always served (test/guard/ for the details).
    expect((await send("/v1/events", from(ip, key.key), { ...env, ...limited })).status).toBe(200);
    expect((await send("/v1/events", from("198.51.100.1", key.key), { ...env, ...limited })).status).toBe(200);
  });

  it("malformed keys cost no lookup and are not counted", async () => {
    const ip = "203.0.113.8";
    for (let i = 0; i < 10; i++) {
      const res = await send("/v1/events", withKey("sk_live_nonsense", { method: "POST", headers: { "cf-connecting-ip": ip } }), { ...env, ...limited });
      await expectProblem(res, 401, "malformed_api_key");
    }
    expect((await send("/v1/events", withKey(key.key, { method: "POST", body: "{}", headers: { "cf-connecting-ip": ip } }), { ...env, ...limited })).status).toBe(200);
  });

  it("revoked keys count as failures", async () => {
    const ip = "203.0.113.9";
    const revoked = await mintKey(await newProject(), { type: "public" });
    expect((await operator("DELETE", `/keys/${revoked.id}`)).status).toBe(200);
    const codes: string[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await send("/v1/events", withKey(revoked.key, { method: "POST", headers: { "cf-connecting-ip": ip } }), { ...env, ...limited });
      codes.push(((await res.json()) as { code: string }).code);
    }
    expect(codes).toEqual(["revoked_api_key", "revoked_api_key", "revoked_api_key", "too_many_failed_attempts"]);
  });
});
