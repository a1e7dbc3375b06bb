/**
 * Every row of API.md §2 that the foundation covers: status, code, problem+json content type,
 * request id, WWW-Authenticate on 401, and never the presented key in the answer.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import worker from "../../src/index";
import { generateKey } from "../../src/keys/format";
import { env, expectProblem, gateway, mintKey, operator, projectWithKeys, withKey, type MintedKey, type OriginEcho } from "../helpers";

let project: string;
let publicKey: MintedKey;
let secretKey: MintedKey;

beforeAll(async () => {
  ({ project, publicKey, secretKey } = await projectWithKeys());
});

/** Two Authorization headers, as a client sends them; the runtime joins them with ", ". */
function twoAuthorizations(first: string, second: string): Headers {
  const headers = new Headers();
  headers.append("authorization", `Bearer ${first}`);
  headers.append("authorization", `Bearer ${second}`);
  return headers;
}

const CHALLENGE_BAD_KEY = 'Bearer realm="composite", error="invalid_token"';

describe("400", () => {
  it("ambiguous_credentials: two different keys (header and query)", async () => {
    const res = await gateway(`/v1/events?api_key=${secretKey.key}`, withKey(publicKey.key, { method: "POST" }));
    await expectProblem(res, 400, "ambiguous_credentials", publicKey.key);
  });

  it("ambiguous_credentials: two different keys in the query", async () => {
    const res = await gateway(`/v1/events?api_key=${publicKey.key}&api_key=${secretKey.key}`, { method: "POST" });
    const text = await res.clone().text();
    await expectProblem(res, 400, "ambiguous_credentials", secretKey.key);
    expect(text).not.toContain(publicKey.key);
  });

  it("ambiguous_credentials: two Authorization headers with different keys", async () => {
    const res = await gateway("/v1/events", { method: "POST", headers: twoAuthorizations(publicKey.key, secretKey.key) });
    const text = await res.clone().text();
    await expectProblem(res, 400, "ambiguous_credentials", publicKey.key);
    expect(text).not.toContain(secretKey.key);
  });

  it("the same key in two Authorization headers is the key", async () => {
    const res = await gateway("/v1/events", { method: "POST", headers: twoAuthorizations(publicKey.key, publicKey.key), body: "{}" });
    expect(res.status).toBe(200);
  });

  it("the same key twice is not ambiguous", async () => {
    const res = await gateway(`/v1/events?api_key=${publicKey.key}`, withKey(publicKey.key, { method: "POST", body: "{}" }));
    expect(res.status).toBe(200);
  });

  it("invalid_request: bad JSON or fields on the operator API", async () => {
    const res = await operator("POST", "/keys", { project_id: project, type: "root", environment: "test", label: "x" });
    const body = await expectProblem(res, 400, "invalid_request");
    expect(body.detail).toContain("type");
  });
});

describe("401", () => {
  it("missing_api_key: no key at all, challenge without error", async () => {
    const res = await gateway("/v1/events", { method: "POST" });
    await expectProblem(res, 401, "missing_api_key");
    expect(res.headers.get("www-authenticate")).toBe('Bearer realm="composite"');
  });

  it.each([
    ["a valid key", () => secretKey.key],
    ["a made-up key", () => "not a key at all"],
    ["nothing", () => ""],
  ])("missing_api_key with X-API-Key (%s) and no accepted credential: says the header is not read, names the forms, never echoes it", async (_name, value) => {
    const sent = value();
    const res = await gateway("/v1/events", { method: "POST", headers: { "x-api-key": sent } });
    const text = await res.clone().text();
    const body = await expectProblem(res, 401, "missing_api_key");
    expect(body.detail).toBe(
      "The X-API-Key header is not read here, so no API key was presented. Send the key as `Authorization: Bearer <key>` (preferred), `Authorization: Basic base64(<key>:)`, or `?api_key=<key>`, and drop X-API-Key.",
    );
    expect(res.headers.get("www-authenticate")).toBe('Bearer realm="composite"');
    if (sent !== "") expect(text).not.toContain(sent);
  });

  it("X-API-Key beside an accepted credential: the accepted one counts (and the same key in both is refused as sent elsewhere)", async () => {
    const other = await gateway("/v1/events", withKey(publicKey.key, { method: "POST", headers: { "x-api-key": "something else" } }));
    expect(other.status).toBe(200);
    const same = await gateway("/v1/events", withKey(publicKey.key, { method: "POST", headers: { "x-api-key": publicKey.key } }));
    await expectProblem(same, 400, "invalid_request", publicKey.key);
  });

  it.each([
    ["Bearer with nothing after it", { authorization: "Bearer" }],
    ["empty api_key parameter", {}],
  ])("missing_api_key: %s", async (_name, headers) => {
    const res = await gateway("/v1/events?api_key=", { method: "POST", headers });
    await expectProblem(res, 401, "missing_api_key");
  });

  it.each([
    ["a second space after Bearer", (key: string) => ({ headers: { authorization: `Bearer  ${key}` } })],
    ["a tab after Bearer", (key: string) => ({ headers: { authorization: `Bearer \t${key}` } })],
    ["a trailing newline in the query", (key: string) => ({ query: `?api_key=${key}%0A` })],
    ["a leading space in the query", (key: string) => ({ query: `?api_key=%20${key}` })],
    ["a trailing CRLF in Basic credentials", (key: string) => ({ headers: { authorization: `Basic ${btoa(`${key}\r\n:`)}` } })],
  ])("api_key_whitespace: %s", async (_name, build) => {
    const { headers, query } = build(publicKey.key) as { headers?: Record<string, string>; query?: string };
    const res = await gateway(`/v1/events${query ?? ""}`, { method: "POST", headers });
    await expectProblem(res, 401, "api_key_whitespace", publicKey.key);
    expect(res.headers.get("www-authenticate")).toBe(CHALLENGE_BAD_KEY);
  });

  it.each([
    ["bad checksum", (key: string) => key.slice(0, -1) + (key.endsWith("A") ? "B" : "A")],
    ["wrong prefix", (key: string) => "xk" + key.slice(2)],
    ["too short", (key: string) => key.slice(0, -2)],
    ["bad alphabet", (key: string) => key.slice(0, 10) + "-" + key.slice(11)],
    ["unicode look-alike", (key: string) => key.slice(0, 10) + "\u043e" + key.slice(11)],
  ])("malformed_api_key: %s", async (_name, mangle) => {
    const bad = mangle(publicKey.key);
    const res = await gateway(`/v1/events?api_key=${encodeURIComponent(bad)}`, { method: "POST" });
    await expectProblem(res, 401, "malformed_api_key", bad);
    expect(res.headers.get("www-authenticate")).toBe(CHALLENGE_BAD_KEY);
  });

  it("malformed_api_key: an unsupported Authorization scheme", async () => {
    const res = await gateway("/v1/events", { method: "POST", headers: { authorization: `Token ${publicKey.key}` } });
    await expectProblem(res, 401, "malformed_api_key", publicKey.key);
  });

  it("invalid_api_key: well-formed but unknown", async () => {
    const unknown = generateKey("secret", "live");
    const res = await gateway("/v1/events", withKey(unknown, { method: "POST" }));
    await expectProblem(res, 401, "invalid_api_key", unknown);
    expect(res.headers.get("www-authenticate")).toBe(CHALLENGE_BAD_KEY);
  });

  it("revoked_api_key: revoked through the operator API", async () => {
    const key = await mintKey(project, { type: "secret" });
    expect((await gateway("/v1/events", withKey(key.key))).status).toBe(200);
    expect((await operator("DELETE", `/keys/${key.id}`)).status).toBe(200);
    const res = await gateway("/v1/events", withKey(key.key));
    await expectProblem(res, 401, "revoked_api_key", key.key);
    expect(res.headers.get("www-authenticate")).toBe(CHALLENGE_BAD_KEY);
  });

  it("expired_api_key: past expires_at", async () => {
    const key = await mintKey(project, { type: "secret", expires_at: new Date(Date.now() + 1000).toISOString() });
    expect((await gateway("/v1/events", withKey(key.key))).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const res = await gateway("/v1/events", withKey(key.key));
    await expectProblem(res, 401, "expired_api_key", key.key);
  });
});

describe("403", () => {
  it("insufficient_permissions: a public key on a secret-only route says so", async () => {
    const res = await gateway("/v1/export", withKey(publicKey.key));
    const body = await expectProblem(res, 403, "insufficient_permissions", publicKey.key);
    expect(body.detail).toContain("Public keys cannot export data");
  });

  it("insufficient_permissions: a scoped secret key names the missing scope", async () => {
    const key = await mintKey(project, { type: "secret", scopes: ["events:write"] });
    const res = await gateway("/v1/users", withKey(key.key));
    const body = await expectProblem(res, 403, "insufficient_permissions", key.key);
    expect(body.detail).toContain("users:read");
  });

  it("origin_not_allowed: public key with an allowed-origins list, other Origin", async () => {
    const key = await mintKey(project, { type: "public", allowed_origins: ["https://app.example.com"] });
    const ok = await gateway("/v1/events", withKey(key.key, { method: "POST", headers: { origin: "https://app.example.com" } }));
    expect(ok.status).toBe(200);
    for (const origin of ["https://evil.example.com", "http://app.example.com", "https://app.example.com:8443"]) {
      const res = await gateway("/v1/events", withKey(key.key, { method: "POST", headers: { origin } }));
      await expectProblem(res, 403, "origin_not_allowed", key.key);
      expect(res.headers.get("x-ratelimit-limit"), "a 403 to a valid key describes its limits").toBe("1000");
    }
    const noOrigin = await gateway("/v1/events", withKey(key.key, { method: "POST" }));
    await expectProblem(noOrigin, 403, "origin_not_allowed", key.key);
  });

  it.each(["api.composite.dev", "localhost.example.com", "127.0.0.1.nip.io", "10.0.0.1", "[::2]"])(
    "https_required: plain HTTP to a non-local host (%s)",
    async (host) => {
      const res = await worker.fetch(new Request(`http://${host}/v1/events`, withKey(publicKey.key, { method: "POST" })), env, createExecutionContext());
      await expectProblem(res, 403, "https_required", publicKey.key);
    },
  );

  it("plain HTTP to a loopback host is allowed (local development)", async () => {
    for (const host of ["127.0.0.1:8787", "localhost:8787", "127.0.0.2", "app.localhost:8787", "[::1]:8787"]) {
      const res = await worker.fetch(new Request(`http://${host}/v1/events`, withKey(publicKey.key, { method: "POST", body: "{}" })), env, createExecutionContext());
      expect(res.status).toBe(200);
    }
  });
});

describe("404 route_not_found", () => {
  it.each([
    ["GET", "/"],
    ["GET", "/v2/events"],
    ["PUT", "/v1/events"],
    ["GET", "/v1/identify"],
    ["POST", "/v1/events/"],
    ["GET", "/v1/admin"],
    ["POST", "/v1/billing"],
    ["GET", "/v1/users/"],
    ["HEAD", "/v1/events"],
  ])("%s %s", async (method, path) => {
    const res = await gateway(path, withKey(secretKey.key, { method }));
    if (method === "HEAD") {
      expect(res.status).toBe(404);
      return;
    }
    await expectProblem(res, 404, "route_not_found", secretKey.key);
  });
});

describe("413 payload_too_large", () => {
  const overLimit = () => new Uint8Array(1024 * 1024 + 1);
  /** A body of `chunks` × 256 KiB with no Content-Length (sent chunked). */
  const chunkedBody = (chunks: number) => {
    let sent = 0;
    return new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ >= chunks) return controller.close();
        controller.enqueue(new Uint8Array(256 * 1024));
      },
    });
  };

  it("a declared Content-Length over 1 MiB", async () => {
    const res = await gateway("/v1/batch", withKey(publicKey.key, { method: "POST", body: overLimit() }));
    await expectProblem(res, 413, "payload_too_large", publicKey.key);
  });

  it("a streamed body without Content-Length that grows past 1 MiB", async () => {
    const res = await gateway("/v1/batch", withKey(publicKey.key, { method: "POST", body: chunkedBody(5) }));
    await expectProblem(res, 413, "payload_too_large", publicKey.key);
  });

  it("exactly 1 MiB goes through, declared or streamed", async () => {
    const declared = await gateway("/v1/batch", withKey(publicKey.key, { method: "POST", body: new Uint8Array(1024 * 1024) }));
    expect(declared.status).toBe(200);
    expect(((await declared.json()) as OriginEcho).received.body_bytes).toBe(1024 * 1024);
    const streamed = await gateway("/v1/batch", withKey(publicKey.key, { method: "POST", body: chunkedBody(4) }));
    expect(streamed.status).toBe(200);
    expect(((await streamed.json()) as OriginEcho).received.body_bytes).toBe(1024 * 1024);
  });

  it("the origin never sees a cut-off body", async () => {
    const received = async () => ((await (await env.ORIGIN!.fetch("https://origin/_origin/requests")).json()) as { total: number }).total;
    const before = await received();
    expect((await gateway("/v1/events", withKey(publicKey.key, { method: "POST", body: "{}" }))).status).toBe(200);
    expect(await received()).toBe(before + 1); // the counter does count what reaches the origin
    const res = await gateway("/v1/batch", withKey(publicKey.key, { method: "POST", body: chunkedBody(5) }));
    expect(res.status).toBe(413);
    expect(await received()).toBe(before + 1);
  });
});

describe("502 / 504", () => {
  async function withOrigin(overrides: Partial<typeof env>, headers: Record<string, string> = {}): Promise<Response> {
    const ctx = createExecutionContext();
    const request = new Request("https://gateway.test/v1/events", withKey(publicKey.key, { method: "POST", body: "{}", headers }));
    const res = await worker.fetch(request, { ...env, ...overrides }, ctx);
    await waitOnExecutionContext(ctx);
    return res;
  }

  it("origin_unavailable: nothing listens at ORIGIN_URL", async () => {
    const res = await withOrigin({ ORIGIN: undefined, ORIGIN_URL: "http://127.0.0.1:9" });
    await expectProblem(res, 502, "origin_unavailable", publicKey.key);
  });

  it("origin_unavailable: no origin configured at all", async () => {
    const res = await withOrigin({ ORIGIN: undefined, ORIGIN_URL: "" });
    await expectProblem(res, 502, "origin_unavailable", publicKey.key);
  });

  it("origin_timeout: the origin does not answer within ORIGIN_TIMEOUT_MS", async () => {
    const started = Date.now();
    // The sample origin waits this long on request (examples/origin).
    const res = await withOrigin({ ORIGIN_TIMEOUT_MS: "200" }, { "x-sample-origin-delay-ms": "3000" });
    await expectProblem(res, 504, "origin_timeout", publicKey.key);
    expect(Date.now() - started).toBeLessThan(5000);
  });
});
