/**
 * Browsers (API.md §2): public keys are readable by pages — preflights answered at the edge,
 * headers exposed on real answers. Secret keys are not: a secret key sent by a browser (an
 * Origin header) is refused unless the request opts in, and no answer to a secret key carries
 * CORS headers unless it opted in.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { expectProblem, gateway, mintKey, newProject, withKey, type MintedKey } from "../helpers";

let publicKey: MintedKey;
let secretKey: MintedKey;
beforeAll(async () => {
  const project = await newProject();
  publicKey = await mintKey(project, { type: "public", allowed_origins: ["https://app.example.com"] });
  secretKey = await mintKey(project, { type: "secret" });
});

const PAGE = "https://app.example.com";
const OPT_IN = { "composite-browser-access": "true" };

function expectNoCors(res: Response): void {
  for (const [name] of res.headers) expect(name.startsWith("access-control-"), name).toBe(false);
}

describe("CORS", () => {
  it("answers a preflight without a key and without reaching the origin", async () => {
    const res = await gateway("/v1/events", {
      method: "OPTIONS",
      headers: {
        origin: PAGE,
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type",
      },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    expect(res.headers.get("access-control-allow-methods")).toContain("POST");
    expect(res.headers.get("access-control-allow-headers")).toBe("authorization,content-type");
    expect(res.headers.get("access-control-max-age")).toBe("86400");
    expect(await res.text()).toBe("");
  });

  it("exposes the request id on forwarded answers and on errors", async () => {
    const ok = await gateway("/v1/events", withKey(publicKey.key, { method: "POST", body: "{}", headers: { origin: PAGE } }));
    expect(ok.status).toBe(200);
    expect(ok.headers.get("access-control-expose-headers")).toContain("X-Request-Id");
    const unknown = await gateway("/v1/events", withKey(publicKey.key.slice(0, 12) + "0".repeat(publicKey.key.length - 12), { method: "POST", headers: { origin: PAGE } }));
    expect(unknown.status).toBe(401);
    expect(unknown.headers.get("access-control-expose-headers")).toContain("X-Request-Id");
    expect(unknown.headers.get("access-control-allow-origin"), "no key's list governs an unknown key's error").toBe("*");
  });

  it("follows the key's allowed origins: readable by an allowed page, by none when the key refuses the page", async () => {
    const ok = await gateway("/v1/events", withKey(publicKey.key, { method: "POST", body: "{}", headers: { origin: PAGE } }));
    expect(ok.status).toBe(200);
    expect(ok.headers.get("access-control-allow-origin")).toBe(PAGE);
    expect(ok.headers.get("vary")).toContain("Origin");
    const refused = await gateway("/v1/events", withKey(publicKey.key, { method: "POST", headers: { origin: "https://evil.example.com" } }));
    await expectProblem(refused, 403, "origin_not_allowed", publicKey.key);
    expectNoCors(refused);
  });

  it("a key without a list is readable by any page", async () => {
    const anyPage = await mintKey(await newProject(), { type: "public" });
    for (const origin of ["https://one.example", "http://localhost:3000"]) {
      const res = await gateway("/v1/events", withKey(anyPage.key, { method: "POST", body: "{}", headers: { origin } }));
      expect(res.status).toBe(200);
      expect(res.headers.get("access-control-allow-origin")).toBe(origin);
    }
    const sandboxed = await gateway("/v1/events", withKey(anyPage.key, { method: "POST", body: "{}", headers: { origin: "null" } }));
    expect(sandboxed.headers.get("access-control-allow-origin"), "an opaque origin is not echoed").toBe("*");
  });
});

describe("secret keys in browsers", () => {
  it("a secret key sent with an Origin header is refused: 403 secret_key_in_browser, no CORS headers, nothing forwarded or counted", async () => {
    for (const init of [
      withKey(secretKey.key, { headers: { origin: PAGE } }),
      { headers: { origin: "null", authorization: `Basic ${btoa(`${secretKey.key}:`)}` } },
    ]) {
      const res = await gateway("/v1/events", init);
      const body = await expectProblem(res, 403, "secret_key_in_browser", secretKey.key);
      expect(body.detail).toContain("public key");
      expect(body.detail).toContain("Composite-Browser-Access: true");
      expectNoCors(res);
      expect(res.headers.get("x-ratelimit-remaining")).toBeNull(); // refused before the limiter
    }
    const res = await gateway(`/v1/api_keys?api_key=${secretKey.key}`, { headers: { origin: PAGE } });
    await expectProblem(res, 403, "secret_key_in_browser", secretKey.key);
    expectNoCors(res);
  });

  it("opted in with Composite-Browser-Access: true, it is served, with CORS headers", async () => {
    const res = await gateway("/v1/events", withKey(secretKey.key, { headers: { origin: PAGE, ...OPT_IN } }));
    expect(res.status).toBe(200);
    expect(res.headers.get("access-control-allow-origin")).toBe(PAGE);
    const refused = await gateway("/v1/admin/x/y", withKey(secretKey.key, { headers: { origin: PAGE, ...OPT_IN } }));
    expect(refused.headers.get("access-control-allow-origin")).toBe(PAGE);
  });

  it("any other value of the header does not opt in", async () => {
    for (const value of ["false", "1", "yes", ""]) {
      const res = await gateway("/v1/events", withKey(secretKey.key, { headers: { origin: PAGE, "composite-browser-access": value } }));
      await expectProblem(res, 403, "secret_key_in_browser");
      expectNoCors(res);
    }
  });

  it("no answer to a secret key carries CORS headers, whatever the outcome", async () => {
    // Without an Origin header (a server), CORS does not apply at all; with a mistyped or unknown secret key it does not either.
    const served = await gateway("/v1/events", withKey(secretKey.key));
    expect(served.status).toBe(200);
    expectNoCors(served);
    for (const key of [secretKey.key.slice(0, -1) + "0", "sk_test_zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz44XL3S"]) {
      const res = await gateway("/v1/events", withKey(key, { headers: { origin: PAGE } }));
      expect(res.status).toBe(403);
      expectNoCors(res);
    }
  });

  it("a preflight cannot know the key and is answered as before: the real answer decides what the page may read", async () => {
    const res = await gateway("/v1/events", {
      method: "OPTIONS",
      headers: { origin: PAGE, "access-control-request-method": "GET", "access-control-request-headers": "authorization, composite-browser-access" },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get("access-control-allow-headers")).toBe("authorization,composite-browser-access");
  });
});
