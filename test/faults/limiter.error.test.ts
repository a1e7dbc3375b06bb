/**
 * The key's KeyLimiter object overloaded or throwing, through the Worker with the real KV, D1 and
 * objects (test/limiter/failure-policy.test.ts has the plain "unreachable" and "never answers"
 * cases and LIMITER_FAIL_OPEN): event ingestion fails open and each request it let through is in
 * D1's count once the object is back — also after an outage longer than the first retry; every
 * other route answers 503 limiter_unavailable with Retry-After and counts nothing (API.md §3).
 */
import { evictDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { keyLimiter } from "../../src/limiter/client";
import { answerOf, env, envWithFailingLimiter, envWithLateAnswers, envWithLateLimiter, expectProblem, mintKey, newProject, sendWith, settleCounts, withKey, type MintedKey } from "../helpers";
import { expectCounted, expectRateHeaders, flushedRow, objectThrows, overloadedError } from "./faults";

const DAILY_PUBLIC = 1_000_000;

function ingest(key: MintedKey): Request {
  return new Request("https://gateway.test/v1/events", withKey(key.key, { method: "POST", body: '{"event":"x"}' }));
}

function read(key: MintedKey): Request {
  return new Request("https://gateway.test/v1/project", withKey(key.key));
}

/** The Worker's answer at once, and its waitUntil work (the deferred count) as a promise. */
async function freshKey(): Promise<MintedKey> {
  return mintKey(await newProject("Limiter faults"), { type: "public" });
}

/** A fail-open answer: the origin's 200, and no rate-limit headers (nothing reliable to say). */
function expectFailedOpen(res: Response): void {
  expect(res.status).toBe(200);
  expect(res.headers.get("x-request-id")).toMatch(/^req_[0-9a-f]{32}$/);
  expect(res.headers.get("ratelimit")).toBeNull();
  expect(res.headers.get("x-ratelimit-remaining")).toBeNull();
}

async function expectFailedClosed(res: Response, key: MintedKey): Promise<void> {
  await expectProblem(res, 503, "limiter_unavailable", key.key);
  expect(res.headers.get("retry-after")).toBe("1");
  expect(res.headers.get("ratelimit")).toBeNull();
}

describe("the key's object overloaded (the error carries overloaded: true)", { timeout: 30_000 }, () => {
  it("ingestion fails open, other routes fail closed; once it is back the admitted ones are counted, the 503s are not", async () => {
    const key = await freshKey();
    let overloaded = true;
    const testEnv = envWithFailingLimiter(() => overloaded, () => Promise.reject(overloadedError()));
    for (let i = 0; i < 3; i++) expectFailedOpen(await sendWith(testEnv, ingest(key)));
    for (let i = 0; i < 2; i++) await expectFailedClosed(await sendWith(testEnv, read(key)), key);
    overloaded = false;

    const back = await sendWith(testEnv, read(key));
    expect(back.status).toBe(200);
    expectRateHeaders(back, 1000);
    // The three unmetered requests took from today's quota (not from the bucket).
    expect(back.headers.get("x-ratelimit-remaining-day")).toBe(String(DAILY_PUBLIC - 4));
    await expectCounted(key.id, 4);
  });

  it("a burst of concurrent events while it is overloaded: every one admitted, every one counted", async () => {
    const key = await freshKey();
    let overloaded = true;
    const testEnv = envWithFailingLimiter(() => overloaded, () => Promise.reject(overloadedError()));
    const answers = await Promise.all(Array.from({ length: 40 }, () => sendWith(testEnv, ingest(key))));
    for (const res of answers) expectFailedOpen(res);
    overloaded = false;
    await expectCounted(key.id, 40);
  });
});

describe("the key's object throwing (an exception inside it, across the real RPC boundary)", { timeout: 30_000 }, () => {
  it("ingestion fails open, other routes fail closed; the object's counts stay exact once it is back", async () => {
    const key = await freshKey();
    expect((await sendWith(env, ingest(key))).status).toBe(200); // one metered request first
    const repair = await objectThrows(key.id);
    let unmetered: { res: Response; done: Promise<void> };
    try {
      unmetered = await answerOf(env, ingest(key));
      expectFailedOpen(unmetered.res);
      await expectFailedClosed(await sendWith(env, read(key)), key);
    } finally {
      await repair();
    }
    await unmetered.done; // the request's deferred count, sent once the object answers again
    await expectCounted(key.id, 2);
  });

  it("an outage longer than the first retry loses no fail-open count", async () => {
    const key = await freshKey();
    const repair = await objectThrows(key.id);
    // Back after 2.5 s: the request's deferred count (first tried after 1 s) has to try again.
    const back = new Promise<void>((resolve) => setTimeout(() => void repair().then(resolve), 2500));
    const answers = await Promise.all(Array.from({ length: 5 }, () => sendWith(env, ingest(key))));
    await back;
    for (const res of answers) expectFailedOpen(res);
    await expectCounted(key.id, 5);
  });

  it("a report sent again because its answer was lost is counted once, also by an object restarted since", async () => {
    const key = await freshKey();
    const stub = keyLimiter(env, key.id);
    const at = Date.now();
    await stub.recordUnmetered(3, at, "report-1");
    await stub.recordUnmetered(3, at, "report-1"); // the same report again: the sender never saw the first answer
    await settleCounts(); // written to the object's storage, the id with the counts
    await evictDurableObject(stub);
    await stub.recordUnmetered(3, at, "report-1");
    await stub.recordUnmetered(2, at, "report-2");
    await expectCounted(key.id, 5);
  });
});

describe("the key's object answering after the request gave up on it", { timeout: 30_000 }, () => {
  // The call reaches the object 400 ms late; the request waits at most 150 ms (ORIGIN_TIMEOUT_MS).
  const late = () => ({ ...envWithLateLimiter(400), ORIGIN_TIMEOUT_MS: "150" });

  it("a fail-open event is counted once: by its isolate's report, not again when the late call lands", async () => {
    const key = await freshKey();
    const { res, done } = await answerOf(late(), ingest(key));
    expectFailedOpen(res);
    await done; // the late call has landed and the unmetered report has been counted
    await expectCounted(key.id, 1);
  });

  it("a call that lands after its answer-by time but while the request still waits fails open, not 503", async () => {
    // ORIGIN_TIMEOUT_MS 2000: the object must decide by 1500 ms; the call lands at 1700 ms, the request waits until 2000 ms.
    const key = await freshKey();
    const { res, done } = await answerOf({ ...envWithLateLimiter(1_700), ORIGIN_TIMEOUT_MS: "2000" }, ingest(key));
    expectFailedOpen(res);
    await done;
    await expectCounted(key.id, 1);
  });

  it("a fail-closed read answered 503 takes nothing when its late call lands", async () => {
    const key = await freshKey();
    const { res, done } = await answerOf(late(), read(key));
    await expectFailedClosed(res, key);
    await done;
    await new Promise((resolve) => setTimeout(resolve, 500)); // the late call lands meanwhile
    expect((await flushedRow(key.id)) ?? { requests: 0, rejected: 0 }).toEqual({ requests: 0, rejected: 0 });
  });

  it("a fail-open event its object counted in time, though the answer came late, is counted once", async () => {
    // The call lands at once and is decided (counted); its answer takes 400 ms, the request waits 150 ms.
    const key = await freshKey();
    const { res, done } = await answerOf({ ...envWithLateAnswers(400), ORIGIN_TIMEOUT_MS: "150" }, ingest(key));
    expectFailedOpen(res);
    await done; // the late answer has come, and the unmetered report's first try is over
    await expectCounted(key.id, 1);
  });
});
