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
