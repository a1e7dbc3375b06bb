/**
 * The client's queue and backoff on a fake clock (vitest fake timers): when batches go, what they
 * hold, how failures are retried or reported. The gateway is a scripted fetch here; the same
 * client against the real gateway is test/sdk/client.test.ts, and from the packed tarball
 * test-node/sdk-package.test.mjs.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Composite, CompositeError, type CompositeOptions, type EventPayload } from "../src/index.ts";

const KEY = "pk_test_000000000000000000000000000000000LJpC9";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

interface Call {
  at: number;
  keepalive: boolean;
  method: string;
  path: string;
  headers: Headers;
  body: { batch: EventPayload[]; sent_at: string };
}

type Script = (call: Call, index: number) => Response | Promise<Response>;

const ok = (headers: Record<string, string> = {}) => new Response('{"ok":true}', { status: 200, headers: { "content-type": "application/json", ...headers } });
const problem = (status: number, code: string, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify({ status, code, detail: `${code} detail` }), { status, headers: { "content-type": "application/problem+json", ...headers } });

function harness(options: Partial<CompositeOptions> = {}, script: Script = () => ok()) {
  const calls: Call[] = [];
  const errors: { error: CompositeError; events: readonly EventPayload[] }[] = [];
  const sdk = new Composite({
    apiKey: KEY,
    baseUrl: "https://gateway.test",
    compress: false,
    onError: (error, events) => errors.push({ error, events }),
    fetch: async (request) => {
      let text = "";
      if (request.body !== null) {
        const bytes = new Uint8Array(await request.arrayBuffer());
        const plain = request.headers.get("content-encoding") === "gzip" ? await gunzip(bytes) : bytes;
        text = new TextDecoder().decode(plain);
      }
      const call: Call = { at: Date.now(), keepalive: request.keepalive, method: request.method, path: new URL(request.url).pathname, headers: request.headers, body: text === "" ? (undefined as never) : JSON.parse(text) };
      calls.push(call);
      return script(call, calls.length - 1);
    },
    ...options,
  });
  return { sdk, calls, errors };
}

async function gunzip(bytes: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await new Response(new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DecompressionStream("gzip"))).arrayBuffer());
}

/** Lets the queue's promises run without moving the clock. */
const tick = () => vi.advanceTimersByTimeAsync(0);
const ids = (calls: Call[]) => calls.flatMap((call) => call.body.batch.map((event) => event.message_id));

beforeEach(() => {
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
  vi.setSystemTime(new Date("2026-12-02T12:00:00Z"));
});
afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe("the queue", () => {
  it("flushAt (default 20): the 20th event sends one POST /v1/batch of 20, each with its own uuid messageId", async () => {
    const { sdk, calls } = harness();
    for (let i = 0; i < 19; i++) sdk.track("step", { i }, { userId: "u_1" });
    await tick();
    expect(calls).toHaveLength(0);
    sdk.track("step", { i: 19 }, { userId: "u_1" });
    await tick();
    expect(calls).toHaveLength(1);
    const [call] = calls;
    expect(call).toMatchObject({ method: "POST", path: "/v1/batch" });
    expect(call!.headers.get("authorization")).toBe(`Bearer ${KEY}`);
    expect(call!.body.batch).toHaveLength(20);
    expect(call!.body.batch[3]).toMatchObject({ type: "track", event: "step", properties: { i: 3 }, user_id: "u_1", timestamp: "2026-12-02T12:00:00.000Z" });
    expect(new Set(ids(calls)).size).toBe(20);
    for (const id of ids(calls)) expect(id).toMatch(UUID);
    expect(sdk.queued).toBe(0);
  });

  it("flushInterval (default 10 s) after the first queued event", async () => {
    const { sdk, calls } = harness();
    sdk.track("a");
    await vi.advanceTimersByTimeAsync(5_000);
    sdk.identify("u_1", { plan: "pro" });
    sdk.page("Pricing", { path: "/pricing" }, { anonymousId: "anon_1" });
    await vi.advanceTimersByTimeAsync(4_999);
    expect(calls).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.body.batch).toMatchObject([
      { type: "track", event: "a" },
      { type: "identify", user_id: "u_1", traits: { plan: "pro" } },
      { type: "page", name: "Pricing", properties: { path: "/pricing" }, anonymous_id: "anon_1" },
    ]);
    // Nothing queued, nothing sent: the timer is not left running.
    await vi.advanceTimersByTimeAsync(60_000);
    expect(calls).toHaveLength(1);
  });

  it("by size: a batch never passes maxBatchBytes, and reaching it sends at once", async () => {
    const { sdk, calls } = harness({ maxBatchBytes: 2_000, flushAt: 1_000 });
    for (let i = 0; i < 20; i++) sdk.track("big", { padding: "x".repeat(300) });
    await tick();
    expect(calls.length).toBeGreaterThanOrEqual(3);
    for (const call of calls) expect(JSON.stringify(call.body).length).toBeLessThanOrEqual(2_000);
    await sdk.flush();
    expect(ids(calls)).toHaveLength(20);
    expect(new Set(ids(calls)).size).toBe(20);
  });

  it("flush() resolves once the batch is delivered; close() delivers, then refuses new events (reported)", async () => {
    let answer!: (response: Response) => void;
    const { sdk, calls, errors } = harness({}, () => new Promise((resolve) => (answer = resolve)));
    sdk.track("a");
    let flushed = false;
    const flushing = sdk.flush().then(() => (flushed = true));
    await tick();
    expect(calls).toHaveLength(1);
    expect(flushed).toBe(false);
    answer(ok());
    await flushing;
    expect(flushed).toBe(true);
    await sdk.flush(); // nothing queued: at once

    sdk.track("b");
    const closing = sdk.close();
    await tick();
    answer(ok());
    await closing;
    expect(calls).toHaveLength(2);
    sdk.track("after close");
    expect(errors.map(({ error }) => error.code)).toEqual(["client_closed"]);
    expect(errors[0]!.events[0]).toMatchObject({ event: "after close" });
    expect(sdk.dropped).toBe(1);
  });

  it("bounded: past maxQueueSize new events are dropped and reported with the events; one event over maxBatchBytes too", async () => {
    const { sdk, calls, errors } = harness({ maxQueueSize: 5, flushAt: 100 });
    for (let i = 0; i < 7; i++) sdk.track("e", { i });
    sdk.track("huge", { padding: "x".repeat(600 * 1024) });
    expect(sdk.queued).toBe(5);
    expect(sdk.dropped).toBe(3);
    expect(errors.map(({ error }) => error.code)).toEqual(["queue_full", "queue_full", "payload_too_large"]);
    expect(errors.map(({ events }) => events[0]!.properties)).toMatchObject([{ i: 5 }, { i: 6 }, {}]);
    await sdk.flush();
    expect(calls[0]!.body.batch.map((event) => event.properties)).toEqual([0, 1, 2, 3, 4].map((i) => ({ i })));
  });

  it("one batch in flight at a time, in order; what queued meanwhile goes next, together", async () => {
    const pending: ((response: Response) => void)[] = [];
    const { sdk, calls } = harness({ flushAt: 2 }, () => new Promise((resolve) => pending.push(resolve)));
    for (let i = 0; i < 6; i++) sdk.track("e", { i });
    await tick();
    expect(calls).toHaveLength(1);
    pending.shift()!(ok());
    await tick();
    expect(calls).toHaveLength(2);
    pending.shift()!(ok());
    await sdk.flush();
    const sent = calls.map((call) => call.body.batch.map((event) => (event.properties as { i: number }).i));
    expect(sent).toEqual([[0, 1], [2, 3, 4, 5]]);
  });

  it("rejects bad options and bad events at once", () => {
    expect(() => harness({ flushAt: 0 })).toThrow(/flushAt/);
    expect(() => harness({ flushInterval: -1 })).toThrow(/flushInterval/);
    const { sdk, calls } = harness();
    expect(() => sdk.track("")).toThrow(CompositeError);
    expect(() => sdk.identify("")).toThrow(CompositeError);
    expect(sdk.queued).toBe(0);
    expect(calls).toHaveLength(0);
  });
});

describe("backoff", () => {
  it("429: waits Retry-After first, then retries the same events (same messageIds)", async () => {
    vi.spyOn(Math, "random").mockReturnValue(0);
    const { sdk, calls, errors } = harness({}, (_, i) => (i === 0 ? problem(429, "rate_limited", { "retry-after": "2" }) : ok()));
    sdk.track("a");
    sdk.track("b");
    const flushing = sdk.flush();
    await tick();
    expect(calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1_999);
    expect(calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    await flushing;
    expect(calls).toHaveLength(2);
    expect(calls[1]!.at - calls[0]!.at).toBe(2_000);
    expect(ids([calls[1]!])).toEqual(ids([calls[0]!]));
    expect(errors).toEqual([]);
  });

  it("5xx and network errors: capped exponential backoff with full jitter, then reported", async () => {
    vi.spyOn(Math, "random").mockReturnValue(1);
    let n = 0;
    const { sdk, calls, errors } = harness({ retry: { maxRetries: 4, baseDelayMs: 100, maxDelayMs: 300 } }, () => {
      n += 1;
      if (n === 2) throw new TypeError("fetch failed");
      return problem(n === 3 ? 500 : 503, n === 3 ? "http_500" : "limiter_unavailable");
    });
    sdk.track("a");
    const flushing = sdk.flush();
    await vi.advanceTimersByTimeAsync(10_000);
    await flushing;
    expect(calls).toHaveLength(5);
    const gaps = calls.slice(1).map((call, i) => call.at - calls[i]!.at);
    expect(gaps).toEqual([100, 200, 300, 300]);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.error).toMatchObject({ code: "limiter_unavailable", status: 503 });
    expect(errors[0]!.events.map((event) => event.event)).toEqual(["a"]);
  });

  it("other 4xx: reported through onError at once, not retried", async () => {
    const { sdk, calls, errors } = harness({}, () => problem(403, "insufficient_permissions"));
    sdk.track("a");
    await sdk.flush();
    expect(calls).toHaveLength(1);
    expect(errors[0]!.error).toMatchObject({ code: "insufficient_permissions", status: 403 });
  });

  it("a Retry-After over 300 s (a daily quota) is not waited out: reported at once with retryAfter", async () => {
    const { sdk, calls, errors } = harness({}, () => problem(429, "daily_quota_exceeded", { "retry-after": "40000" }));
    sdk.track("a");
    await sdk.flush();
    expect(calls).toHaveLength(1);
    expect(errors[0]!.error).toMatchObject({ code: "daily_quota_exceeded", retryAfter: 40_000 });
  });

  it("never retries a batch the gateway accepted, whatever its body", async () => {
    const { sdk, calls, errors } = harness({}, () => new Response("not json", { status: 202, headers: { "content-type": "application/json" } }));
    sdk.track("a");
    await sdk.flush();
    await vi.advanceTimersByTimeAsync(120_000);
    expect(calls).toHaveLength(1);
    expect(errors).toEqual([]);
  });

  it("reads RateLimit: with no token left, the next batch waits for one instead of drawing a 429", async () => {
    // burst 1000 at 100/s: the bucket is full again in 10 s, so one token takes 10 ms.
    const empty = { ratelimit: '"burst";r=0;t=10', "ratelimit-policy": '"burst";q=1000;w=10, "daily";q=1000000;w=86400' };
    const { sdk, calls } = harness({ flushAt: 1 }, (_, i) => ok(i === 0 ? empty : { ratelimit: '"burst";r=5;t=1' }));
    sdk.track("a");
    await tick();
    sdk.track("b");
    await tick();
    expect(calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(9);
    expect(calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls).toHaveLength(2);
    sdk.track("c");
    await tick();
    expect(calls).toHaveLength(3); // a token left: no wait
  });

  it("413: splits the batch in two and sends each half", async () => {
    const { sdk, calls, errors } = harness({ flushAt: 4 }, (call) => (call.body.batch.length > 2 ? problem(413, "payload_too_large") : ok()));
    for (let i = 0; i < 4; i++) sdk.track("e", { i });
    await sdk.flush();
    expect(calls.map((call) => call.body.batch.length)).toEqual([4, 2, 2]);
    expect(new Set(ids(calls.slice(1))).size).toBe(4);
    expect(errors).toEqual([]);
  });
});

describe("gzip", () => {
  it("batches over 1 KiB go with Content-Encoding: gzip; small ones as they are", async () => {
    const { sdk, calls } = harness({ compress: true, flushAt: 1 });
    sdk.track("small");
    await sdk.flush();
    sdk.track("large", { padding: "abc".repeat(1_000) });
    await sdk.flush();
    expect(calls.map((call) => call.headers.get("content-encoding"))).toEqual([null, "gzip"]);
    expect(calls[1]!.body.batch[0]).toMatchObject({ event: "large", properties: { padding: "abc".repeat(1_000) } });
  });
});

describe("page hide (browsers)", () => {
  function page() {
    const win = new EventTarget();
    const doc = Object.assign(new EventTarget(), { visibilityState: "visible" });
    vi.stubGlobal("window", win);
    vi.stubGlobal("document", doc);
    return { win, doc };
  }
  afterEach(() => {
    vi.unstubAllGlobals();
  });

  it("visibilitychange to hidden sends what is queued with keepalive, uncompressed, within 60 KiB; the rest stays queued", async () => {
    const { doc } = page();
    const { sdk, calls } = harness({ compress: true, flushAt: 1_000 });
    // ~2 KiB each: 60 KiB hold about 29 of the 40.
    for (let i = 0; i < 40; i++) sdk.track("scroll", { i, padding: "x".repeat(2_000) });
    doc.dispatchEvent(new Event("visibilitychange")); // still visible: nothing
    await tick();
    expect(calls).toHaveLength(0);
    doc.visibilityState = "hidden";
    doc.dispatchEvent(new Event("visibilitychange"));
    await tick();
    expect(calls.length).toBeGreaterThan(0);
    for (const call of calls) expect([call.keepalive, call.headers.get("content-encoding")]).toEqual([true, null]);
    const bytes = calls.reduce((sum, call) => sum + JSON.stringify(call.body).length, 0);
    expect(bytes).toBeLessThanOrEqual(60 * 1024);
    const sent = ids(calls).length;
    expect(sent).toBeGreaterThan(25);
    expect(sdk.queued).toBe(40 - sent);
    await sdk.flush(); // the page came back (bfcache): the rest goes the ordinary way
    expect(new Set(ids(calls)).size).toBe(40);
    expect(calls.at(-1)!.keepalive).toBe(false);
  });

  it("pagehide too; a closed client and a secret key allowed in a browser do not listen", async () => {
    const { win } = page();
    const { sdk, calls } = harness();
    sdk.track("a");
    win.dispatchEvent(new Event("pagehide"));
    await tick();
    expect(calls.map((call) => call.keepalive)).toEqual([true]);
    await sdk.close();
    const secret = harness({ apiKey: "sk_live_zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz44XL3S", dangerouslyAllowSecretKeyInBrowser: true });
    secret.sdk.track("b");
    win.dispatchEvent(new Event("pagehide"));
    await tick();
    expect(secret.calls).toHaveLength(0);
  });
});
