/**
 * Property tests of the pure pieces every request passes through — credential extraction, key
 * format, the route table, rate-limit header formatting, problem bodies, redaction — with
 * arbitrary strings: full unicode, control characters, huge inputs. Each holds for 10,000 runs:
 * nothing throws but a GatewayError, and no key given as input comes back in any output. A few
 * properties then go through the Worker's fetch (fewer runs: each is a real request): never a
 * 500, never the key in the answer.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { readApiKey, requireWellFormed } from "../../src/keys/credentials";
import { generateKey, KEY_LENGTH, parseKey } from "../../src/keys/format";
import { rateLimitHeaders } from "../../src/limiter/headers";
import { ERRORS, GatewayError, problemResponse, type ErrorCode } from "../../src/http/problem";
import { redactKeys } from "../../src/http/redact";
import { matchRoute } from "../../src/policy/routes";
import { gateway } from "../helpers";

const RUNS = { numRuns: 10_000 };

/** Any text: full unicode (lone surrogates included), control characters, now and then huge. */
const anyText = fc.oneof(
  { weight: 8, arbitrary: fc.string({ unit: "binary", maxLength: 80 }) },
  { weight: 1, arbitrary: fc.string({ unit: fc.constantFrom("\u0000", "\r", "\n", "\t", " ", "\u00a0", "\u2028", "\ufeff", "%", "/", ","), maxLength: 40 }) },
  { weight: 1, arbitrary: fc.nat({ max: 200_000 }).map((n) => "x".repeat(n)) },
);
const aKey = fc.tuple(fc.constantFrom("public" as const, "secret" as const), fc.constantFrom("test" as const, "live" as const)).map(([t, e]) => generateKey(t, e));

/** Runs `f`; a GatewayError is an answer, anything else thrown is a bug. */
function outcome<T>(f: () => T): { value: T } | { error: GatewayError } {
  try {
    return { value: f() };
  } catch (error) {
    expect(error).toBeInstanceOf(GatewayError);
    return { error: error as GatewayError };
  }
}

describe("credential extraction", () => {
  it("any Authorization header and query: a key or a GatewayError, whose detail never holds the key", () => {
    fc.assert(
      fc.property(aKey, anyText, anyText, fc.constantFrom("Bearer ", "bearer ", "Basic ", "", "Token "), fc.boolean(), (key, before, after, scheme, inQuery) => {
        const header = `${scheme}${before}${key}${after}`;
        const url = new URL("https://gateway.test/v1/events");
        if (inQuery) url.searchParams.set("api_key", `${after}${key}`);
        const result = outcome(() => readApiKey(header, url));
        if ("error" in result) expect(result.error.detail).not.toContain(key);
      }),
      RUNS,
    );
  });

  it("any presented string: requireWellFormed accepts exactly what parseKey accepts, and never echoes it", () => {
    fc.assert(
      fc.property(fc.oneof(anyText, aKey), (presented) => {
        const result = outcome(() => requireWellFormed(presented));
        expect("value" in result).toBe(parseKey(presented).ok);
        if ("error" in result && presented.length >= 8) expect(result.error.detail).not.toContain(presented);
      }),
      RUNS,
    );
  });
});

describe("key format", () => {
  it("parseKey never throws, and accepts only 46 characters with a known prefix", () => {
    fc.assert(
      fc.property(anyText, (candidate) => {
        const parsed = parseKey(candidate);
        if (parsed.ok) {
          expect(candidate).toHaveLength(KEY_LENGTH);
          expect(candidate).toMatch(/^[ps]k_(test|live)_[0-9A-Za-z]{38}$/);
        }
      }),
      RUNS,
    );
  });

  it("a generated key always parses; any one character changed never does", () => {
    fc.assert(
      fc.property(aKey, fc.nat({ max: KEY_LENGTH - 1 }), fc.string({ unit: "binary", minLength: 1, maxLength: 1 }), (key, at, replacement) => {
        expect(parseKey(key).ok).toBe(true);
        const changed = key.slice(0, at) + replacement + key.slice(at + 1);
        if (changed !== key) expect(parseKey(changed).ok).toBe(false);
      }),
      RUNS,
    );
  });
});

describe("route table", () => {
  it("any method and path: a rule or null, never a throw; nothing outside /v1/ is a route", () => {
    const method = fc.oneof(fc.constantFrom("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD", "get"), anyText);
    const path = fc.oneof(anyText, anyText.map((rest) => `/v1/${rest}`), fc.array(fc.constantFrom("v1", "events", "users", "..", ".", "%2F", "", "admin", "me"), { maxLength: 8 }).map((s) => "/" + s.join("/")));
    fc.assert(
      fc.property(method, path, (m, p) => {
        const rule = matchRoute(m, p);
        if (rule !== null) expect(p.startsWith("/v1/") || p === "/v1").toBe(true);
      }),
      RUNS,
    );
  });
});

describe("rate-limit headers", () => {
  it("any snapshot in range: every header is a valid header value, and counts are whole and within their limits", () => {
    const snapshot = fc
      .record({
        rate: fc.integer({ min: 1, max: 1_000_000 }),
        burst: fc.integer({ min: 1, max: 10_000_000 }),
        daily: fc.integer({ min: 1, max: 1_000_000_000 }),
        tokensShare: fc.double({ min: 0, max: 1, noNaN: true }),
        dayShare: fc.double({ min: 0, max: 1, noNaN: true }),
        now: fc.integer({ min: 0, max: 4_102_444_800_000 }),
      })
      .map(({ tokensShare, dayShare, ...limits }) => ({ ...limits, tokens: tokensShare * limits.burst, dayUsed: Math.floor(dayShare * limits.daily) }));
    fc.assert(
      fc.property(snapshot, (s) => {
        const headers = new Headers(rateLimitHeaders(s)); // throws on an invalid header value
        for (const [, value] of headers) expect(value).toMatch(/^[\x20-\x7e]+$/);
        const remaining = Number(headers.get("x-ratelimit-remaining"));
        expect(Number.isInteger(remaining) && remaining >= 0 && remaining <= s.burst).toBe(true);
        const remainingDay = Number(headers.get("x-ratelimit-remaining-day"));
        expect(Number.isInteger(remainingDay) && remainingDay >= 0 && remainingDay <= s.daily).toBe(true);
      }),
      RUNS,
    );
  });
});

describe("problem bodies", () => {
  const codes = Object.keys(ERRORS) as ErrorCode[];

  it("any code and detail: problem+json that parses, with the code's status and the members of API.md §2", async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...codes), anyText, (code, detail) => {
        const res = problemResponse(new GatewayError(code, detail), "req_0123456789abcdef0123456789abcdef");
        expect(res.status).toBe(ERRORS[code][0]);
        expect(res.headers.get("content-type")).toBe("application/problem+json");
        return res.json().then((body) => {
          expect(body).toMatchObject({ code, status: ERRORS[code][0], title: ERRORS[code][1], detail, request_id: "req_0123456789abcdef0123456789abcdef" });
        });
      }),
      RUNS,
    );
  });

  it("redactKeys: a key anywhere in any text never survives", () => {
    fc.assert(
      fc.property(aKey, anyText, anyText, (key, before, after) => {
        expect(redactKeys(`${before}${key}${after}`)).not.toContain(key);
      }),
      RUNS,
    );
  });
});

describe("through the Worker's fetch", () => {
  /** Header values as clients send them: visible ASCII, spaces and tabs (non-ASCII is tested on the pure functions above). */
  const headerText = fc.string({ unit: fc.oneof(fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), fc.constant("\t")), maxLength: 120 });

  it("any Authorization header around a key, any path: never a 500, never the key in the answer", async () => {
    const path = fc.oneof(
      fc.constantFrom("/v1/events", "/v1/export", "/v1/api_keys", "/_operator/projects", "/dashboard/login", "/nope"),
      fc.webPath().map((p) => `/v1${p.startsWith("/") ? p : `/${p}`}`),
    );
    await fc.assert(
      fc.asyncProperty(aKey, headerText, headerText, path, fc.constantFrom("GET", "POST", "PATCH", "DELETE"), async (key, before, after, p, method) => {
        let request: Request;
        try {
          request = new Request(`https://gateway.test${p}`, { method, headers: { authorization: `Bearer ${before}${key}${after}` }, body: method === "GET" ? undefined : "{}" });
        } catch {
          return; // a value the runtime refuses never reaches the Worker
        }
        const res = await gateway(request.url.slice("https://gateway.test".length), { method, headers: request.headers, body: method === "GET" ? undefined : "{}" });
        const text = await res.text();
        expect(res.status, text).toBeLessThan(500);
        expect(text).not.toContain(key);
        for (const [, value] of res.headers) expect(value).not.toContain(key);
      }),
      { numRuns: 300 },
    );
  });

  it("a key in any query parameter or path segment: never a 500, never the key in the answer", async () => {
    await fc.assert(
      fc.asyncProperty(aKey, fc.constantFrom("api_key", "key", "token", "x"), fc.constantFrom("query", "path"), async (key, name, where) => {
        const target = where === "query" ? `/v1/events?${name}=${key}` : `/v1/events/${key}`;
        const res = await gateway(target, { method: "POST", body: "{}" });
        const text = await res.text();
        expect(res.status, text).toBeLessThan(500);
        expect(text).not.toContain(key);
      }),
      { numRuns: 200 },
    );
  });
});
