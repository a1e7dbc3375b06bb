/**
 * Token leases through the Worker (issue 13): a key whose event-ingestion traffic is hot in this
 * isolate is admitted from leased tokens without a call per request; a cold key, a read, and a
 * key changed through this isolate are not; a key changed elsewhere stops within LEASE_MS; the
 * bucket is never exceeded; D1 counts every answer exactly once the leases are reported.
 */
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { configOf } from "../../src/config";
import { utcDay } from "../../src/limiter/bucket";
import { keyLimiter } from "../../src/limiter/client";
import { readDecision, WRITE_BEHIND_MS, type KeyLimiter } from "../../src/limiter/key-limiter";
import { MAX_LEASES, reservedOn, type Ledger } from "../../src/limiter/lease-ledger";
import { heldLease, LEASE_THRESHOLD } from "../../src/limiter/leases";
import { answerOf, env, envCountingLimiterCalls, envWithFailingLimiter, envWithLateAnswers, envWithLostRenewals, envWithUnreachableLimiter, expectProblem, failObjectBatches, gateway, mintKey, newProject, operator, sendWith, setLimits, settleCounts, withKey, type MintedKey } from "../helpers";

const LEASE_MS = configOf(env).leaseMs;
const event = (key: string, init: RequestInit = {}) => gateway("/v1/events", withKey(key, { method: "POST", body: '{"event":"e"}', ...init }));
const identifyRequest = (key: string) => new Request("https://gateway.test/v1/identify", withKey(key, { method: "POST", body: '{"user_id":"u_1"}' }));

/** Sends `count` events at once; answers the statuses. */
async function burst(key: string, count: number): Promise<number[]> {
  const responses = await Promise.all(Array.from({ length: count }, () => event(key)));
  await Promise.all(responses.map((res) => res.body?.cancel()));
  return responses.map((res) => res.status);
}

/** Requests the key's object has counted today (admitted by it, or reported by a lease). */
async function countedByObject(keyId: string): Promise<{ requests: number; rejected: number }> {
  return runInDurableObject(keyLimiter(env, keyId), (instance: KeyLimiter) => {
    const days = (instance as unknown as { days: Map<string, { requests: number; rejected: number }> }).days;
    return { ...(days.get(utcDay(Date.now())) ?? { requests: 0, rejected: 0 }) };
  });
}

async function d1Usage(keyId: string): Promise<{ requests: number; rejected: number } | null> {
  await runDurableObjectAlarm(keyLimiter(env, keyId));
  return env.DB.prepare("SELECT requests, rejected FROM usage_daily WHERE key_id = ?1 AND day = ?2")
    .bind(keyId, utcDay(Date.now()))
    .first<{ requests: number; rejected: number }>();
}

const EVENTS = { permission: "events:write", publicKey: true, action: "send events" } as const;

/** What the key's object decides for a lease asked as an isolate would ask it, with an admit. */
async function askLease(keyId: string, leaseId: string, want: number) {
  return readDecision(await keyLimiter(env, keyId).admit({ keyId, need: EVENTS, origin: null, lease: { leaseId, want } }));
}

/** The day tokens the key's object holds back for unreported leases. */
function reservedByObject(keyId: string, day: string): Promise<number> {
  return runInDurableObject(keyLimiter(env, keyId), (instance: KeyLimiter) => reservedOn((instance as unknown as { ledger: Ledger }).ledger, day));
}

/**
 * A burst turning the key hot whose object grants the lease at once but answers 300 ms late;
 * answers, once the grant is on its way and not yet held here, the burst's answers to come
 * (wrapped: an awaited promise would wait for them).
 */
async function turnHotWithLateGrant(key: MintedKey): Promise<{ answers: Promise<Awaited<ReturnType<typeof answerOf>>[]> }> {
  const late = envWithLateAnswers(300);
  const turningHot = Promise.all(Array.from({ length: LEASE_THRESHOLD + 10 }, () => answerOf(late, new Request("https://gateway.test/v1/events", withKey(key.key, { method: "POST", body: "{}" })))));
  await new Promise((resolve) => setTimeout(resolve, 100));
  expect(heldLease(key.id), "the grant is still on its way").toBeUndefined();
  return { answers: turningHot };
}

/** A hot key: a burst of events past the threshold, so that this isolate holds a lease for it. */
async function heat(key: MintedKey): Promise<void> {
  const statuses = await burst(key.key, LEASE_THRESHOLD + 10);
  expect(statuses.every((status) => status === 200)).toBe(true);
  expect(heldLease(key.id), "a lease after a burst past the threshold").toBeDefined();
}

/**
 * Sends the key's events one by one, 20 ms apart, from a change made elsewhere until one is
 * refused as `status`/`code`; checks the last admitted came within LEASE_MS. Answers how many were admitted.
 */
async function eventsUntilRefused(key: MintedKey, status: number, code: string): Promise<number> {
  const changedAt = Date.now();
  let lastAdmitted = changedAt;
  let admitted = 0;
  for (;;) {
    const res = await event(key.key);
    if (res.status !== 200) {
      await expectProblem(res, status, code, key.key);
      break;
    }
    admitted++;
    lastAdmitted = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  expect(lastAdmitted - changedAt).toBeLessThanOrEqual(LEASE_MS);
  return admitted;
}

describe("token leases", { timeout: 20_000 }, () => {
  it("engage on a hot key: its events are admitted without a call each, and D1 counts them exactly once reported", async () => {
    const key = await mintKey(await newProject(), { type: "secret" });
    await heat(key);
    const lease = heldLease(key.id)!;
    const usedBefore = lease.used;
    let admitted = 0;
    for (let i = 0; i < 40; i++) if ((await event(key.key)).status === 200) admitted++;
    expect(admitted).toBe(40);
    // Most were admitted from the lease (renewed in place as it ran low), not by a call each.
    expect(heldLease(key.id)).toBe(lease);
    expect(lease.used - usedBefore).toBeGreaterThanOrEqual(30);
    await settleCounts();
    expect(heldLease(key.id)).toBeUndefined(); // ended and reported
    expect(await d1Usage(key.id)).toEqual({ requests: LEASE_THRESHOLD + 10 + 40, rejected: 0 });
  });

  it("a burst on a key turning hot waits for the one lease asked, rather than each request asking the object", async () => {
    const key = await mintKey(await newProject(), { type: "secret" });
    const counting = envCountingLimiterCalls();
    const requests = Array.from({ length: LEASE_THRESHOLD * 3 }, () =>
      sendWith(counting.env, new Request("https://gateway.test/v1/events", withKey(key.key, { method: "POST", body: "{}" }))),
    );
    const statuses = await Promise.all(requests.map(async (pending) => (await pending).status));
    expect(statuses.every((status) => status === 200)).toBe(true);
    // Below the threshold each request asks; the one past it asks for the lease; the rest wait for it.
    expect(counting.calls.admit).toBe(LEASE_THRESHOLD);
    expect(counting.calls.renewLease, "the lease's final report, once it ran out").toBeGreaterThanOrEqual(1);
    await settleCounts();
    expect(await d1Usage(key.id)).toEqual({ requests: LEASE_THRESHOLD * 3, rejected: 0 });
  });

  it("requests that find the lease run dry wait for its renewal on the way, rather than each asking the object", async () => {
    const key = await mintKey(await newProject(), { type: "secret" });
    await heat(key);
    const lease = heldLease(key.id)!;
    // As if this isolate had used every leased token: the next request starts the renewal.
    lease.used = lease.granted;
    const counting = envCountingLimiterCalls();
    const statuses = await Promise.all(
      Array.from({ length: 10 }, async () => (await sendWith(counting.env, new Request("https://gateway.test/v1/events", withKey(key.key, { method: "POST", body: "{}" })))).status),
    );
    expect(statuses).toEqual(Array(10).fill(200));
    expect(counting.calls.admit ?? 0, "no request asked the object itself").toBe(0);
    expect(counting.calls.renewLease, "one renewal (and the final report)").toBeGreaterThanOrEqual(1);
  });

  it("a lease that runs dry soon after a renewal is renewed at once unless the key is at its limit", async () => {
    const key = await mintKey(await newProject(), { type: "secret" });
    await heat(key);
    const lease = heldLease(key.id)!;
    // As if renewed a moment ago for less traffic than the key now has, and used up already.
    lease.renewalSentAt = Date.now();
    lease.used = lease.granted;
    expect(lease.starved).toBe(false);
    const counting = envCountingLimiterCalls();
    const statuses = await Promise.all(
      Array.from({ length: 10 }, async () => (await sendWith(counting.env, new Request("https://gateway.test/v1/events", withKey(key.key, { method: "POST", body: "{}" })))).status),
    );
    expect(statuses).toEqual(Array(10).fill(200));
    expect(counting.calls.admit ?? 0, "no request asked the object itself").toBe(0);
  });

  it("a renewal lost after the lease's time is up still ends in the lease's final report: D1 counts what it admitted", async () => {
    const key = await mintKey(await newProject(), { type: "secret" });
    await heat(key);
    const lease = heldLease(key.id)!;
    // As if half its life were gone: the next request renews it, over a link that drops the call late.
    lease.usableUntil = Date.now() + LEASE_MS / 2 - 10;
    const res = await sendWith(envWithLostRenewals(LEASE_MS), new Request("https://gateway.test/v1/events", withKey(key.key, { method: "POST", body: "{}" })));
    expect(res.status).toBe(200);
    await settleCounts();
    expect(heldLease(key.id), "dropped here once expired").toBeUndefined();
    expect((await d1Usage(key.id))?.requests).toBe(LEASE_THRESHOLD + 10 + 1);
  });

  it("a renewal that never answers does not keep the key from leasing here: it is taken as lost after a second", async () => {
    const key = await mintKey(await newProject(), { type: "secret" });
    await heat(key);
    const lease = heldLease(key.id)!;
    // A renewal sent long ago whose answer never came: the call itself is still open.
    lease.renewing = true;
    lease.renewalSentAt = Date.now() - 5_000;
    lease.usableUntil = Date.now() - 1;
    const counting = envCountingLimiterCalls();
    const send = () => sendWith(counting.env, new Request("https://gateway.test/v1/events", withKey(key.key, { method: "POST", body: "{}" })));
    expect((await send()).status).toBe(200);
    expect(heldLease(key.id)?.leaseId, "the expired lease was dropped and a new one asked for").not.toBe(lease.leaseId);
    await settleCounts();
    expect((await d1Usage(key.id))?.requests).toBe(LEASE_THRESHOLD + 10 + 1);
  });

  it("engage on identify too (event ingestion, API.md §3): a hot key's identify calls need no call each", async () => {
    const key = await mintKey(await newProject(), { type: "public" });
    const warm = await Promise.all(Array.from({ length: LEASE_THRESHOLD + 10 }, () => gateway("/v1/identify", withKey(key.key, { method: "POST", body: "{}" }))));
    expect(warm.map((res) => res.status)).toEqual(Array(LEASE_THRESHOLD + 10).fill(200));
    expect(heldLease(key.id), "a lease after a burst of identify calls past the threshold").toBeDefined();
    const counting = envCountingLimiterCalls();
    for (let i = 0; i < 10; i++) expect((await sendWith(counting.env, identifyRequest(key.key))).status).toBe(200);
    expect(counting.calls.admit ?? 0, "admitted from the lease, not by the object").toBe(0);
    await settleCounts();
    expect(await d1Usage(key.id)).toEqual({ requests: LEASE_THRESHOLD + 10 + 10, rejected: 0 });
  });

  it("a lease never turns identify open: with the lease dry and the object unreachable it is 503, as without leases", async () => {
    const key = await mintKey(await newProject(), { type: "public" });
    await heat(key);
    // As if this isolate had used every leased token, while the key's object cannot be reached.
    const lease = heldLease(key.id)!;
    lease.used = lease.granted;
    const res = await sendWith(envWithUnreachableLimiter(), identifyRequest(key.key));
    await expectProblem(res, 503, "limiter_unavailable", key.key);
    expect(lease.used, "nothing admitted from the lease beyond its tokens").toBe(lease.granted);
  });

  it("a lease admits only what the key may do: an events-only key hot on events still gets 403 for identify", async () => {
    const key = await mintKey(await newProject(), { type: "secret", scopes: ["events:write"] });
    await heat(key);
    const lease = heldLease(key.id)!;
    const usedBefore = lease.used;
    await expectProblem(await gateway("/v1/identify", withKey(key.key, { method: "POST", body: "{}" })), 403, "insufficient_permissions", key.key);
    expect(lease.used, "the refusal took no leased token").toBe(usedBefore);
  });

  it("isolates that died holding leases (a deploy ends them all) do not keep the key from leasing once those expire", async () => {
    const key = await mintKey(await newProject(), { type: "secret" });
    // MAX_LEASES isolates each take a lease, then end without a report.
    for (let i = 0; i < MAX_LEASES; i++) {
      const decision = await askLease(key.id, `dead-${i}`, 20);
      expect(decision.ok && "lease" in decision && decision.lease !== undefined, `lease ${i}`).toBe(true);
    }
    await new Promise((resolve) => setTimeout(resolve, LEASE_MS + 100));
    await heat(key);
    // Their day tokens stay reserved (they may all have been used) until their isolates are known gone, then until midnight.
    expect(await reservedByObject(key.id, utcDay(Date.now()))).toBeGreaterThanOrEqual(MAX_LEASES * 20);
  });

  it("a lease is durable before its grant leaves the object: an object reset at once would still know the tokens are out", async () => {
    const key = await mintKey(await newProject(), { type: "secret" });
    const decision = await askLease(key.id, "durable", 500);
    expect(decision.ok && "lease" in decision && decision.lease?.topUp).toBe(500);
    // What an object reset abruptly now (a crash, a deploy) would start from: its storage, before any write-behind ran.
    const stored = await runInDurableObject(keyLimiter(env, key.id), (_instance, state) => state.storage.kv.get<{ bucket: { tokens: number }; leases: Ledger["leases"] }>("usage"));
    expect(stored?.leases["durable"]?.granted, "the lease record is stored").toBe(500);
    expect(stored!.bucket.tokens, "and its tokens are out of the stored bucket").toBeLessThanOrEqual(10_000 - 500);
  });

  it("what a renewal reports after a flush reaches D1 by the next one, though the renewal's grant wrote the counts at once", async () => {
    const key = await mintKey(await newProject(), { type: "secret" });
    const object = keyLimiter(env, key.id);
    const decision = await askLease(key.id, "reported", 100);
    expect(decision.ok && "lease" in decision && decision.lease?.topUp).toBe(100);
    const writeBehind = () => new Promise((resolve) => setTimeout(resolve, WRITE_BEHIND_MS * 3));
    await writeBehind();
    expect(await d1Usage(key.id), "the admit's count is flushed; nothing is owed now").toMatchObject({ requests: 1 });
    const renewed = JSON.parse(await object.renewLease({ keyId: key.id, leaseId: "reported", usedTotal: 30, refusedTotal: 0, want: 100, final: false })) as { granted: boolean };
    expect(renewed.granted, "renewed within the lease's life").toBe(true);
    await writeBehind();
    expect(await runDurableObjectAlarm(object), "the reported counts owe D1 a flush: an alarm is set").toBe(true);
    expect((await d1Usage(key.id))?.requests).toBe(31);
  });

  it("the day tokens of orphaned leases stay reserved across the object's eviction", async () => {
    const key = await mintKey(await newProject(), { type: "secret" });
    const object = keyLimiter(env, key.id);
    expect((await event(key.key)).status).toBe(200);
    const day = utcDay(Date.now());
    await runInDurableObject(object, (instance: KeyLimiter) => {
      const held = instance as unknown as { ledger: Ledger; persist(): void };
      held.ledger.unreported = { [day]: 1234 };
      held.persist();
    });
    await evictDurableObject(object);
    expect((await event(key.key)).status).toBe(200);
    expect(await reservedByObject(key.id, day)).toBe(1234);
  });

  it("do not engage on a cold key: each request asks the object", async () => {
    const key = await mintKey(await newProject(), { type: "public" });
    for (let i = 0; i < 5; i++) expect((await event(key.key)).status).toBe(200);
    expect(heldLease(key.id)).toBeUndefined();
    expect((await countedByObject(key.id)).requests).toBe(5);
  });

  it("reads never use a lease: a hot key's read is decided by its object, with the key as it is now", async () => {
    const key = await mintKey(await newProject(), { type: "secret" });
    await heat(key);
    const before = (await countedByObject(key.id)).requests;
    const read = await gateway("/v1/export", withKey(key.key));
    expect(read.status).toBe(200);
    expect((await countedByObject(key.id)).requests).toBe(before + 1);
    // Scopes changed elsewhere (straight at the object, as another isolate would): the next read sees it.
    await keyLimiter(env, key.id).change({ keyId: key.id, op: { kind: "update", scopes: ["events:write"] }, audit: { actor: "operator", action: "key.update", ip: null } });
    await expectProblem(await gateway("/v1/export", withKey(key.key)), 403, "insufficient_permissions", key.key);
  });

  it("a revoke through this isolate stops the key at its very next request", async () => {
    const key = await mintKey(await newProject(), { type: "public" });
    await heat(key);
    expect((await operator("DELETE", `/keys/${key.id}`)).status).toBe(200);
    expect(heldLease(key.id)).toBeUndefined();
    await expectProblem(await event(key.key), 401, "revoked_api_key", key.key);
  });

  it("a lease granted before a revoke through this isolate, and answered after it, is not used here", async () => {
    const key = await mintKey(await newProject(), { type: "secret" });
    const turningHot = (await turnHotWithLateGrant(key)).answers;
    expect((await operator("DELETE", `/keys/${key.id}`)).status).toBe(200);
    const answers = await turningHot;
    const statuses = answers.map(({ res }) => res.status);
    // Those the object decided before the revoke are admitted; those that waited for the lease asked the object after it.
    expect(statuses.filter((status) => status === 200).length, "decided before the revoke").toBeGreaterThanOrEqual(LEASE_THRESHOLD);
    expect(statuses.every((status) => status === 200 || status === 401)).toBe(true);
    expect(heldLease(key.id), "a grant made under the key's old version is not held").toBeUndefined();
    await expectProblem(await event(key.key), 401, "revoked_api_key", key.key);
    await Promise.all(answers.map(({ done }) => done));
    await settleCounts();
    const admitted = statuses.filter((status) => status === 200).length;
    expect((await d1Usage(key.id))?.requests, "the unused grant was handed back as final: counts exact").toBe(admitted);
  });

  it("a revoke through this isolate that D1 fails to record still refuses a lease granted before it and answered after it", async () => {
    const key = await mintKey(await newProject(), { type: "secret" });
    const turningHot = (await turnHotWithLateGrant(key)).answers;
    const outage = await failObjectBatches(key.id);
    // In force at once, but not recorded: 503, and the key is refused all the same.
    await expectProblem(await operator("DELETE", `/keys/${key.id}`), 503, "storage_unavailable", key.key);
    const answers = await turningHot;
    expect(answers.every(({ res }) => res.status === 200 || res.status === 401)).toBe(true);
    expect(heldLease(key.id), "a grant made under the key's old version is not held").toBeUndefined();
    await expectProblem(await event(key.key), 401, "revoked_api_key", key.key);
    await Promise.all(answers.map(({ done }) => done));
    await outage.restore();
    await settleCounts();
    const admitted = answers.filter(({ res }) => res.status === 200).length;
    expect((await d1Usage(key.id))?.requests, "the unused grant was handed back as final: counts exact").toBe(admitted);
  });

  it("a revoke made elsewhere stops a leased key here within LEASE_MS, and what it admitted meanwhile is counted", async () => {
    const key = await mintKey(await newProject(), { type: "secret" });
    await heat(key);
    // Another isolate's revoke: straight at the object, so this isolate's lease is not dropped.
    const outcome = await keyLimiter(env, key.id).change({ keyId: key.id, op: { kind: "revoke" }, audit: { actor: "operator", action: "key.revoke", ip: null } });
    expect(outcome.ok).toBe(true);
    const admittedAfter = await eventsUntilRefused(key, 401, "revoked_api_key");
    await settleCounts();
    expect((await d1Usage(key.id))?.requests).toBe(LEASE_THRESHOLD + 10 + admittedAfter);
  });

  it("a scope change made elsewhere ends a leased key's leases: its events are refused here within LEASE_MS", async () => {
    const key = await mintKey(await newProject(), { type: "secret" });
    await heat(key);
    // Another isolate's change: straight at the object. The lease here was granted under the old version.
    const outcome = await keyLimiter(env, key.id).change({ keyId: key.id, op: { kind: "update", scopes: ["users:write"] }, audit: { actor: "operator", action: "key.update", ip: null } });
    expect(outcome.ok).toBe(true);
    const admittedAfter = await eventsUntilRefused(key, 403, "insufficient_permissions");
    // The key's new scope still works: identify goes through, asked of the object.
    expect((await sendWith(env, identifyRequest(key.key))).status).toBe(200);
    await settleCounts();
    expect((await d1Usage(key.id))?.requests).toBe(LEASE_THRESHOLD + 10 + admittedAfter + 1);
  });

  it("a lease's report that comes just after midnight counts on the day it was leased on, in the object and in D1", async () => {
    const key = await mintKey(await newProject(), { type: "secret" });
    await heat(key);
    await settleCounts(); // this isolate's lease ended and was reported: today's count is settled
    const yesterday = utcDay(Date.now() - 86_400_000);
    const todayBefore = await countedByObject(key.id);
    // The object as it is a moment after midnight: a lease of yesterday's, ended at midnight, not yet reported.
    await runInDurableObject(keyLimiter(env, key.id), (instance: KeyLimiter) => {
      const ledger = (instance as unknown as { ledger: Ledger }).ledger;
      ledger.leases["yesterdays"] = { granted: 40, used: 10, refused: 0, expiresAt: Date.now() - 1_000, day: yesterday, version: 1 };
    });
    await keyLimiter(env, key.id).renewLease({ keyId: key.id, leaseId: "yesterdays", usedTotal: 35, refusedTotal: 2, want: 0, final: true });
    expect(await countedByObject(key.id), "today's count is unchanged").toEqual(todayBefore);
    await runDurableObjectAlarm(keyLimiter(env, key.id));
    const row = await env.DB.prepare("SELECT requests, rejected FROM usage_daily WHERE key_id = ?1 AND day = ?2").bind(key.id, yesterday).first<{ requests: number; rejected: number }>();
    expect(row, "the 25 requests and 2 refusals reported since its last report, on yesterday's row").toEqual({ requests: 25, rejected: 2 });
    expect((await d1Usage(key.id))?.requests).toBe(todayBefore.requests);
  });

  it("never admit more than burst + rate × seconds, however hard the key is hammered, and D1 counts every answer", async () => {
    const key = await mintKey(await newProject(), { type: "public" });
    await setLimits(key.id, { rate: 20, burst: 40 });
    const started = Date.now();
    const statuses: number[] = [];
    while (Date.now() - started < 2_500) statuses.push(...(await burst(key.key, 25)));
    const elapsed = (Date.now() - started) / 1000;
    const admitted = statuses.filter((status) => status === 200).length;
    const refused = statuses.filter((status) => status === 429).length;
    expect(admitted + refused).toBe(statuses.length);
    expect(admitted).toBeLessThanOrEqual(40 + 20 * elapsed);
    expect(admitted).toBeGreaterThanOrEqual(40); // the burst is there to be used
    await settleCounts();
    expect(await d1Usage(key.id)).toEqual({ requests: admitted, rejected: refused });
  }, 30_000);

  it("a burst on a leased key gets the key's whole burst: a lease's own size cap is not the key's limit", async () => {
    // Public key defaults: burst 1,000, rate 100/s, so one lease holds at most 200 tokens (2 × LEASE_MS at the rate).
    const key = await mintKey(await newProject(), { type: "public" });
    await heat(key);
    const started = Date.now();
    const statuses = await burst(key.key, 1_500);
    const elapsed = (Date.now() - started) / 1000;
    const admitted = statuses.filter((status) => status === 200).length;
    const refused = statuses.filter((status) => status === 429).length;
    expect(admitted + refused).toBe(statuses.length);
    expect(admitted).toBeGreaterThanOrEqual(1_000 - (LEASE_THRESHOLD + 10));
    expect(admitted).toBeLessThanOrEqual(1_000 - (LEASE_THRESHOLD + 10) + Math.ceil(100 * (elapsed + 1)));
    await settleCounts();
    expect(await d1Usage(key.id)).toEqual({ requests: LEASE_THRESHOLD + 10 + admitted, rejected: refused });
  }, 30_000);

  it("a key seen revoked is refused here without asking its object again (revoked is terminal)", async () => {
    const key = await mintKey(await newProject(), { type: "secret" });
    expect((await operator("DELETE", `/keys/${key.id}`)).status).toBe(200);
    await expectProblem(await gateway("/v1/export", withKey(key.key)), 401, "revoked_api_key", key.key);
    // Its object unreachable now: a fail-closed read would be 503 if it were asked.
    const unreachable = envWithFailingLimiter();
    await expectProblem(await sendWith(unreachable, new Request("https://gateway.test/v1/export", withKey(key.key))), 401, "revoked_api_key", key.key);
    // A key not known revoked here still asks, and gets the failure policy.
    const other = await mintKey(await newProject(), { type: "secret" });
    await expectProblem(await sendWith(unreachable, new Request("https://gateway.test/v1/export", withKey(other.key))), 503, "limiter_unavailable", other.key);
  });

  it("LEASE_MS 0 turns them off: every request asks the object", async () => {
    const key = await mintKey(await newProject(), { type: "secret" });
    const noLeases = { ...env, LEASE_MS: "0" };
    const { default: worker } = await import("../../src/index");
    for (let i = 0; i < LEASE_THRESHOLD + 10; i++) {
      const res = await worker.fetch(new Request("https://gateway.test/v1/events", withKey(key.key, { method: "POST", body: "{}" })), noLeases, {
        waitUntil() {},
        passThroughOnException() {},
        props: {},
      } as unknown as ExecutionContext);
      expect(res.status).toBe(200);
    }
    expect(heldLease(key.id)).toBeUndefined();
    expect((await countedByObject(key.id)).requests).toBe(LEASE_THRESHOLD + 10);
  });
});
