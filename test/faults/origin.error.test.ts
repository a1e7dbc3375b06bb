/**
 * The origin misbehaving, through the Worker with its real KV, D1 and KeyLimiter: an origin that
 * hangs gets 504 origin_timeout after ORIGIN_TIMEOUT_MS, one that cannot be reached or crashes
 * 502 origin_unavailable, one that answers 5xx is passed through unchanged; a huge or slow body
 * streams through whole; a body cut off midway stays cut off. Each carries the rate-limit headers
 * and X-Request-Id (API.md §2, §4), and each admitted request is in D1's count once flushed: the
 * limiter admitted it, whatever the origin then did.
 *
 * The faults come from `faulty-origin` (test/faults/faulty-origin.js), a second worker behind a
 * real service binding, or from a Fetcher that fails as the runtime's does.
 */
import { describe, expect, it } from "vitest";
import { env, expectProblem, mintKey, newProject, sendWith, withKey, type MintedKey } from "../helpers";
import { expectCounted, expectRateHeaders, fetcher } from "./faults";

const PUBLIC_BURST = 1000;
const SECRET_BURST = 10_000;

/** The env whose origin is the faulty one, with a short ORIGIN_TIMEOUT_MS. */
function faultyOrigin(overrides: Partial<typeof env> = {}): typeof env {
  return { ...env, ORIGIN: env.FAULTY_ORIGIN, ORIGIN_URL: "", ORIGIN_TIMEOUT_MS: "300", ...overrides };
}

function events(key: MintedKey, fault: string, headers: Record<string, string> = {}): Request {
  return new Request("https://gateway.test/v1/events", withKey(key.key, { method: "POST", body: '{"event":"x"}', headers: { "x-fault": fault, ...headers } }));
}

async function freshKey(type: "public" | "secret" = "public"): Promise<MintedKey> {
  return mintKey(await newProject("Origin faults"), { type });
}

/** Every byte of a body of `faulty-origin`: byte i is (i mod 251). */
async function expectPatterned(res: Response, length: number): Promise<void> {
  const bytes = new Uint8Array(await res.arrayBuffer());
  expect(bytes.byteLength).toBe(length);
  let wrong = -1;
  for (let i = 0; i < bytes.byteLength && wrong < 0; i++) if (bytes[i] !== i % 251) wrong = i;
  expect(wrong, "first byte that differs from what the origin sent").toBe(-1);
}

describe("an origin that hangs", { timeout: 20_000 }, () => {
  it("gets 504 origin_timeout after ORIGIN_TIMEOUT_MS, with the rate-limit headers, and the request is counted", async () => {
    const key = await freshKey();
    const started = Date.now();
    const res = await sendWith(faultyOrigin(), events(key, "hang"));
    const elapsed = Date.now() - started;
    const body = await expectProblem(res, 504, "origin_timeout", key.key);
    expect(body.detail).toContain("300 ms");
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(3000);
    expectRateHeaders(res, PUBLIC_BURST);
    expect(res.headers.get("x-ratelimit-remaining")).toBe(String(PUBLIC_BURST - 1));
    await expectCounted(key.id, 1);
  });

  it("a slow origin on a fail-closed route too: several timeouts, each counted once", async () => {
    const key = await freshKey("secret");
    for (let i = 0; i < 3; i++) {
      const res = await sendWith(faultyOrigin(), new Request("https://gateway.test/v1/users", withKey(key.key, { headers: { "x-fault": "hang" } })));
      await expectProblem(res, 504, "origin_timeout", key.key);
      expectRateHeaders(res, SECRET_BURST);
    }
    await expectCounted(key.id, 3);
  });
});

describe("an origin that cannot be reached or fails before answering", { timeout: 20_000 }, () => {
  it("nothing listening at ORIGIN_URL (connection refused): 502 origin_unavailable, counted", async () => {
    const key = await freshKey();
    const res = await sendWith(faultyOrigin({ ORIGIN: undefined, ORIGIN_URL: "http://127.0.0.1:9" }), events(key, "none"));
    await expectProblem(res, 502, "origin_unavailable", key.key);
    expectRateHeaders(res, PUBLIC_BURST);
    await expectCounted(key.id, 1);
  });

  it("the connection reset before the answer (the runtime's fetch rejects): 502 origin_unavailable, counted", async () => {
    const key = await freshKey();
    const reset = fetcher(() => Promise.reject(new Error("Network connection lost.")));
    const res = await sendWith(faultyOrigin({ ORIGIN: reset }), events(key, "none"));
    await expectProblem(res, 502, "origin_unavailable", key.key);
    expectRateHeaders(res, PUBLIC_BURST);
    await expectCounted(key.id, 1);
  });

  it("a binding whose fetch throws synchronously: 502 origin_unavailable, not a 500", async () => {
    const key = await freshKey();
    const broken = fetcher(() => {
      throw new TypeError("Fetch API cannot load: the service is gone");
    });
    const res = await sendWith(faultyOrigin({ ORIGIN: broken }), events(key, "none"));
    await expectProblem(res, 502, "origin_unavailable", key.key);
    await expectCounted(key.id, 1);
  });

  it("the origin Worker throws: 502 origin_unavailable, counted", async () => {
    const key = await freshKey();
    const res = await sendWith(faultyOrigin(), events(key, "throw"));
    await expectProblem(res, 502, "origin_unavailable", key.key);
    expectRateHeaders(res, PUBLIC_BURST);
    await expectCounted(key.id, 1);
  });
});

describe("an origin that answers 5xx", { timeout: 20_000 }, () => {
  it("is passed through unchanged (status, body, its headers) plus the rate-limit headers and X-Request-Id; counted", async () => {
    const key = await freshKey();
    const answers: Response[] = [];
    for (let i = 0; i < 4; i++) answers.push(await sendWith(faultyOrigin(), events(key, "5xx")));
    for (const res of answers) {
      expect(res.status).toBe(503);
      expect(res.headers.get("content-type")).toBe("application/json"); // the origin's, not problem+json
      expect(await res.json()).toEqual({ error: "origin overloaded", detail: "try again later" });
      expect(res.headers.get("retry-after")).toBe("7");
      expect(res.headers.get("x-origin-says")).toBe("overloaded");
      expect(res.headers.get("x-request-id")).toMatch(/^req_[0-9a-f]{32}$/);
      expectRateHeaders(res, PUBLIC_BURST);
    }
    expect(new Set(answers.map((res) => res.headers.get("x-request-id"))).size).toBe(4);
    await expectCounted(key.id, 4);
  });
});

describe("an origin that answers a huge or slow body", { timeout: 20_000 }, () => {
  it("a body of 8 MiB arrives whole, byte for byte, with the rate-limit headers; counted", async () => {
    const key = await freshKey();
    const size = 8 * 1024 * 1024;
    const res = await sendWith(faultyOrigin({ ORIGIN_TIMEOUT_MS: "5000" }), events(key, "huge", { "x-fault-bytes": String(size) }));
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/octet-stream");
    expectRateHeaders(res, PUBLIC_BURST);
    await expectPatterned(res, size);
    await expectCounted(key.id, 1);
  });

  it("is streamed, not buffered: the answer starts before the origin has sent it all, and ORIGIN_TIMEOUT_MS covers only the headers", async () => {
    const key = await freshKey();
    const started = Date.now();
    // The origin sends 64 KiB, pauses 2 s, then 64 KiB more; the timeout is 300 ms.
    const res = await sendWith(faultyOrigin(), events(key, "slow-body", { "x-fault-pause-ms": "2000" }));
    expect(res.status).toBe(200);
    expect(Date.now() - started, "headers before the origin's pause is over").toBeLessThan(1500);
    const reader = res.body!.getReader();
    const first = await reader.read();
    expect(first.done).toBe(false);
    expect(Date.now() - started, "first bytes before the origin's pause is over").toBeLessThan(1500);
    let received = first.value!.byteLength;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      received += value.byteLength;
    }
    expect(received).toBe(128 * 1024);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1900);
    await expectCounted(key.id, 1);
  });

  it("a body the origin cuts off midway stays cut off: the client's read fails, it never sees a short body as complete; counted", async () => {
    const key = await freshKey();
    const res = await sendWith(faultyOrigin(), events(key, "reset-mid-body"));
    expect(res.status).toBe(200);
    expectRateHeaders(res, PUBLIC_BURST);
    await expect(res.arrayBuffer()).rejects.toThrow();
    await expectCounted(key.id, 1);
  });
});
