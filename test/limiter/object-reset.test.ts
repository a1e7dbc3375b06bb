/**
 * A key's object reset abruptly (a crash, a deploy) between its storage writes: the requests it
 * admitted since its last write must not be admitted again by the object that takes its place —
 * neither from the bucket nor from the day's quota. And a reset after the key went quiet holds
 * nothing back. Reads are asked of the object per request (never leased), so they take this path.
 */
import { abortAllDurableObjects, evictDurableObject, runDurableObjectAlarm } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { utcDay } from "../../src/limiter/bucket";
import { keyLimiter } from "../../src/limiter/client";
import { env, gateway, mintKey, newProject, setLimits, settleCounts, withKey, type MintedKey } from "../helpers";

/** Sends `count` reads at once; answers how many were admitted (the rest must be 429). */
async function reads(key: MintedKey, count: number): Promise<number> {
  const responses = await Promise.all(Array.from({ length: count }, () => gateway("/v1/project", withKey(key.key))));
  await Promise.all(responses.map((res) => res.body?.cancel()));
  expect(responses.every((res) => res.status === 200 || res.status === 429)).toBe(true);
  return responses.filter((res) => res.status === 200).length;
}

async function d1Requests(keyId: string): Promise<number> {
  await runDurableObjectAlarm(keyLimiter(env, keyId));
  const row = await env.DB.prepare("SELECT requests FROM usage_daily WHERE key_id = ?1 AND day = ?2").bind(keyId, utcDay(Date.now())).first<{ requests: number }>();
  return row?.requests ?? 0;
}

describe("an object reset between its writes", { timeout: 20_000 }, () => {
  it("gives no token of the bucket back: what it admitted before the reset stays spent", async () => {
    const key = await mintKey(await newProject(), { type: "public" });
    await setLimits(key.id, { burst: 10, rate: 1 });
    const started = Date.now();
    expect(await reads(key, 10)).toBe(10);
    await abortAllDurableObjects(); // at once: within the object's write-behind
    const after = await reads(key, 10);
    const seconds = (Date.now() - started) / 1000;
    expect(10 + after, "admitted ≤ burst + rate × seconds").toBeLessThanOrEqual(10 + Math.floor(seconds * 1));
    expect(await d1Requests(key.id), "D1 never counts more than was admitted").toBeLessThanOrEqual(10 + after);
  });

  it("gives no request of the day's quota back", async () => {
    const key = await mintKey(await newProject(), { type: "public" });
    await setLimits(key.id, { burst: 100, rate: 100, daily: 10 });
    expect(await reads(key, 10)).toBe(10);
    await abortAllDurableObjects();
    expect(await reads(key, 10), "the quota is used up").toBe(0);
  });

  it("holds nothing back after the key went quiet: an idle object's reset costs the key no token", async () => {
    const key = await mintKey(await newProject(), { type: "public" });
    await setLimits(key.id, { burst: 10, rate: 1, daily: 1_000 });
    expect(await reads(key, 5)).toBe(5);
    await settleCounts();
    await abortAllDurableObjects();
    expect(await reads(key, 10), "the 5 tokens left, and what refilled meanwhile").toBeGreaterThanOrEqual(5);
    await settleCounts();
    await evictDurableObject(keyLimiter(env, key.id));
    await setLimits(key.id, { daily: 12 });
    // The day's count survived both resets whole: 10 or more admitted, so at most 2 more.
    expect(await reads(key, 5)).toBeLessThanOrEqual(2);
  });
});
