/**
 * Daily counts land in D1 exactly, without a D1 write per request: after traffic and a flush,
 * D1's count equals the 2xx answers — also when a flush fails once, when an alarm runs twice,
 * and when the object is evicted after the write-behind interval.
 */
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { utcDay } from "../../src/limiter/bucket";
import { keyLimiter } from "../../src/limiter/client";
import { MINUTE_PRUNE_INTERVAL_MS, WRITE_BEHIND_MS, type KeyLimiter } from "../../src/limiter/key-limiter";
import type { Env as GatewayEnv } from "../../src/config";
import { env, gateway, mintKey, newProject, operator, settleCounts, withKey, type MintedKey } from "../helpers";


async function traffic(key: MintedKey, count: number): Promise<{ ok: number; limited: number }> {
  const responses = await Promise.all(
    Array.from({ length: count }, () => gateway("/v1/events", withKey(key.key, { method: "POST", body: "{}" }))),
  );
  let ok = 0;
  let limited = 0;
  for (const res of responses) {
    if (res.status >= 200 && res.status < 300) ok++;
    else if (res.status === 429) limited++;
    await res.body?.cancel();
  }
  return { ok, limited };
}

/** Runs the object's alarm with its D1 binding wrapped (failures injected, statements counted). */
async function alarmWithD1(stub: DurableObjectStub<KeyLimiter>, wrap: (db: D1Database) => Partial<D1Database>): Promise<void> {
  await runInDurableObject(stub, async (instance: KeyLimiter) => {
    const holder = instance as unknown as { env: GatewayEnv };
    const real = holder.env;
    const overrides = wrap(real.DB);
    const DB = new Proxy(real.DB, {
      get: (target, prop) => (prop in overrides ? overrides[prop as keyof D1Database] : Reflect.get(target, prop, target)),
    });
    holder.env = { ...real, DB };
    try {
      await instance.alarm();
    } finally {
      holder.env = real;
    }
  });
}

async function usageRow(keyId: string): Promise<{ requests: number; rejected: number } | null> {
  return env.DB.prepare("SELECT requests, rejected FROM usage_daily WHERE key_id = ?1 AND day = ?2")
    .bind(keyId, utcDay(Date.now()))
    .first<{ requests: number; rejected: number }>();
}

describe("usage flush", { timeout: 20_000 }, () => {
  it("D1's count for the key and day equals the 2xx answers, and nothing is written before the flush", async () => {
    const key = await mintKey(await newProject(), { type: "public" });
    await operator("PUT", `/keys/${key.id}/limits`, { burst: 150 });
    const { ok, limited } = await traffic(key, 200);
    expect(ok).toBeGreaterThanOrEqual(150);
    expect(await usageRow(key.id)).toBeNull(); // no D1 write per request
    await settleCounts();
    expect(await runDurableObjectAlarm(keyLimiter(env, key.id))).toBe(true);
    expect(await usageRow(key.id)).toEqual({ requests: ok, rejected: limited });
    const row = await env.DB.prepare("SELECT last_used_at FROM api_keys WHERE id = ?1").bind(key.id).first<{ last_used_at: string }>();
    expect(Date.now() - Date.parse(row!.last_used_at)).toBeLessThan(60_000);
    // Nothing left to flush: no alarm stays scheduled.
    expect(await runDurableObjectAlarm(keyLimiter(env, key.id))).toBe(false);
  });

  it("an alarm that runs twice counts nothing twice", async () => {
    const key = await mintKey(await newProject(), { type: "secret" });
    const { ok } = await traffic(key, 40);
    await settleCounts();
    const stub = keyLimiter(env, key.id);
    await runDurableObjectAlarm(stub);
    await runInDurableObject(stub, (instance: KeyLimiter) => instance.alarm());
    await runInDurableObject(stub, (instance: KeyLimiter) => instance.alarm());
    expect(await usageRow(key.id)).toEqual({ requests: ok, rejected: 0 });
  });

  it("a flush that fails keeps its counts and the next one delivers them", async () => {
    const key = await mintKey(await newProject(), { type: "secret" });
    const first = await traffic(key, 25);
    await settleCounts();
    const stub = keyLimiter(env, key.id);
    await alarmWithD1(stub, () => ({ batch: () => Promise.reject(new Error("D1 is down")) }));
    expect(await usageRow(key.id)).toBeNull();
    const second = await traffic(key, 15);
    await settleCounts();
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await usageRow(key.id)).toEqual({ requests: first.ok + second.ok, rejected: 0 });
  });

  it("nothing is lost when the object is evicted after the write-behind interval", async () => {
    const key = await mintKey(await newProject(), { type: "public" });
    const { ok } = await traffic(key, 60);
    await settleCounts();
    const stub = keyLimiter(env, key.id);
    await evictDurableObject(stub);
    // A fresh instance restores the counts from its storage, and its alarm delivers them.
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await usageRow(key.id)).toEqual({ requests: ok, rejected: 0 });
    // And it keeps counting from there, not from zero.
    const more = await traffic(key, 5);
    await settleCounts(); // a lease the traffic took is reported (its tokens no longer held back from the day's quota)
    const res = await gateway("/v1/events", withKey(key.key, { method: "POST" }));
    expect(res.headers.get("x-ratelimit-remaining-day")).toBe(String(1_000_000 - ok - more.ok - 1));
  });

  it("a 401/403 counted while a flush is on its way to D1 goes with the next flush", async () => {
    const key = await mintKey(await newProject(), { type: "public" });
    const stub = keyLimiter(env, key.id);
    // A public key may not read events: each such call is refused here (403) and counted as denied.
    const refused = { keyId: key.id, need: { permission: "events:read" as const, publicKey: false, action: "read events" }, origin: null };
    await runInDurableObject(stub, (instance: KeyLimiter) => instance.decide(refused));
    await settleCounts();
    let deniedMeanwhile = false;
    await runInDurableObject(stub, async (instance: KeyLimiter) => {
      const holder = instance as unknown as { env: GatewayEnv };
      const real = holder.env;
      const DB = new Proxy(real.DB, {
        get: (target, prop) =>
          prop !== "batch"
            ? Reflect.get(target, prop, target)
            : async (statements: D1PreparedStatement[]) => {
                // The batch holds denied = 1; one more refusal lands before D1 answers.
                if (!deniedMeanwhile) await instance.decide(refused);
                deniedMeanwhile = true;
                return target.batch(statements);
              },
      });
      holder.env = { ...real, DB };
      try {
        await instance.alarm();
      } finally {
        holder.env = real;
      }
    });
    const denied = () => env.DB.prepare("SELECT denied FROM usage_daily WHERE key_id = ?1").bind(key.id).first<number>("denied");
    expect(await denied()).toBe(1);
    await settleCounts();
    await runDurableObjectAlarm(stub);
    expect(await denied()).toBe(2);
  });

  it("a day boundary during traffic splits the counts between the two days", async () => {
    const key = await mintKey(await newProject(), { type: "secret" });
    const stub = keyLimiter(env, key.id);
    await traffic(key, 3);
    const today = utcDay(Date.now());
    const midnight = (Math.floor(Date.now() / 86_400_000) + 1) * 86_400_000;
    const tomorrow = utcDay(midnight);
    // Move the object's clock to just after midnight and send more traffic.
    await runInDurableObject(stub, (instance: KeyLimiter) => {
      const realNow = Date.now;
      const offset = midnight + 1000 - realNow();
      Date.now = () => realNow() + offset;
      return Promise.all(
        Array.from({ length: 4 }, () =>
          instance.decide({ keyId: key.id, need: { permission: "events:write", publicKey: true, action: "send events" }, origin: null }),
        ),
      ).finally(() => {
        Date.now = realNow;
      });
    });
    await settleCounts();
    await runInDurableObject(stub, (instance: KeyLimiter) => instance.alarm());
    const rows = await env.DB.prepare("SELECT day, requests FROM usage_daily WHERE key_id = ?1 ORDER BY day").bind(key.id).all<{ day: string; requests: number }>();
    expect(rows.results).toEqual([
      { day: today, requests: 3 },
      { day: tomorrow, requests: 4 },
    ]);
  });

  it("costs at most a handful of D1 statements per thousand requests", async () => {
    const key = await mintKey(await newProject(), { type: "secret" });
    let statements = 0;
    let batches = 0;
    const stub = keyLimiter(env, key.id);
    await traffic(key, 1000);
    await settleCounts();
    await alarmWithD1(stub, (db) => ({
      prepare: (sql: string) => (statements++, db.prepare(sql)),
      batch: (list: D1PreparedStatement[]) => (batches++, db.batch(list)),
    }));
    // One batch: the day's upsert, the minute's (the dashboard's last hour; two if the traffic
    // crossed a minute), the pruning of the key's old minutes (a fresh object's first flush), last_used_at.
    expect(batches).toBe(1);
    expect(statements).toBeLessThanOrEqual(5);
    expect((await usageRow(key.id))?.requests).toBe(1000);
  });

  it("drops the key's minutes older than two hours every ten minutes, not with every flush", async () => {
    const key = await mintKey(await newProject(), { type: "secret" });
    const stub = keyLimiter(env, key.id);
    const oldMinute = async () => {
      const label = new Date(Date.now() - 3 * 3_600_000).toISOString().slice(0, 16);
      await env.DB.prepare("INSERT OR REPLACE INTO usage_minute (key_id, project_id, minute, requests, rejected, denied) VALUES (?1, ?2, ?3, 1, 0, 0)")
        .bind(key.id, key.project_id, label)
        .run();
      return label;
    };
    const minuteKept = async (label: string) =>
      (await env.DB.prepare("SELECT 1 AS kept FROM usage_minute WHERE key_id = ?1 AND minute = ?2").bind(key.id, label).first()) !== null;
    const flush = async () => {
      let statements = 0;
      expect((await traffic(key, 5)).ok).toBe(5);
      await settleCounts();
      await alarmWithD1(stub, (db) => ({ prepare: (sql: string) => (statements++, db.prepare(sql)) }));
      return statements;
    };

    const first = await oldMinute();
    expect(await flush(), "a fresh object's first flush prunes").toBeGreaterThanOrEqual(4);
    expect(await minuteKept(first)).toBe(false);

    // The next flushes leave old minutes alone (for ten minutes), and are three statements each:
    // the day, the minute (two if the traffic crossed a minute), last_used_at.
    const second = await oldMinute();
    expect(await flush()).toBeLessThanOrEqual(4);
    // An object evicted between flushes (as an idle one is) remembers when it pruned.
    await settleCounts();
    await evictDurableObject(stub);
    expect(await flush()).toBeLessThanOrEqual(4);
    expect(await minuteKept(second)).toBe(true);
    // Ten minutes on, as the object's clock will have it: the next flush prunes again.
    await runInDurableObject(stub, (instance: KeyLimiter) => {
      const object = instance as unknown as { minutesPrunedAt: number };
      object.minutesPrunedAt -= MINUTE_PRUNE_INTERVAL_MS;
    });
    await flush();
    expect(await minuteKept(second)).toBe(false);
    expect((await usageRow(key.id))?.requests).toBe(20);
  });
});
