/**
 * The failed-auth guard (API.md §2): failed authentications are counted per client address (IPv6
 * per /64); past the limit the address gets 429 too_many_failed_attempts for further failing keys
 * only — a valid key from the same address is always served, and a blocked address costs no D1
 * lookup and no Durable Object call. FAILED_AUTH_LIMIT=0 turns the guard off.
 */
import { describe, expect, it } from "vitest";
import { generateKey } from "../../src/keys/format";
import { env, expectProblem, mintKey, newProject, sendWith, withKey } from "../helpers";

const limited = { ...env, FAILED_AUTH_LIMIT: "3", FAILED_AUTH_WINDOW_S: "60" };

function fromAddress(address: string, key: string, testEnv: typeof env = limited): Promise<Response> {
  return sendWith(testEnv, new Request("https://gateway.test/v1/events", withKey(key, { method: "POST", body: "{}", headers: { "cf-connecting-ip": address } })));
}

async function block(address: string, testEnv: typeof env = limited): Promise<void> {
  for (let i = 0; i < 3; i++) {
    const unknown = generateKey("secret", "live");
    await expectProblem(await fromAddress(address, unknown, testEnv), 401, "invalid_api_key", unknown);
  }
  await expectProblem(await fromAddress(address, generateKey("secret", "live"), testEnv), 429, "too_many_failed_attempts");
}

/** `limited`, counting the D1 lookups of keys by hash and the calls to FailedAuthGuard objects. */
function countingEnv(): { testEnv: typeof env; counts: { keyLookups: number; guardCalls: number } } {
  const counts = { keyLookups: 0, guardCalls: 0 };
  const DB = new Proxy(env.DB, {
    get(target, prop) {
      if (prop !== "prepare") return Reflect.get(target, prop, target);
      return (sql: string) => {
        if (sql.includes("WHERE key_hash")) counts.keyLookups++;
        return target.prepare(sql);
      };
    },
  });
  const FAILED_AUTH = new Proxy(env.FAILED_AUTH, {
    get(target, prop) {
      if (prop !== "getByName") return Reflect.get(target, prop, target);
      return (name: string) => {
        counts.guardCalls++;
        return target.getByName(name);
      };
    },
  });
  return { testEnv: { ...limited, DB, FAILED_AUTH }, counts };
}

describe("a blocked address", () => {
  it("still gets its valid keys through, whether this isolate has seen them (cache) or not (KV)", async () => {
    const project = await newProject();
    const seen = await mintKey(project, { type: "secret" });
    const unseen = await mintKey(project, { type: "public" });
    const address = "203.0.113.41";
    expect((await fromAddress(address, seen.key)).status).toBe(200); // now in this isolate's cache
    await block(address);

    expect((await fromAddress(address, seen.key)).status).toBe(200);
    expect((await fromAddress(address, unseen.key)).status).toBe(200); // found in KV
    expect((await fromAddress(address, seen.key)).status).toBe(200);
  });

  it("refuses further unknown keys with 429 and Retry-After, without a D1 lookup or a guard call", async () => {
    const address = "203.0.113.42";
    const { testEnv, counts } = countingEnv();
    await block(address, testEnv);
    const [lookups, calls] = [counts.keyLookups, counts.guardCalls];

    const unknown = generateKey("public", "test");
    for (let i = 0; i < 3; i++) {
      const res = await fromAddress(address, unknown, testEnv); // the first from KV, then from this isolate's memory
      await expectProblem(res, 429, "too_many_failed_attempts", unknown);
      const retryAfter = Number(res.headers.get("retry-after"));
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(60);
    }
    expect(counts.keyLookups).toBe(lookups);
    expect(counts.guardCalls).toBe(calls);
  });

  it("blocks only itself: another address is served as usual", async () => {
    await block("203.0.113.43");
    const unknown = generateKey("secret", "live");
    await expectProblem(await fromAddress("203.0.113.44", unknown), 401, "invalid_api_key", unknown);
  });

  it("revoked keys from it still count and are refused with 429 once it is blocked", async () => {
    const revoked = await mintKey(await newProject(), { type: "public" });
    const live = await mintKey(await newProject(), { type: "public" });
    await sendWith(env, new Request(`https://gateway.test/_operator/keys/${revoked.id}`, { method: "DELETE", headers: { authorization: "Bearer test-operator-token" } }));
    const address = "203.0.113.45";
    const codes: string[] = [];
    for (let i = 0; i < 4; i++) codes.push(((await (await fromAddress(address, revoked.key)).json()) as { code: string }).code);
    expect(codes).toEqual(["revoked_api_key", "revoked_api_key", "revoked_api_key", "too_many_failed_attempts"]);
    expect((await fromAddress(address, live.key)).status).toBe(200);
  });
});

describe("IPv6 addresses count per /64", () => {
  it("failures from different hosts of one /64 add up; another /64 is not affected", async () => {
    const hosts = ["2001:db8:7:1::1", "2001:DB8:7:1:0:0:0:2", "[2001:db8:7:1::abcd]"];
    for (const host of hosts) {
      const unknown = generateKey("secret", "live");
      await expectProblem(await fromAddress(host, unknown), 401, "invalid_api_key", unknown);
    }
    await expectProblem(await fromAddress("2001:db8:7:1:ffff:ffff:ffff:ffff", generateKey("secret", "live")), 429, "too_many_failed_attempts");
    const unknown = generateKey("secret", "live");
    await expectProblem(await fromAddress("2001:db8:7:2::1", unknown), 401, "invalid_api_key", unknown);
  });
});

describe("FAILED_AUTH_LIMIT=0", () => {
  it("turns the guard off: every failure is answered for what it is, none is counted", async () => {
    const { testEnv, counts } = countingEnv();
    const off = { ...testEnv, FAILED_AUTH_LIMIT: "0" };
    for (let i = 0; i < 40; i++) {
      const unknown = generateKey("secret", "live");
      await expectProblem(await fromAddress("203.0.113.46", unknown, off), 401, "invalid_api_key", unknown);
    }
    expect(counts.guardCalls).toBe(0);
  });

  it("ignores a block this isolate remembers from when the guard was on", async () => {
    await block("203.0.113.47");
    const unknown = generateKey("secret", "live");
    await expectProblem(await fromAddress("203.0.113.47", unknown, { ...env, FAILED_AUTH_LIMIT: "0" }), 401, "invalid_api_key", unknown);
  });
});
