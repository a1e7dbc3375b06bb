/**
 * A key hammered above its limit: the isolate repeats the KeyLimiter's 429 while the object's
 * answer cannot change, and every request refused that way still reaches the key's `rejected`
 * count in D1.
 */
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { utcDay } from "../../src/limiter/bucket";
import { keyLimiter } from "../../src/limiter/client";
import { WRITE_BEHIND_MS, type KeyLimiter } from "../../src/limiter/key-limiter";
import {
  admittedAfterRefusal,
  claimReport,
  forgetRefusals,
  isLimitRefusal,
  MEMORY_CAP_MS,
  recallRefusal,
  refusalSlot,
  rememberRefusal,
  reportDone,
  returnRefused,
  settleRefusal,
  takeRefused,
  type LimitRefusal,
} from "../../src/limiter/refusal-memory";
import { env, expectProblem, gateway, mintKey, newProject, operator, withKey } from "../helpers";

const T0 = Date.UTC(2026, 10, 26, 12, 0, 0);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function rateLimited(tokens: number, now = T0): LimitRefusal {
  return {
    ok: false,
    code: "rate_limited",
    detail: "over the rate limit",
    rate: { rate: 10, burst: 100, daily: 1000, tokens, dayUsed: 100, now },
    violated: "burst",
    retryAfter: 1,
  };
}

describe("refusal memory (pure)", () => {
  it("repeats a rate_limited answer until the bucket holds a whole token, re-based to each request", () => {
    const slot = refusalSlot("key_rate", "events:write", null);
    rememberRefusal(slot, rateLimited(0.5)); // 10/s: a whole token 50 ms later
    const at10 = recallRefusal(slot, "key_rate", T0 + 10)!;
    expect(at10.code).toBe("rate_limited");
    expect(at10.rate.now).toBe(T0 + 10);
    expect(at10.rate.tokens).toBeCloseTo(0.6);
    expect(at10.retryAfter).toBe(1);
    expect(recallRefusal(slot, "key_rate", T0 + 49)).toBeDefined();
    expect(takeRefused("key_rate")).toBe(2);
    expect(takeRefused("key_rate")).toBe(0);
  });

  it("once the object may answer differently, one request asks it and the others keep the 429 until it answers", () => {
    const slot = refusalSlot("key_ask", "events:write", null);
    rememberRefusal(slot, rateLimited(0.5)); // until T0 + 50
    expect(recallRefusal(slot, "key_ask", T0 + 50)).toBeUndefined(); // this one asks
    const meanwhile = recallRefusal(slot, "key_ask", T0 + 60)!; // a token has come, but the answer is pending
    expect(meanwhile.rate.tokens).toBeLessThan(1); // so the headers still say 0 remaining
    expect(meanwhile.retryAfter).toBe(1);
    settleRefusal(slot); // the object admitted the one that asked
    expect(recallRefusal(slot, "key_ask", T0 + 61)).toBeUndefined();
    expect(takeRefused("key_ask")).toBe(1);

    rememberRefusal(slot, rateLimited(0.5));
    expect(recallRefusal(slot, "key_ask", T0 + 50)).toBeUndefined();
    expect(recallRefusal(slot, "key_ask", T0 + 50 + MEMORY_CAP_MS - 1)).toBeDefined();
    // An answer that never comes: after another MEMORY_CAP_MS everyone asks again.
    expect(recallRefusal(slot, "key_ask", T0 + 50 + MEMORY_CAP_MS)).toBeUndefined();
    expect(recallRefusal(slot, "key_ask", T0 + 50 + MEMORY_CAP_MS)).toBeUndefined();
    takeRefused("key_ask");
  });

  it("an admit that took the last whole token carries the memory on; one that left tokens ends it", () => {
    const slot = refusalSlot("key_admit", "events:write", null);
    rememberRefusal(slot, rateLimited(0.5)); // until T0 + 50
    expect(recallRefusal(slot, "key_admit", T0 + 50)).toBeUndefined(); // asks, and is admitted:
    admittedAfterRefusal(slot, { ...rateLimited(0.2, T0 + 52).rate }); // 0.2 left: refused again until T0 + 132
    const next = recallRefusal(slot, "key_admit", T0 + 60)!;
    expect(next.code).toBe("rate_limited");
    expect(next.rate.tokens).toBeCloseTo(0.28);
    expect(recallRefusal(slot, "key_admit", T0 + 131)).toBeDefined();
    expect(recallRefusal(slot, "key_admit", T0 + 132)).toBeUndefined();
    admittedAfterRefusal(slot, { ...rateLimited(5, T0 + 133).rate }); // tokens to spare: ask the object
    expect(recallRefusal(slot, "key_admit", T0 + 134)).toBeUndefined();
    expect(recallRefusal(slot, "key_admit", T0 + 135)).toBeUndefined();
    takeRefused("key_admit");
  });

  it("never for longer than MEMORY_CAP_MS, however slow the refill", () => {
    const slot = refusalSlot("key_slow", "events:write", null);
    rememberRefusal(slot, { ...rateLimited(0), rate: { ...rateLimited(0).rate, rate: 0.01 } }); // a token in 100 s
    expect(recallRefusal(slot, "key_slow", T0 + MEMORY_CAP_MS - 1)!.retryAfter).toBe(100);
    expect(recallRefusal(slot, "key_slow", T0 + MEMORY_CAP_MS)).toBeUndefined();
    takeRefused("key_slow");
  });

  it("repeats daily_quota_exceeded for at most MEMORY_CAP_MS, never past midnight, Retry-After to midnight", () => {
    const noon = rememberAt(T0);
    expect(recallRefusal(noon, "key_day", T0 + MEMORY_CAP_MS - 1)!.retryAfter).toBe(12 * 3600); // 43,199.9 s, rounded up
    expect(recallRefusal(noon, "key_day", T0 + MEMORY_CAP_MS)).toBeUndefined();

    const lateNight = rememberAt(Date.UTC(2026, 10, 26, 23, 59, 59, 950));
    expect(recallRefusal(lateNight, "key_day", Date.UTC(2026, 10, 26, 23, 59, 59, 999))).toBeDefined();
    expect(recallRefusal(lateNight, "key_day", Date.UTC(2026, 10, 27))).toBeUndefined(); // a new day, a new quota
    expect(recallRefusal(lateNight, "key_day", Date.UTC(2026, 10, 27, 0, 0, 0, 10))).toBeUndefined(); // not even while one asks
    takeRefused("key_day");

    function rememberAt(now: number): string {
      const slot = refusalSlot("key_day", "events:write", `o${now}`);
      rememberRefusal(slot, { ...rateLimited(50, now), code: "daily_quota_exceeded", violated: "daily" });
      return slot;
    }
  });

  it("keeps only 429s, per key, permission and origin", () => {
    expect(isLimitRefusal(rateLimited(0))).toBe(true);
    expect(isLimitRefusal({ ok: false, code: "insufficient_permissions", detail: "no", rate: rateLimited(0).rate })).toBe(false);
    expect(isLimitRefusal({ ok: false, code: "revoked_api_key", detail: "revoked" })).toBe(false);
    expect(isLimitRefusal({ ok: true, scopes: ["events:write"], rate: rateLimited(5).rate })).toBe(false);

    rememberRefusal(refusalSlot("key_slots", "events:write", "https://a.example"), rateLimited(0));
    expect(recallRefusal(refusalSlot("key_slots", "events:read", "https://a.example"), "key_slots", T0 + 1)).toBeUndefined();
    expect(recallRefusal(refusalSlot("key_slots", "events:write", "https://b.example"), "key_slots", T0 + 1)).toBeUndefined();
    expect(recallRefusal(refusalSlot("key_slots", "events:write", "https://a.example"), "key_slots", T0 + 1)).toBeDefined();
    expect(takeRefused("key_slots")).toBe(1);
  });

  it("forgets a key's 429s when its policy changes here, and only that key's", () => {
    const a = refusalSlot("key_a", "events:write", null);
    const a2 = refusalSlot("key_a", "events:read", "https://a.example");
    const b = refusalSlot("key_ab", "events:write", null); // a key id that starts like the other
    for (const slot of [a, a2, b]) rememberRefusal(slot, rateLimited(0));
    forgetRefusals("key_a");
    expect(recallRefusal(a, "key_a", T0 + 1)).toBeUndefined();
    expect(recallRefusal(a2, "key_a", T0 + 1)).toBeUndefined();
    expect(recallRefusal(b, "key_ab", T0 + 1)).toBeDefined();
    takeRefused("key_ab");
  });

  it("counts handed back are kept; one report at a time per key", () => {
    returnRefused("key_back", 3);
    returnRefused("key_back", 0);
    expect(takeRefused("key_back")).toBe(3);
    expect(claimReport("key_back")).toBe(true);
    expect(claimReport("key_back")).toBe(false);
    reportDone("key_back");
    expect(claimReport("key_back")).toBe(true);
    reportDone("key_back");
  });
});

async function usageRow(keyId: string): Promise<{ requests: number; rejected: number } | null> {
  return env.DB.prepare("SELECT requests, rejected FROM usage_daily WHERE key_id = ?1 AND day = ?2")
    .bind(keyId, utcDay(Date.now()))
    .first<{ requests: number; rejected: number }>();
}

const send = (key: string) => gateway("/v1/events", withKey(key, { method: "POST", body: "{}" }));

describe("refusal memory through the Worker", () => {
  it("a hammered key gets the same 429s without each reaching its object, and D1 counts every one", async () => {
    const key = await mintKey(await newProject(), { type: "secret" });
    await operator("PUT", `/keys/${key.id}/limits`, { rate: 1, burst: 2 });
    expect((await send(key.key)).status).toBe(200);
    expect((await send(key.key)).status).toBe(200);
    await expectProblem(await send(key.key), 429, "rate_limited", key.key); // from the object, remembered
    const hammered = await Promise.all(Array.from({ length: 9 }, () => send(key.key)));
    for (const res of hammered) {
      const body = await expectProblem(res, 429, "rate_limited", key.key);
      expect(body["violated-policies"]).toEqual(["burst"]);
      expect(Number(res.headers.get("retry-after"))).toBe(1);
      expect(res.headers.get("x-ratelimit-remaining")).toBe("0");
    }
    // The object has seen one refusal so far; the nine were answered by the isolate.
    const seen = await runInDurableObject(keyLimiter(env, key.id), (instance: KeyLimiter) => {
      const { days } = instance as unknown as { days: Map<string, { requests: number; rejected: number }> };
      return { ...days.get(utcDay(Date.now())) };
    });
    expect(seen).toEqual({ requests: 2, rejected: 1 });

    // Once the memory is over, they are reported: D1 counts all ten.
    await sleep(MEMORY_CAP_MS + 300);
    expect(await runDurableObjectAlarm(keyLimiter(env, key.id))).toBe(true);
    expect(await usageRow(key.id)).toEqual({ requests: 2, rejected: 10 });
  });

  it("a request the object would refuse with 403 is not answered from a remembered 429", async () => {
    const key = await mintKey(await newProject(), { type: "secret", scopes: ["events:write"] });
    await operator("PUT", `/keys/${key.id}/limits`, { rate: 1, burst: 1 });
    expect((await send(key.key)).status).toBe(200);
    await expectProblem(await send(key.key), 429, "rate_limited", key.key);
    await expectProblem(await gateway("/v1/export", withKey(key.key)), 403, "insufficient_permissions", key.key);
  });

  it("a revoke or a raised limit through the gateway reaches the very next request, 429s remembered or not", async () => {
    const revoked = await mintKey(await newProject(), { type: "secret" });
    await operator("PUT", `/keys/${revoked.id}/limits`, { rate: 1, burst: 1 });
    expect((await send(revoked.key)).status).toBe(200);
    await expectProblem(await send(revoked.key), 429, "rate_limited", revoked.key);
    expect((await operator("DELETE", `/keys/${revoked.id}`)).status).toBe(200);
    await expectProblem(await send(revoked.key), 401, "revoked_api_key", revoked.key);

    const raised = await mintKey(await newProject(), { type: "secret" });
    await operator("PUT", `/keys/${raised.id}/limits`, { daily: 1 });
    expect((await send(raised.key)).status).toBe(200);
    await expectProblem(await send(raised.key), 429, "daily_quota_exceeded", raised.key);
    await operator("PUT", `/keys/${raised.id}/limits`, { daily: 2 });
    expect((await send(raised.key)).status).toBe(200);
  });

  it("refusals handed over with the next admit are counted on that day", async () => {
    const key = await mintKey(await newProject(), { type: "secret" });
    expect((await send(key.key)).status).toBe(200);
    await runInDurableObject(keyLimiter(env, key.id), (instance: KeyLimiter) =>
      instance.decide({ keyId: key.id, need: { permission: "events:write", publicKey: true, action: "send events" }, origin: null, refusedMeanwhile: 5 }),
    );
    await sleep(WRITE_BEHIND_MS * 3);
    await runDurableObjectAlarm(keyLimiter(env, key.id));
    expect(await usageRow(key.id)).toEqual({ requests: 2, rejected: 5 });
  });
});
