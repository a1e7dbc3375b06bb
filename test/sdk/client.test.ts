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
  it("track: one POST /v1/events with the key as Bearer; the origin gets the event and the key's identity, not the key", async () => {
    const { sdk, seen } = client(publicKey.key);
    await sdk.track("signup", { plan: "pro" }, { userId: "u_1" });
    expect(seen.sent).toHaveLength(1);
    expect(seen.sent[0]!.headers.get("authorization")).toBe(`Bearer ${publicKey.key}`);
    expect(new URL(seen.sent[0]!.url).search).toBe("");
    const received = await originSaw(seen.answers[0]!);
    expect(received).toMatchObject({ method: "POST", path: "/v1/events" });
    expect(received.headers.authorization).toBeUndefined();
    expect(received.headers["x-composite-key-id"]).toBe(publicKey.id);
    expect(received.headers["content-type"]).toBe("application/json");
    expect(received.json).toMatchObject({ event: "signup", properties: { plan: "pro" }, user_id: "u_1" });
    expect(received.json.message_id).toMatch(/^msg_[0-9a-f]{32}$/);
    expect(Date.parse(received.json.timestamp as string)).toBeGreaterThan(Date.now() - 60_000);
  });

  it("batch: many events in one request, one token from the bucket", async () => {
    const { sdk, seen } = client(publicKey.key);
    await sdk.track("warm-up");
    const before = Number(seen.answers[0]!.headers.get("x-ratelimit-remaining-day"));
    await sdk.batch([{ event: "a" }, { event: "b", properties: { n: 2 }, anonymousId: "anon_1" }, { event: "c", timestamp: new Date("2026-11-01T00:00:00Z") }]);
    expect(seen.sent).toHaveLength(2);
    const answer = seen.answers[1]!;
    expect(Number(answer.headers.get("x-ratelimit-remaining-day"))).toBe(before - 1);
    const received = await originSaw(answer);
    expect(received.path).toBe("/v1/batch");
    const batch = received.json.batch as Record<string, unknown>[];
    expect(batch.map((e) => e.event)).toEqual(["a", "b", "c"]);
    expect(batch[1]).toMatchObject({ properties: { n: 2 }, anonymous_id: "anon_1" });
    expect(batch[2]!.timestamp).toBe("2026-11-01T00:00:00.000Z");
    expect(new Set(batch.map((e) => e.message_id)).size).toBe(3);
  });

  it("identify and request(): other routes, with the answer parsed", async () => {
    const { sdk, seen } = client(secretKey.key);
    await sdk.identify("u_2", { email_domain: "example.com" });
    expect(await originSaw(seen.answers[0]!)).toMatchObject({ path: "/v1/identify", json: { user_id: "u_2", traits: { email_domain: "example.com" } } });
    const echo = await sdk.request<OriginEcho>("GET", "/v1/events?limit=10");
    expect(echo.received).toMatchObject({ method: "GET", path: "/v1/events", search: "?limit=10" });
  });

  it("refuses bad calls before sending anything", async () => {
    const { sdk, seen } = client(publicKey.key);
    expect((await refusal(() => sdk.track(""))).code).toBe("invalid_request");
    expect((await refusal(() => sdk.batch([]))).code).toBe("invalid_request");
    expect((await refusal(() => sdk.identify(""))).code).toBe("invalid_request");
    expect((await refusal(() => sdk.request("GET", "v1/events"))).code).toBe("invalid_request");
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
  it("a revoked key: CompositeError with the gateway's code, status and request id; not retried", async () => {
    const key = await mintKey(project, { type: "public" });
    expect((await operator("DELETE", `/keys/${key.id}`)).status).toBe(200);
    const { sdk, seen } = client(key.key);
    const error = await refusal(() => sdk.track("after revoke"));
    expect(error).toMatchObject({ code: "revoked_api_key", status: 401 });
    expect(error.requestId).toMatch(/^req_[0-9a-f]{32}$/);
    expect(error.message).toMatch(/^revoked_api_key: /);
    expect(error.message).not.toContain(key.key);
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

describe("retries", () => {
  it("429 rate_limited: waits what Retry-After says, then the same event goes through", async () => {
    const key = await mintKey(project, { type: "public" });
    await setLimits(key.id, { rate: 1, burst: 1 });
    const { sdk, seen } = client(key.key);
    await sdk.track("first");
    const started = Date.now();
    await sdk.track("second");
    expect(seen.answers.map((a) => a.status)).toEqual([200, 429, 200]);
    expect(Number(seen.answers[1]!.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    const [refused, accepted] = [await seen.sent[1]!.json(), await seen.sent[2]!.json()] as Record<string, unknown>[];
    expect(accepted!.message_id).toBe(refused!.message_id); // the origin can tell a retry from a new event
  });

  it("429 daily_quota_exceeded: not waited out until midnight; thrown at once with retryAfter", async () => {
    const key = await mintKey(project, { type: "public" });
    await setLimits(key.id, { daily: 1 });
    const { sdk, seen } = client(key.key);
    await sdk.track("only one today");
    const started = Date.now();
    const error = await refusal(() => sdk.track("one too many"));
    expect(error).toMatchObject({ code: "daily_quota_exceeded", status: 429 });
    expect(error.retryAfter).toBeGreaterThan(0);
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
    await sdk.track("after a reset");
    expect(seen.sent).toHaveLength(2);

    const hung = client(publicKey.key, { timeoutMs: 50, retry: { baseDelayMs: 5, maxRetries: 1 } }, (request) =>
      new Promise<Response>((_, reject) => request.signal.addEventListener("abort", () => reject(request.signal.reason))),
    );
    const error = await refusal(() => hung.sdk.track("never answered"));
    expect(error).toMatchObject({ code: "timeout", status: undefined });
    expect(hung.seen.sent).toHaveLength(2);
  });

  it("retry: { maxRetries: 0 } hands the first 429 to the caller", async () => {
    const key = await mintKey(project, { type: "public" });
    await setLimits(key.id, { rate: 1, burst: 1 });
    const { sdk, seen } = client(key.key, { retry: { maxRetries: 0 } });
    await sdk.track("first");
    const error = await refusal(() => sdk.track("second"));
    expect(error).toMatchObject({ code: "rate_limited", status: 429, retryAfter: 1 });
    expect(seen.sent).toHaveLength(2);
  });
});
