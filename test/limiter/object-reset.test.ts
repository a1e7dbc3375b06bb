/**
 * A key's object reset abruptly (a crash, a deploy) between its storage writes: the requests it
 * admitted since its last write must not be admitted again by the object that takes its place —
 * neither from the bucket nor from the day's quota. And a reset after the key went quiet holds
 * nothing back. Reads are asked of the object per request (never leased), so they take this path.
 * Counts an isolate hands over and forgets on the answer (an outage's unmetered requests, its own
 * 429s, a lease's final report) survive a reset right after that answer.
 */
import { abortAllDurableObjects, evictDurableObject, runDurableObjectAlarm } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { keyLimiter } from "../../src/limiter/client";
import { readDecision } from "../../src/limiter/key-limiter";
import { overloadedError, usageRow, type DayRow } from "../faults/faults";
import { answerOf, env, envWithFailingLimiter, gateway, mintKey, newProject, setLimits, settleCounts, withKey, type MintedKey } from "../helpers";

/** Sends `count` reads at once; answers how many were admitted (the rest must be 429). */
async function reads(key: MintedKey, count: number): Promise<number> {
  const responses = await Promise.all(Array.from({ length: count }, () => gateway("/v1/project", withKey(key.key))));
  await Promise.all(responses.map((res) => res.body?.cancel()));
  expect(responses.every((res) => res.status === 200 || res.status === 429)).toBe(true);
  return responses.filter((res) => res.status === 200).length;
}

/** Today's D1 row of the key once its object has flushed (zeros: none). */
async function d1Row(keyId: string): Promise<DayRow> {
  await runDurableObjectAlarm(keyLimiter(env, keyId));
  return (await usageRow(keyId)) ?? { requests: 0, rejected: 0 };
}

async function d1Requests(keyId: string): Promise<number> {
  return (await d1Row(keyId)).requests;
}

const EVENTS = { permission: "events:write", publicKey: true, action: "send events" } as const;

function ingest(key: MintedKey): Request {
  return new Request("https://gateway.test/v1/events", withKey(key.key, { method: "POST", body: '{"event":"x"}' }));
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

describe("an object reset right after it acknowledged counts an isolate handed over", { timeout: 20_000 }, () => {
  it("keeps an outage's unmetered requests: in D1, and taken from the day's quota", async () => {
    const key = await mintKey(await newProject(), { type: "public" });
    await setLimits(key.id, { burst: 100, rate: 100, daily: 12 });
    let down = true;
    const outage = envWithFailingLimiter(() => down, () => Promise.reject(overloadedError()));
    const answers = await Promise.all(Array.from({ length: 10 }, () => answerOf(outage, ingest(key))));
    expect(answers.map(({ res }) => res.status)).toEqual(Array(10).fill(200)); // failed open
    down = false;
    await Promise.all(answers.map(({ done }) => done)); // the report counted and acknowledged: the isolate has dropped it
    await abortAllDurableObjects();
    expect(await reads(key, 5), "10 of the day's 12 went through in the outage").toBe(2);
    expect(await d1Requests(key.id)).toBe(12);
  });

  it("keeps the 429s an isolate refused itself and reported", async () => {
    const key = await mintKey(await newProject(), { type: "public" });
    await keyLimiter(env, key.id).recordRefused(7, Date.now());
    await abortAllDurableObjects();
    expect((await d1Row(key.id)).rejected).toBe(7);
  });

  it("keeps a lease's final report: its requests in D1, its unused tokens in the bucket", async () => {
    const key = await mintKey(await newProject(), { type: "secret" });
    await setLimits(key.id, { burst: 1_000, rate: 25, daily: 100_000 }); // a lease of up to 50 (rate × 2 × LEASE_MS)
    const object = keyLimiter(env, key.id);
    const started = Date.now();
    const decision = readDecision(await object.admit({ keyId: key.id, need: EVENTS, origin: null, lease: { leaseId: "ending", want: 50 } }));
    expect(decision.ok && "lease" in decision && decision.lease?.topUp).toBe(50);
    await object.renewLease({ keyId: key.id, leaseId: "ending", usedTotal: 20, refusedTotal: 3, want: 0, final: true });
    await abortAllDurableObjects();
    const read = await gateway("/v1/project", withKey(key.key));
    expect(read.status).toBe(200);
    await read.body?.cancel();
    // 1,000 − the admit − the 20 used − this read; the lease's other 30 came back. Plus what refilled meanwhile.
    const remaining = Number(read.headers.get("x-ratelimit-remaining"));
    expect(remaining).toBeGreaterThanOrEqual(978);
    expect(remaining).toBeLessThanOrEqual(978 + Math.ceil(((Date.now() - started) / 1000) * 25));
    expect(await d1Row(key.id)).toEqual({ requests: 22, rejected: 3 });
  });
});
