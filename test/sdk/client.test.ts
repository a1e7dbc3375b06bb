/**
 * The TypeScript SDK against the real gateway: every request goes through the Worker's own fetch
 * (real KV, D1, KeyLimiter) to the sample origin, which echoes what it received.
 */
import { exports } from "cloudflare:workers";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { Composite, CompositeError, type CompositeOptions } from "../../sdk/src/index";
import { envWithFailingLimiter, GATEWAY, mintKey, newProject, operator, sendWith, setLimits, type MintedKey, type OriginEcho } from "../helpers";

let project: string;
let publicKey: MintedKey;
let secretKey: MintedKey;

beforeAll(async () => {
  project = await newProject("SDK");
  publicKey = await mintKey(project, { type: "public" });
  secretKey = await mintKey(project, { type: "secret" });
});

afterEach(() => {
  vi.unstubAllGlobals();
});

interface Seen {
  sent: Request[];
  answers: Response[];
}

/** A client whose requests go through the gateway's own fetch; `seen` records both sides. */
function client(apiKey: string, options: Partial<CompositeOptions> = {}, send = (r: Request) => exports.default.fetch(r)): { sdk: Composite; seen: Seen } {
  const seen: Seen = { sent: [], answers: [] };
  const sdk = new Composite({
    apiKey,
    baseUrl: GATEWAY,
    retry: { baseDelayMs: 5 },
    fetch: async (request) => {
      seen.sent.push(request.clone());
      const answer = await send(request);
      seen.answers.push(answer.clone());
      return answer;
    },
    ...options,
  });
  return { sdk, seen };
}

async function originSaw(answer: Response): Promise<OriginEcho["received"] & { json: Record<string, unknown> }> {
  const { received } = (await answer.json()) as OriginEcho;
  return { ...received, json: JSON.parse(received.body) as Record<string, unknown> };
}

/** What the SDK throws, for assertions (fails the test if it does not throw a CompositeError). */
async function refusal(action: () => unknown): Promise<CompositeError> {
  try {
    await action();
  } catch (error) {
    expect(error).toBeInstanceOf(CompositeError);
    return error as CompositeError;
  }
  throw new Error("expected a CompositeError");
}

describe("sending", () => {
  it("track, identify, page queue; flush() sends one POST /v1/batch with the key as Bearer; the origin gets the events and the key's identity, not the key", async () => {
    const { sdk, seen } = client(publicKey.key);
    sdk.track("signup", { plan: "pro" }, { userId: "u_1" });
    sdk.identify("u_1", { email_domain: "example.com" });
    sdk.page("Pricing", { path: "/pricing" }, { anonymousId: "anon_1" });
    expect(seen.sent).toHaveLength(0);
    await sdk.flush();
    expect(seen.sent).toHaveLength(1);
    expect(seen.sent[0]!.headers.get("authorization")).toBe(`Bearer ${publicKey.key}`);
    expect(new URL(seen.sent[0]!.url).search).toBe("");
    expect(seen.answers[0]!.status).toBe(200);
    const received = await originSaw(seen.answers[0]!);
    expect(received).toMatchObject({ method: "POST", path: "/v1/batch" });
    expect(received.headers.authorization).toBeUndefined();
    expect(received.headers["x-composite-key-id"]).toBe(publicKey.id);
    expect(received.headers["content-type"]).toBe("application/json");
    const batch = received.json.batch as Record<string, unknown>[];
    expect(batch).toMatchObject([
      { type: "track", event: "signup", properties: { plan: "pro" }, user_id: "u_1" },
      { type: "identify", user_id: "u_1", traits: { email_domain: "example.com" } },
      { type: "page", name: "Pricing", properties: { path: "/pricing" }, anonymous_id: "anon_1" },
    ]);
    for (const event of batch) expect(event.message_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(Date.parse(batch[0]!.timestamp as string)).toBeGreaterThan(Date.now() - 60_000);
  });

  it("a batch is one request against the limits, and goes gzip-compressed; the origin reads it plain", async () => {
    const { sdk, seen } = client(publicKey.key);
    sdk.track("warm-up");
    await sdk.flush();
    const before = Number(seen.answers[0]!.headers.get("x-ratelimit-remaining-day"));
    for (let i = 0; i < 50; i++) sdk.track("page_view", { i, path: `/docs/${i}` });
    await sdk.flush();
    expect(seen.sent).toHaveLength(3); // the warm-up, then 50 events: flushAt (20) twice and the rest
    expect(seen.sent.slice(1).map((r) => r.headers.get("content-encoding"))).toEqual(["gzip", "gzip"]);
    expect(Number(seen.answers[2]!.headers.get("x-ratelimit-remaining-day"))).toBe(before - 2);
    const batches = await Promise.all(seen.answers.slice(1).map(originSaw));
    expect(batches.map((b) => b.headers["content-encoding"])).toEqual([undefined, undefined]);
    const events = batches.flatMap((b) => b.json.batch as Record<string, unknown>[]);
    expect(events.map((e) => (e.properties as { i: number }).i)).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });

  it("refuses bad calls before sending anything", async () => {
    const { sdk, seen } = client(publicKey.key);
    expect(() => sdk.track("")).toThrow(CompositeError);
    expect(() => sdk.identify("")).toThrow(CompositeError);
    expect((await refusal(() => sdk.request("GET", "v1/events"))).code).toBe("invalid_request");
    await sdk.flush();
    expect(seen.sent).toHaveLength(0);
  });
});

describe("the key, checked before it travels", () => {
  const make = (options: Partial<CompositeOptions>) => () => new Composite({ baseUrl: GATEWAY, fetch: () => Promise.reject(new Error("must not send")), ...options });

  it.each([
    ["missing", undefined, "missing_api_key"],
    ["empty", "", "missing_api_key"],
    ["with a trailing newline (read from a file)", "KEY\n", "api_key_whitespace"],
    ["with a leading space", " KEY", "api_key_whitespace"],
    ["with a typo", "TYPO", "malformed_api_key"],
    ["cut short", "SHORT", "malformed_api_key"],
  ])("%s → %s, and the message never quotes it", async (_, shape, code) => {
    // The typo must change the character (a random key has "X" there one time in 62).
    const typo = publicKey.key[20] === "X" ? "Y" : "X";
    const key = shape?.replace("KEY", publicKey.key).replace("TYPO", publicKey.key.slice(0, 20) + typo + publicKey.key.slice(21)).replace("SHORT", publicKey.key.slice(0, 30));
    const error = await refusal(make({ apiKey: key }));
    expect(error.code).toBe(code);
    expect(error.message).not.toContain(publicKey.key.slice(8, 30));
    expect(error.status).toBeUndefined();
  });

  it("reads COMPOSITE_API_KEY and COMPOSITE_API_URL from the environment", async () => {
    vi.stubGlobal("process", { env: { COMPOSITE_API_KEY: publicKey.key, COMPOSITE_API_URL: "http://127.0.0.1:8787/" } });
    const sdk = new Composite();
    expect([sdk.keyType, sdk.environment]).toEqual(["public", "test"]);
  });

  it("plain HTTP only to a local gateway: the key would cross the network in the clear", async () => {
    for (const baseUrl of ["http://api.example.com", "http://10.0.0.1:8787", "ftp://127.0.0.1"]) {
      expect((await refusal(make({ apiKey: publicKey.key, baseUrl }))).code).toBe("https_required");
    }
    for (const baseUrl of ["http://localhost:8787", "http://127.0.0.1:8787", "http://app.localhost", "https://api.example.com/prefix/"]) {
      expect(() => make({ apiKey: publicKey.key, baseUrl })()).not.toThrow();
    }
    expect((await refusal(make({ apiKey: publicKey.key, baseUrl: "not a url" }))).code).toBe("invalid_request");
    expect((await refusal(make({ apiKey: publicKey.key, baseUrl: undefined }))).code).toBe("invalid_request");
  });

  it("a secret key refuses to run in a browser unless told otherwise; a public key runs", async () => {
    vi.stubGlobal("window", {});
    vi.stubGlobal("document", {});
    expect((await refusal(make({ apiKey: secretKey.key }))).code).toBe("secret_key_in_browser");
    expect(() => make({ apiKey: publicKey.key })()).not.toThrow();
    expect(() => make({ apiKey: secretKey.key, dangerouslyAllowSecretKeyInBrowser: true })()).not.toThrow();
  });

  it("a secret key allowed in a browser opts in at the gateway too (Composite-Browser-Access), and is served", async () => {
    const seen: Request[] = [];
    const sdk = new Composite({
      apiKey: secretKey.key,
      baseUrl: "https://gateway.test",
      dangerouslyAllowSecretKeyInBrowser: true,
      fetch: (request) => {
        seen.push(request.clone());
        request.headers.set("origin", "https://internal.example.com"); // as a browser adds it
        return exports.default.fetch(request);
      },
    });
    await sdk.request("GET", "/v1/project");
    expect(seen[0]!.headers.get("composite-browser-access")).toBe("true");
  });

  it("is not shown by JSON.stringify, and requests never carry it in the URL", async () => {
    const { sdk, seen } = client(secretKey.key);
    expect(JSON.stringify(sdk)).toBe('{"keyType":"secret","environment":"test"}');
    expect(String(sdk)).not.toContain(secretKey.key);
    await sdk.request("GET", "/v1/project");
    expect(seen.sent[0]!.url).not.toContain(secretKey.key);
  });
});

describe("errors from the gateway", () => {
  it("a revoked key: the batch is reported through onError with the gateway's code, status and request id; not retried", async () => {
    const key = await mintKey(project, { type: "public" });
    expect((await operator("DELETE", `/keys/${key.id}`)).status).toBe(200);
    const reported: CompositeError[] = [];
    const { sdk, seen } = client(key.key, { onError: (error) => reported.push(error) });
    sdk.track("after revoke");
    await sdk.flush();
    expect(reported).toHaveLength(1);
    const [error] = reported;
    expect(error).toMatchObject({ code: "revoked_api_key", status: 401 });
    expect(error!.requestId).toMatch(/^req_[0-9a-f]{32}$/);
    expect(error!.message).toMatch(/^revoked_api_key: /);
    expect(error!.message).not.toContain(key.key);
    expect(seen.sent).toHaveLength(1);
  });

  it("a public key on a secret route: insufficient_permissions, naming what public keys cannot do", async () => {
    const { sdk } = client(publicKey.key);
    const error = await refusal(() => sdk.request("GET", "/v1/export"));
    expect(error).toMatchObject({ code: "insufficient_permissions", status: 403 });
    expect(error.message).toContain("Public keys cannot export data");
  });

  it("an origin's own error keeps its status as http_<status>", async () => {
    const { sdk } = client(secretKey.key, {}, async (request) => {
      const answer = await exports.default.fetch(request);
      await answer.body?.cancel();
      return new Response("teapot", { status: 418, headers: { "x-request-id": answer.headers.get("x-request-id")! } });
    });
    const error = await refusal(() => sdk.request("GET", "/v1/project"));
    expect(error).toMatchObject({ code: "http_418", status: 418, requestId: expect.stringMatching(/^req_/) });
  });

  it("a 2xx whose JSON does not parse: invalid_response, not a bare SyntaxError", async () => {
    const { sdk } = client(secretKey.key, {}, async (request) => {
      const answer = await exports.default.fetch(request);
      await answer.body?.cancel();
      return new Response("{not json", { status: 200, headers: { "content-type": "application/json" } });
    });
    expect(await refusal(() => sdk.request("GET", "/v1/project"))).toMatchObject({ code: "invalid_response", status: 200 });
  });
});

describe("retries and pacing against the real limiter", () => {
  it("RateLimit says the bucket is empty: the next batch waits for a token instead of drawing a 429", async () => {
    const key = await mintKey(project, { type: "public" });
    await setLimits(key.id, { rate: 2, burst: 1 });
    const { sdk, seen } = client(key.key, { flushAt: 1 });
    sdk.track("first");
    await sdk.flush();
    const started = Date.now();
    sdk.track("second");
    await sdk.flush();
    expect(seen.answers.map((a) => a.status)).toEqual([200, 200]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(400);
  });

  it("429 rate_limited (another client took the token): waits what Retry-After says, then the same events go through", async () => {
    const key = await mintKey(project, { type: "public" });
    await setLimits(key.id, { rate: 1, burst: 1 });
    const other = client(key.key);
    other.sdk.track("from another process");
    await other.sdk.flush();
    const { sdk, seen } = client(key.key);
    const started = Date.now();
    sdk.track("second");
    await sdk.flush();
    expect(seen.answers.map((a) => a.status)).toEqual([429, 200]);
    expect(Number(seen.answers[0]!.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    const [refused, accepted] = (await Promise.all(seen.sent.map((r) => r.json()))) as { batch: Record<string, unknown>[] }[];
    expect(accepted!.batch[0]!.message_id).toBe(refused!.batch[0]!.message_id); // the origin can tell a retry from a new event
  });

  it("429 daily_quota_exceeded: not waited out until midnight; reported at once with retryAfter", async () => {
    const key = await mintKey(project, { type: "public" });
    await setLimits(key.id, { daily: 1 });
    const reported: CompositeError[] = [];
    const { sdk, seen } = client(key.key, { onError: (error) => reported.push(error) });
    sdk.track("only one today");
    await sdk.flush();
    const started = Date.now();
    sdk.track("one too many");
    await sdk.flush();
    expect(reported).toHaveLength(1);
    expect(reported[0]).toMatchObject({ code: "daily_quota_exceeded", status: 429 });
    expect(reported[0]!.retryAfter).toBeGreaterThan(300);
    expect(seen.sent).toHaveLength(2);
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it("503 limiter_unavailable (injected, fail-closed read route): retried, and thrown after the last retry", async () => {
    let failures = 1;
    const flaky = (request: Request) => sendWith(envWithFailingLimiter(() => failures-- > 0), request);
    const { sdk, seen } = client(secretKey.key, { retry: { baseDelayMs: 5, maxRetries: 2 } }, flaky);
    await sdk.request("GET", "/v1/project");
    expect(seen.answers.map((a) => a.status)).toEqual([503, 200]);
    expect(seen.answers[0]!.headers.get("retry-after")).not.toBeNull();

    const down = client(secretKey.key, { retry: { baseDelayMs: 5, maxRetries: 1 } }, (request) => sendWith(envWithFailingLimiter(), request));
    const error = await refusal(() => down.sdk.request("GET", "/v1/project"));
    expect(error).toMatchObject({ code: "limiter_unavailable", status: 503 });
    expect(down.seen.sent).toHaveLength(2);
  }, 15_000);

  it("no answer at all: a network error is retried; a hung request times out per attempt", async () => {
    let drops = 1;
    const { sdk, seen } = client(publicKey.key, {}, (request) => (drops-- > 0 ? Promise.reject(new TypeError("connection reset")) : exports.default.fetch(request)));
    sdk.track("after a reset");
    await sdk.flush();
    expect(seen.sent).toHaveLength(2);
    expect(seen.answers.map((a) => a.status)).toEqual([200]);

    const reported: CompositeError[] = [];
    const hung = client(publicKey.key, { timeoutMs: 50, retry: { baseDelayMs: 5, maxRetries: 1 }, onError: (error) => reported.push(error) }, (request) =>
      new Promise<Response>((_, reject) => request.signal.addEventListener("abort", () => reject(request.signal.reason))),
    );
    hung.sdk.track("never answered");
    await hung.sdk.flush();
    expect(reported[0]).toMatchObject({ code: "timeout", status: undefined });
    expect(hung.seen.sent).toHaveLength(2);
  });
});
