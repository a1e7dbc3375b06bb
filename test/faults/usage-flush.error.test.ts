/**
 * D1 failing during the KeyLimiter's usage flush (its alarm), with the real objects and D1: the
 * object keeps every count, keeps its alarm scheduled and retries; once D1 is back, D1 holds the
 * counts exactly — also when a flush landed and only its answer was lost, and when the object is
 * evicted while D1 is down. test/limiter/usage-flush.test.ts has the single failed flush.
 */
import { evictDurableObject, runDurableObjectAlarm } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { keyLimiter } from "../../src/limiter/client";
import { env, mintKey, newProject, sendWith, setLimits, settleCounts, withKey, type MintedKey } from "../helpers";
import { expectCounted, failingBatches, objectUsesDb, usageRow } from "./faults";

async function freshKey(type: "public" | "secret" = "public"): Promise<MintedKey> {
  return mintKey(await newProject("Storage faults"), { type });
}

function ingest(key: string): Request {
  return new Request("https://gateway.test/v1/events", withKey(key, { method: "POST", body: '{"event":"x"}' }));
}

/** Sends `count` events one after another; answers how many were admitted (2xx) and refused (429). */
async function traffic(testEnv: typeof env, key: MintedKey, count: number): Promise<{ ok: number; limited: number }> {
  let ok = 0;
  let limited = 0;
  for (let i = 0; i < count; i++) {
    const res = await sendWith(testEnv, ingest(key.key));
    if (res.status === 200) ok++;
    else if (res.status === 429) limited++;
    else throw new Error(`unexpected ${res.status}: ${await res.text()}`);
    await res.body?.cancel();
  }
  return { ok, limited };
}

describe("D1 failing during the usage flush", { timeout: 30_000 }, () => {
  it("the object keeps the counts through several failed flushes, keeps retrying, and D1 holds them exactly once it is back", async () => {
    const key = await freshKey();
    const stub = keyLimiter(env, key.id);
    let d1Down = true;
    const restore = await objectUsesDb(key.id, (db) => failingBatches(db, () => d1Down));
    try {
      let sent = 0;
      for (let flush = 0; flush < 3; flush++) {
        sent += (await traffic(env, key, 7)).ok;
        await settleCounts();
        // The flush fails, and the object schedules the next attempt itself.
        expect(await runDurableObjectAlarm(stub), `flush ${flush} failed and another is scheduled`).toBe(true);
        expect(await usageRow(key.id)).toBeNull();
      }
      expect(sent).toBe(21);
      d1Down = false;
      expect(await runDurableObjectAlarm(stub)).toBe(true);
      expect(await usageRow(key.id)).toEqual({ requests: 21, rejected: 0 });
      // Delivered: nothing left to flush, no alarm left scheduled.
      expect(await runDurableObjectAlarm(stub)).toBe(false);
    } finally {
      await restore();
    }
  });

  it("refusals (429) made while D1 is down are counted too", async () => {
    const key = await freshKey("secret");
    await setLimits(key.id, { burst: 5, rate: 1 });
    let d1Down = true;
    const restore = await objectUsesDb(key.id, (db) => failingBatches(db, () => d1Down));
    try {
      const { ok, limited } = await traffic(env, key, 9);
      expect(ok).toBeGreaterThanOrEqual(5);
      expect(ok + limited).toBe(9);
      await settleCounts();
      expect(await runDurableObjectAlarm(keyLimiter(env, key.id))).toBe(true);
      expect(await usageRow(key.id)).toBeNull();
      d1Down = false;
      await expectCounted(key.id, ok, limited);
    } finally {
      await restore();
    }
  });

  it("a flush that landed but whose answer was lost is not counted twice by the retry", async () => {
    const key = await freshKey();
    const stub = keyLimiter(env, key.id);
    let answerLost = true;
    const restore = await objectUsesDb(key.id, (db) => failingBatches(db, () => answerLost, "after-commit"));
    try {
      const first = await traffic(env, key, 6);
      await settleCounts();
      expect(await runDurableObjectAlarm(stub)).toBe(true); // landed, but the object saw an error
      expect(await usageRow(key.id)).toEqual({ requests: first.ok, rejected: 0 });
      const second = await traffic(env, key, 4);
      await settleCounts();
      expect(await runDurableObjectAlarm(stub)).toBe(true); // again
      answerLost = false;
      await expectCounted(key.id, first.ok + second.ok);
    } finally {
      await restore();
    }
  });

  it("the object evicted while D1 is down keeps its counts, and its alarm delivers them once D1 is back", async () => {
    const key = await freshKey();
    const stub = keyLimiter(env, key.id);
    const restore = await objectUsesDb(key.id, (db) => failingBatches(db, () => true));
    const { ok } = await traffic(env, key, 8);
    await settleCounts();
    expect(await runDurableObjectAlarm(stub)).toBe(true); // failed
    await restore();
    // A fresh instance (the real env again: D1 is back) restores the counts from its storage.
    await evictDurableObject(stub);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await usageRow(key.id)).toEqual({ requests: ok, rejected: 0 });
  });
});
