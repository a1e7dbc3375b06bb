/**
 * What the origin receives (API.md §4): no key anywhere, no client-supplied X-Composite-*
 * headers, the identity headers, and a signature that verifies with the shared secret.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import worker from "../../src/index";
import { env, expectProblem, gateway, projectWithKeys, withKey, type MintedKey, type OriginEcho } from "../helpers";

const SIGNING_SECRET = "test-origin-signing-secret";

let project: string;
let publicKey: MintedKey;
let secretKey: MintedKey;

beforeAll(async () => {
  ({ project, publicKey, secretKey } = await projectWithKeys("live"));
});

/** Independent check of signature v2 (API.md §4): recompute with WebCrypto from what the origin saw. */
async function expectedSignature(received: OriginEcho["received"]): Promise<string> {
  const { headers } = received;
  const payload = [
    "v2",
    headers["x-composite-timestamp"],
    headers["x-request-id"],
    received.method,
    received.path + received.search,
    headers["x-composite-key-id"],
    headers["x-composite-project-id"],
    headers["x-composite-key-type"],
    headers["x-composite-environment"],
    headers["x-composite-scopes"],
  ].join("\n");
  const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(SIGNING_SECRET), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(payload)));
  return "v2=" + [...mac].map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function echo(res: Response): Promise<OriginEcho> {
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as OriginEcho;
}

describe("the origin", () => {
  it("sees no key: not in Authorization, not in the query, not anywhere in what it received", async () => {
    for (const [path, init] of [
      ["/v1/events?source=web", withKey(publicKey.key, { method: "POST", body: "{}" })],
      [`/v1/events?source=web&api_key=${publicKey.key}&page=2`, { method: "POST", body: "{}" }],
      ["/v1/events?source=web", { method: "POST", body: "{}", headers: { authorization: `Basic ${btoa(`${publicKey.key}:`)}` } }],
    ] as const) {
      const res = await gateway(path, init);
      const text = await res.clone().text();
      const { received } = await echo(res);
      expect(text).not.toContain(publicKey.key);
      expect(received.headers.authorization).toBeUndefined();
      expect(received.query).toEqual(path.includes("page=2") ? { source: "web", page: "2" } : { source: "web" });
    }
  });

  it("gets the query byte for byte when the key was in it, only the api_key pairs cut out", async () => {
    const query = "?q=a%20b&flag&tilde=~&plus=a+b&empty=";
    for (const path of [`/v1/events${query}`, `/v1/events?q=a%20b&api_key=${publicKey.key}&flag&tilde=~&plus=a+b&empty=`]) {
      const init = path.includes("api_key") ? { method: "POST", body: "{}" } : withKey(publicKey.key, { method: "POST", body: "{}" });
      const { received } = await echo(await gateway(path, init));
      expect(received.search).toBe(query);
    }
    const { received } = await echo(await gateway(`/v1/events?api_key=${publicKey.key}`, { method: "POST", body: "{}" }));
    expect(received.search).toBe("");
  });

  it("never gets a key sent somewhere else as well: 400 invalid_request, not forwarded, not counted", async () => {
    const key = publicKey.key;
    const dayLeft = async () => Number((await gateway("/v1/events", withKey(key, { method: "POST", body: "{}" }))).headers.get("x-ratelimit-remaining-day"));
    const before = await dayLeft();
    for (const [path, init, where] of [
      ["/v1/events", withKey(key, { method: "POST", body: "{}", headers: { "x-api-key": key } }), "x-api-key header"],
      ["/v1/events", withKey(key, { method: "POST", body: "{}", headers: { cookie: `session=1; composite_key=${key}` } }), "cookie header"],
      [`/v1/events?API_KEY=${key}`, withKey(key, { method: "POST", body: "{}" }), "query parameter"],
      [`/v1/events?api_key=${key}&token=${key}`, { method: "POST", body: "{}" }, "query parameter"],
      [`/v1/users/${key}`, withKey(key), "path"],
    ] as const) {
      const res = await gateway(path, init);
      const body = await expectProblem(res, 400, "invalid_request", key);
      expect(body.detail).toContain(where);
      expect(res.headers.get("x-ratelimit-remaining")).toBeNull(); // refused before the limiter
    }
    expect(await dayLeft()).toBe(before - 1);
  });

  it("receives the identity headers and a signature that verifies with the shared secret", async () => {
    const before = Math.floor(Date.now() / 1000);
    const res = await gateway("/v1/users/user_42", withKey(secretKey.key, { method: "GET" }));
    const requestId = res.headers.get("x-request-id");
    const { received, signature } = await echo(res);
    expect(received.headers).toMatchObject({
      "x-composite-key-id": secretKey.id,
      "x-composite-project-id": project,
      "x-composite-key-type": "secret",
      "x-composite-environment": "live",
      "x-composite-scopes": expect.stringContaining("users:read"),
      "x-request-id": requestId,
    });
    const timestamp = Number(received.headers["x-composite-timestamp"]);
    expect(timestamp).toBeGreaterThanOrEqual(before);
    expect(timestamp).toBeLessThanOrEqual(Math.floor(Date.now() / 1000));
    expect(received.headers["x-composite-signature"]).toBe(await expectedSignature(received));
    expect(signature).toBe("valid"); // the sample origin's own verification agrees
  });

  it("signs method, path and query as forwarded, so a seen request cannot be replayed or bent (sample origin: 401)", async () => {
    const res = await gateway(`/v1/users/user_42?fields=a%20b&api_key=${secretKey.key}`, { method: "GET" });
    const { received } = await echo(res);
    expect(received.headers["x-composite-signature"]).toBe(await expectedSignature(received));
    const signed = Object.fromEntries(Object.entries(received.headers).filter(([name]) => name.startsWith("x-composite-") || name === "x-request-id"));
    const replay = (path: string, method: string, changes: Record<string, string> = {}) =>
      env.ORIGIN!.fetch(`https://origin${path}`, { method, headers: { ...signed, ...changes } });
    const reasonOf = async (r: Response) => {
      expect(r.status).toBe(401);
      return ((await r.json()) as { reason: string }).reason;
    };
    expect(await reasonOf(await replay("/v1/users/user_42?fields=a%20b", "GET"))).toBe("replayed_request");
    expect(await reasonOf(await replay("/v1/users/user_43?fields=a%20b", "GET"))).toBe("bad_signature");
    expect(await reasonOf(await replay("/v1/users/user_42?fields=a%20b", "DELETE"))).toBe("bad_signature");
    expect(await reasonOf(await replay("/v1/users/user_42?fields=all", "GET"))).toBe("bad_signature");
    expect(await reasonOf(await replay("/v1/users/user_42?fields=a%20b", "GET", { "x-composite-scopes": "admin" }))).toBe("bad_signature");
    expect(await reasonOf(await replay("/v1/users/user_42?fields=a%20b", "GET", { "x-composite-environment": "live", "x-composite-key-type": "public" }))).toBe("bad_signature");
    const old = String(Number(signed["x-composite-timestamp"]) - 301);
    expect(await reasonOf(await replay("/v1/users/user_42?fields=a%20b", "GET", { "x-composite-timestamp": old }))).toBe("bad_signature");
    expect(await reasonOf(await replay("/v1/users/user_42", "GET", { "x-composite-signature": "v1=00" }))).toBe("malformed_signature");
  });

  it("never receives a client's X-Composite-* headers (no spoofing)", async () => {
    const res = await gateway(
      "/v1/events",
      withKey(publicKey.key, {
        method: "POST",
        body: "{}",
        headers: {
          "X-Composite-Key-Id": "key_admin",
          "x-composite-project-id": "proj_other",
          "X-Composite-Key-Type": "secret",
          "X-Composite-Signature": "v1=00",
          "X-Composite-Anything": "1",
          "X-Request-Id": "req_spoofed",
        },
      }),
    );
    const { received } = await echo(res);
    expect(received.headers["x-composite-key-id"]).toBe(publicKey.id);
    expect(received.headers["x-composite-project-id"]).toBe(project);
    expect(received.headers["x-composite-key-type"]).toBe("public");
    expect(received.headers["x-composite-anything"]).toBeUndefined();
    expect(received.headers["x-request-id"]).not.toBe("req_spoofed");
    expect(received.headers["x-composite-signature"]).toBe(await expectedSignature(received));
  });

  it("never receives client-set forwarding, proxy or hop-by-hop headers: X-Forwarded-For and -Proto are the gateway's", async () => {
    const res = await gateway(
      "/v1/events",
      withKey(publicKey.key, {
        method: "POST",
        body: "{}",
        headers: {
          "cf-connecting-ip": "198.51.100.7",
          "x-forwarded-for": "10.0.0.1",
          "x-forwarded-host": "admin.internal",
          "x-forwarded-proto": "http",
          "x-forwarded-port": "8443",
          forwarded: "for=10.0.0.1;host=admin.internal;proto=http",
          "x-real-ip": "10.0.0.1",
          "proxy-authorization": "Basic c2VjcmV0OnNlY3JldA==",
          "proxy-authenticate": "Basic",
          connection: "keep-alive, X-Internal-Hop",
          "x-internal-hop": "from the client",
          "keep-alive": "timeout=5",
          te: "trailers",
          trailer: "x-checksum",
          upgrade: "h2c",
          "x-http-method-override": "DELETE",
          "x-original-url": "/v1/admin/purge",
          "x-rewrite-url": "/v1/admin/purge",
          "x-kept": "yes",
        },
      }),
    );
    const { received } = await echo(res);
    for (const name of [
      "x-forwarded-host",
      "x-forwarded-port",
      "forwarded",
      "x-real-ip",
      "proxy-authorization",
      "proxy-authenticate",
      "connection",
      "x-internal-hop",
      "keep-alive",
      "te",
      "trailer",
      "upgrade",
      "x-http-method-override",
      "x-original-url",
      "x-rewrite-url",
    ]) {
      expect(received.headers[name], name).toBeUndefined();
    }
    expect(received.headers["x-forwarded-for"]).toBe("198.51.100.7");
    expect(received.headers["x-forwarded-proto"]).toBe("https");
    expect(received.headers["x-kept"]).toBe("yes");
  });

  it("never receives the gateway's own cookies (the dashboard session); other cookies pass", async () => {
    const cookie = "theme=dark; composite_session=key_x.1.c2ln; __Host-composite_session=key_x.1.c2ln; lang=de";
    const { received } = await echo(await gateway("/v1/events", withKey(publicKey.key, { method: "POST", body: "{}", headers: { cookie } })));
    expect(received.headers.cookie).toBe("theme=dark; lang=de");
    const { received: only } = await echo(await gateway("/v1/events", withKey(publicKey.key, { method: "POST", body: "{}", headers: { cookie: "composite_session=key_x.1.c2ln" } })));
    expect(only.headers.cookie).toBeUndefined();
  });

  it("gets method, path, query, other headers and the body unchanged", async () => {
    const body = JSON.stringify({ events: Array.from({ length: 200 }, (_, i) => ({ event: "page_view", i })) });
    const res = await gateway("/v1/batch?dry_run=1&tag=a%20b", withKey(publicKey.key, {
      method: "POST",
      body,
      headers: { "content-type": "application/json", "user-agent": "composite-sdk/1.0", "accept-language": "de" },
    }));
    const { received } = await echo(res);
    expect(received).toMatchObject({ method: "POST", path: "/v1/batch", query: { dry_run: "1", tag: "a b" }, body, body_bytes: body.length });
    expect(received.headers).toMatchObject({ "content-type": "application/json", "user-agent": "composite-sdk/1.0", "accept-language": "de" });
  });

  it("answers go back to the client with X-Request-Id", async () => {
    const res = await gateway("/v1/project", withKey(publicKey.key));
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("application/json");
    expect(res.headers.get("x-request-id")).toMatch(/^req_[0-9a-f]{32}$/);
  });
});

describe("compressed answers", () => {
  async function viaCompressingOrigin(headers: Record<string, string>): Promise<Response> {
    const ctx = createExecutionContext();
    const request = new Request("https://gateway.test/v1/project", withKey(publicKey.key, { headers }));
    const res = await worker.fetch(request, { ...env, ORIGIN: env.COMPRESSING_ORIGIN }, ctx);
    await waitOnExecutionContext(ctx);
    return res;
  }

  // The runtime decoded the origin's gzip; the edge compresses again for clients that ask.
  it.each([[{}], [{ "accept-encoding": "gzip, br" }], [{ "accept-encoding": "br, gzip;q=0" }], [{ "accept-encoding": "*" }]])(
    "the body goes out decoded, without the origin's Content-Encoding (%o)",
    async (headers) => {
      const res = await viaCompressingOrigin(headers);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-encoding")).toBeNull();
      expect(((await res.json()) as { hello: string }).hello).toBe("world ".repeat(200));
    },
  );
});
