/**
 * Paths an origin may read differently than the gateway checked (issue 14, finding 10; API.md
 * §2): `;` parameters (Tomcat's `..;`), an encoded `/`, `\` or `%`, and `..` segments after
 * decoding are 400 invalid_request before any lookup, never forwarded, never counted.
 */
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { pathProblem } from "../../src/policy/path-safety";
import { env, expectProblem, gateway, projectWithKeys, withKey, type MintedKey } from "../helpers";

let secretKey: MintedKey;
beforeAll(async () => {
  ({ secretKey } = await projectWithKeys());
});

const originTotal = async () => ((await (await env.ORIGIN!.fetch("https://origin/_origin/requests")).json()) as { total: number }).total;

describe("400 invalid_request for ambiguous paths", () => {
  it.each([
    ["a ; parameter", "/v1/users/me;jsessionid=1"],
    ["Tomcat's ..;", "/v1/users/..;/admin/purge"],
    ["an encoded ;", "/v1/users/a%3Bb"],
    ["an encoded /", "/v1/users/..%2Fadmin%2Fx"],
    ["an encoded / in lower case", "/v1/users/me%2f..%2fadmin"],
    ["an encoded \\", "/v1/users/a%5Cb"],
    ["an encoded %", "/v1/users/%252e%252e"],
    ["a broken escape", "/v1/users/%zz"],
    ["an escape of a non-UTF-8 byte", "/v1/users/%ff"],
    ["on an admin route", "/v1/admin/a;b"],
    ["on the management API", "/v1/api_keys/key_x;y"],
  ])("%s (%s): refused before the key is looked at, never forwarded", async (_, path) => {
    const before = await originTotal();
    const res = await gateway(path, withKey(secretKey.key));
    const body = await expectProblem(res, 400, "invalid_request", secretKey.key);
    expect(body.detail).toContain("path");
    expect(res.headers.get("x-ratelimit-remaining")).toBeNull();
    expect(await originTotal()).toBe(before);
  });

  it("even without a key, or with a malformed one: the path is checked first", async () => {
    await expectProblem(await gateway("/v1/users/..;/x"), 400, "invalid_request");
    await expectProblem(await gateway("/v1/users/a%2Fb", withKey("sk_test_nope")), 400, "invalid_request");
  });

  it("ordinary escapes still pass: %20, %40, unicode", async () => {
    for (const path of ["/v1/users/a%20b", "/v1/users/me%40example.com", "/v1/users/%C3%A9"]) {
      expect((await gateway(path, withKey(secretKey.key))).status, path).toBe(200);
    }
  });

  it("property: arbitrary paths never get a 500, and are forwarded only when they are unambiguous", async () => {
    const segment = fc.oneof(
      fc.string({ unit: "grapheme", maxLength: 12 }),
      fc.constantFrom("..", ".", "..;", ";a=b", "%2F", "%2f", "%5C", "%25", "%2e%2e", "%2E.", "%3B", "%", "%zz", "%C3", "me", "u_1"),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(segment, { minLength: 1, maxLength: 3 }), async (segments) => {
        const path = "/v1/users/" + segments.join("");
        let url: URL;
        try {
          url = new URL("https://gateway.test" + path);
        } catch {
          return; // not a URL a client could send
        }
        const res = await gateway(url.pathname + url.search, withKey(secretKey.key));
        expect(res.status).not.toBe(500);
        if (res.status === 200) expect(pathProblem(url.pathname)).toBeNull();
        if (pathProblem(url.pathname) !== null) expect(res.status).toBe(400);
        await res.body?.cancel();
      }),
      { numRuns: 300 },
    );
  });
});

describe("pathProblem (pure)", () => {
  it("names what is wrong, and passes plain paths", () => {
    expect(pathProblem("/v1/events")).toBeNull();
    expect(pathProblem("/v1/users/a%20b")).toBeNull();
    expect(pathProblem("/v1/users/a;b")).toContain(";");
    expect(pathProblem("/v1/users/a%2Fb")).toContain("encoded");
    expect(pathProblem("/v1/users/%2e%2e/admin")).toContain("..");
    expect(pathProblem("/v1/users/..")).toContain("..");
    expect(pathProblem("/v1/users/...")).toBeNull();
  });

  it("property: a path passes only when no segment, decoded, is `..` or holds ; / \\ or %", () => {
    const piece = fc.oneof(fc.string({ unit: "binary", maxLength: 8 }), fc.constantFrom("%2F", "%5c", "%25", "%3b", ";", "..", "%2e", ".", "%41", "%"));
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 8 }), (pieces) => {
        const path = "/" + pieces.join("");
        const problem = pathProblem(path);
        const segments = path.split("/").slice(1);
        const decoded = segments.map((s) => {
          try {
            return decodeURIComponent(s);
          } catch {
            return null;
          }
        });
        const ambiguous = decoded.some((s) => s === null || s === ".." || /[;/\\%]/.test(s));
        expect(problem !== null).toBe(ambiguous);
      }),
      { numRuns: 10_000 },
    );
  });
});

/** Every character percent-encoded, as a client (or an attacker probing our logs) may send it. */
const percentEncoded = (text: string) => [...text].map((ch) => "%" + ch.charCodeAt(0).toString(16).padStart(2, "0")).join("");
const base64 = (text: string) => btoa(text);
const base64url = (text: string) => btoa(text).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");

describe("a key in the URL, encoded (issue 14, finding 9)", () => {
  it("is never echoed in a 404's detail, percent-encoded, partly encoded or base64", async () => {
    const key = secretKey.key;
    for (const hidden of [percentEncoded(key), `%${key.charCodeAt(0).toString(16)}${key.slice(1)}`, `${key.slice(0, 10)}%41${key.slice(11)}`, base64(key), base64url(`user:${key}`)]) {
      const res = await gateway(`/v2/${hidden}`, withKey(key));
      const body = await expectProblem(res, 404, "route_not_found", key);
      expect(body.detail as string).not.toContain(hidden);
      expect(body.detail as string).toContain("[redacted key]");
    }
  });

  it("percent- or base64-encoded in the path or another query parameter: 400 invalid_request, never forwarded", async () => {
    const key = secretKey.key;
    const before = await originTotal();
    for (const [path, where] of [
      [`/v1/users/${percentEncoded(key)}`, "path"],
      [`/v1/users/${base64url(key)}`, "path"],
      [`/v1/users/me?token=${percentEncoded(percentEncoded(key)).replaceAll("%", "%25")}`, "query parameter"],
      [`/v1/users/me?token=${encodeURIComponent(base64(key))}`, "query parameter"],
      [`/v1/users/me?session=${base64url(JSON.stringify({ u: 1, key }))}`, "query parameter"],
      [`/v1/users/me?${percentEncoded("token")}=${percentEncoded(key)}`, "query parameter"],
    ] as const) {
      const res = await gateway(path, withKey(key));
      const body = await expectProblem(res, 400, "invalid_request", key);
      expect(body.detail, path).toContain(where);
      expect(res.headers.get("x-ratelimit-remaining")).toBeNull();
    }
    expect(await originTotal()).toBe(before);
  });

  it("base64 or percent-encoded in another header: 400 invalid_request too", async () => {
    const key = secretKey.key;
    for (const value of [base64(key), percentEncoded(key), base64(`${key}:`)]) {
      const res = await gateway("/v1/users/me", withKey(key, { headers: { "x-token": value } }));
      await expectProblem(res, 400, "invalid_request", key);
    }
  });
});
