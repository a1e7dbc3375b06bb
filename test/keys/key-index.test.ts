/**
 * The key index through the Worker, with the real KV and D1 bindings wrapped to count reads:
 * a new key works on its very next request even when KV does not have it yet, and a malformed
 * key costs no storage lookup at all.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import worker from "../../src/index";
import { hashKey, kvKeyName } from "../../src/keys/key-index";
import { generateKey } from "../../src/keys/format";
import { env, expectProblem, mintKey, newProject, withKey, type MintedKey } from "../helpers";

interface Reads {
  kv: number;
  d1: number;
  limiter: number;
}

/** The real env, with KV gets, D1 statements and KeyLimiter lookups counted. */
function countingEnv(): { env: typeof env; reads: Reads } {
  const reads: Reads = { kv: 0, d1: 0, limiter: 0 };
  const KEYS = new Proxy(env.KEYS, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (prop === "get" || prop === "getWithMetadata") return (...args: unknown[]) => (reads.kv++, value.apply(target, args));
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  const DB = new Proxy(env.DB, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (prop === "prepare") return (...args: unknown[]) => (reads.d1++, value.apply(target, args));
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  const KEY_LIMITER = new Proxy(env.KEY_LIMITER, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (prop === "getByName" || prop === "get") return (...args: unknown[]) => (reads.limiter++, value.apply(target, args));
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { env: { ...env, KEYS, DB, KEY_LIMITER }, reads };
}

async function send(key: string, counting: typeof env): Promise<Response> {
  const ctx = createExecutionContext();
  const res = await worker.fetch(new Request("https://gateway.test/v1/events", withKey(key, { method: "POST", body: "{}" })), counting, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

let project: string;
beforeAll(async () => {
  project = await newProject();
});

describe("key index", () => {
  it("a malformed key (bad checksum) causes no KV, D1 or Durable Object read", async () => {
    const good = (await mintKey(project, { type: "public" })).key;
    const typo = good.slice(0, 20) + (good[20] === "a" ? "b" : "a") + good.slice(21);
    const { env: counting, reads } = countingEnv();
    await expectProblem(await send(typo, counting), 401, "malformed_api_key", typo);
    expect(reads).toEqual({ kv: 0, d1: 0, limiter: 0 });
  });

  it("a key created through the operator API works on the next request, even before KV has it (D1 path)", async () => {
    const created: MintedKey = await mintKey(project, { type: "public" });
    const kvName = kvKeyName(await hashKey("test-key-hash-secret", created.key));
    // As in a location KV has not reached yet: the entry is not there.
    await env.KEYS.delete(kvName);

    const { env: counting, reads } = countingEnv();
    const res = await send(created.key, counting);
    expect(res.status).toBe(200);
    expect(reads.kv).toBe(1);
    expect(reads.d1).toBe(1);
    // The D1 hit refilled KV for everyone else.
    expect(await env.KEYS.get(kvName, "json")).toEqual({
      keyId: created.id,
      projectId: project,
      type: "public",
      environment: "test",
    });
  });

  it("after the first lookup the isolate cache answers: no KV or D1 read per request", async () => {
    const created = await mintKey(project, { type: "secret" });
    const first = countingEnv();
    expect((await send(created.key, first.env)).status).toBe(200);
    expect(first.reads).toMatchObject({ kv: 1, d1: 0 });
    const then = countingEnv();
    for (let i = 0; i < 5; i++) expect((await send(created.key, then.env)).status).toBe(200);
    expect(then.reads).toMatchObject({ kv: 0, d1: 0, limiter: 5 });
  });

  it("an unknown well-formed key is looked up once, then refused from memory", async () => {
    const unknown = generateKey("public", "test");
    const first = countingEnv();
    await expectProblem(await send(unknown, first.env), 401, "invalid_api_key", unknown);
    expect(first.reads).toEqual({ kv: 1, d1: 1, limiter: 0 });
    const again = countingEnv();
    await expectProblem(await send(unknown, again.env), 401, "invalid_api_key", unknown);
    expect(again.reads).toEqual({ kv: 0, d1: 0, limiter: 0 });
  });

  it("stores only the keyed hash: neither D1 nor KV holds the plaintext", async () => {
    const created = await mintKey(project, { type: "secret" });
    const row = await env.DB.prepare("SELECT * FROM api_keys WHERE id = ?1").bind(created.id).first();
    expect(JSON.stringify(row)).not.toContain(created.key);
    expect(row?.key_hash).toBe(await hashKey("test-key-hash-secret", created.key));
    const { keys } = await env.KEYS.list();
    for (const { name } of keys) {
      expect(name).not.toContain(created.key);
      expect(await env.KEYS.get(name)).not.toContain(created.key);
    }
  });
});
