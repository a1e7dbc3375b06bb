/**
 * KV failing, through the Worker with the real KV, D1 and objects: a key lookup whose KV read
 * throws goes to D1 and the request is served (blocked address or not: KV cannot vouch for the
 * key); a KV write that fails when a D1 hit refills KV changes nothing for the request; with D1
 * failing too, the answer is 503 storage_unavailable (retried by clients), not a 500.
 */
import { describe, expect, it } from "vitest";
import { generateKey } from "../../src/keys/format";
import { hashKey, kvKeyName } from "../../src/keys/key-index";
import { env, expectProblem, mintKey, newProject, sendWith, withKey, type MintedKey } from "../helpers";
import { expectCounted } from "./faults";

async function freshKey(): Promise<MintedKey> {
  return mintKey(await newProject("KV faults"), { type: "public" });
}

function ingest(key: string, headers: Record<string, string> = {}): Request {
  return new Request("https://gateway.test/v1/events", withKey(key, { method: "POST", body: '{"event":"x"}', headers }));
}

/** The real env with its KV namespace failing `get` and/or `put` as a KV outage does. */
function kvFailing(fail: { get?: boolean; put?: boolean }, overrides: Partial<typeof env> = {}): typeof env {
  const KEYS = new Proxy(env.KEYS, {
    get(target, prop) {
      if ((prop === "get" && fail.get) || (prop === "put" && fail.put)) {
        return () => Promise.reject(new Error(`KV ${prop.toUpperCase()} failed: 503 Service Unavailable`));
      }
      const value = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { ...env, KEYS, ...overrides };
}

describe("KV failing", { timeout: 20_000 }, () => {
  it("a KV read that throws: the key is found in D1 and the request is served and counted", async () => {
    const key = await freshKey(); // never looked up yet: not in this isolate's memory
    const res = await sendWith(kvFailing({ get: true, put: true }), ingest(key.key));
    expect(res.status, await res.clone().text()).toBe(200);
    expect(res.headers.get("x-ratelimit-limit")).toBe("1000");
    await expectCounted(key.id, 1);
  });

  it("a KV read that throws for an unknown key: 401 invalid_api_key, not a 500", async () => {
    const unknown = generateKey("public", "test");
    const res = await sendWith(kvFailing({ get: true }), ingest(unknown));
    await expectProblem(res, 401, "invalid_api_key", unknown);
  });

  it("a KV write that fails when a D1 hit refills KV is harmless", async () => {
    const key = await freshKey();
    // As if KV had not got the key's entry yet: the lookup goes to D1, which refills KV.
    const entry = kvKeyName(await hashKey("test-key-hash-secret", key.key));
    await env.KEYS.delete(entry);
    const res = await sendWith(kvFailing({ put: true }), ingest(key.key));
    expect(res.status, await res.clone().text()).toBe(200);
    expect(await env.KEYS.get(entry)).toBeNull(); // the refill did fail
    const again = await sendWith(kvFailing({ put: true }), ingest(key.key));
    expect(again.status).toBe(200);
    await expectCounted(key.id, 2);
  });

  it("KV and D1 both failing: 503 storage_unavailable with Retry-After, not a 500, and no failed attempt counted", async () => {
    const key = await freshKey();
    const DB = new Proxy(env.DB, {
      get(target, prop) {
        if (prop === "prepare") return () => { throw new Error("D1_ERROR: Network connection lost."); };
        const value = Reflect.get(target, prop, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const limited = { FAILED_AUTH_LIMIT: "1", FAILED_AUTH_WINDOW_S: "60" };
    const ip = "203.0.113.78";
    for (let i = 0; i < 3; i++) {
      const res = await sendWith(kvFailing({ get: true }, { DB, ...limited }), ingest(key.key, { "cf-connecting-ip": ip }));
      await expectProblem(res, 503, "storage_unavailable", key.key);
      expect(res.headers.get("retry-after")).toBe("1");
    }
    // Storage back: the key is served, and the address is not blocked (its first failure is a 401).
    expect((await sendWith({ ...env, ...limited }, ingest(key.key, { "cf-connecting-ip": ip }))).status).toBe(200);
    const probe = generateKey("public", "test");
    await expectProblem(await sendWith({ ...env, ...limited }, ingest(probe, { "cf-connecting-ip": ip })), 401, "invalid_api_key", probe);
    await expectCounted(key.id, 1);
  });

  it("with KV down, a valid key from an address blocked for failed attempts is still served (API.md §2)", async () => {
    const limited = { FAILED_AUTH_LIMIT: "1", FAILED_AUTH_WINDOW_S: "60" };
    const ip = "203.0.113.77";
    for (const expected of ["invalid_api_key", "too_many_failed_attempts"]) {
      const probe = generateKey("public", "test");
      const res = await sendWith({ ...env, ...limited }, ingest(probe, { "cf-connecting-ip": ip }));
      expect(((await res.json()) as { code: string }).code).toBe(expected);
    }
    const key = await freshKey(); // not in this isolate's memory, and KV cannot say it exists
    const res = await sendWith(kvFailing({ get: true }, limited), ingest(key.key, { "cf-connecting-ip": ip }));
    expect(res.status, await res.clone().text()).toBe(200);
    // A made-up key from that address is still refused with the 429.
    const probe = generateKey("public", "test");
    await expectProblem(await sendWith(kvFailing({ get: true }, limited), ingest(probe, { "cf-connecting-ip": ip })), 429, "too_many_failed_attempts", probe);
  });
});
