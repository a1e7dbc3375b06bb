/** The headers the origin gets (API.md §4), as a pure function: what is dropped, kept and set. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { GATEWAY_COOKIES } from "../../src/http/gateway-cookies";
import { originHeaders, withoutCookies } from "../../src/proxy/origin-headers";

const NEVER_FORWARDED = [
  "authorization",
  "forwarded",
  "x-real-ip",
  "connection",
  "keep-alive",
  "proxy-authorization",
  "proxy-authenticate",
  "te",
  "trailer",
  "upgrade",
  "x-http-method-override",
  "x-original-url",
  "x-rewrite-url",
  "x-forwarded-host",
  "x-forwarded-for",
  "x-forwarded-proto",
  "x-composite-key-id",
  "x-composite-signature",
];
const connection = { clientIp: "203.0.113.9", proto: "https" };

describe("originHeaders", () => {
  it("drops what the origin must not take from a client, keeps the rest, sets X-Forwarded-For and -Proto", () => {
    const incoming = new Headers(Object.fromEntries(NEVER_FORWARDED.map((name) => [name, "client"])));
    incoming.set("connection", "close, X-Hop");
    incoming.set("x-hop", "1");
    incoming.set("content-type", "application/json");
    incoming.set("cookie", "theme=dark; composite_session=abc.1.sig; __Host-composite_session=x; lang=de");
    const out = originHeaders(incoming, connection);
    expect(Object.fromEntries(out)).toEqual({
      "content-type": "application/json",
      cookie: "theme=dark; lang=de",
      "x-forwarded-for": "203.0.113.9",
      "x-forwarded-proto": "https",
    });
  });

  it("without CF-Connecting-IP (a local run) sets no X-Forwarded-For at all", () => {
    const out = originHeaders(new Headers({ "x-forwarded-for": "10.0.0.1" }), { clientIp: null, proto: "http" });
    expect(Object.fromEntries(out)).toEqual({ "x-forwarded-proto": "http" });
  });

  it("property: never a dropped, connection-named, forwarding or identity header; every other header as sent", () => {
    const ordinary = fc.stringMatching(/^[a-z][a-z0-9-]{0,15}$/);
    const name = fc.oneof(fc.constantFrom(...NEVER_FORWARDED, "x-forwarded-port", "x-composite-anything", "cookie"), ordinary);
    const value = fc.stringMatching(/^[!-~]([ -~]{0,30}[!-~])?$/);
    fc.assert(
      fc.property(fc.dictionary(name, value, { maxKeys: 12 }), fc.array(ordinary, { maxLength: 3 }), (sent, named) => {
        const incoming = new Headers(sent);
        if (named.length > 0) incoming.set("connection", named.join(", "));
        const listed = (incoming.get("connection") ?? "").split(",").map((token) => token.trim().toLowerCase());
        const out = originHeaders(incoming, connection);
        for (const [header, got] of out) {
          expect(NEVER_FORWARDED.filter((n) => n !== "x-forwarded-for" && n !== "x-forwarded-proto")).not.toContain(header);
          expect(header.startsWith("x-composite-")).toBe(false);
          if (header === "x-forwarded-for") expect(got).toBe("203.0.113.9");
          else if (header === "x-forwarded-proto") expect(got).toBe("https");
          else if (header !== "cookie") {
            expect(listed).not.toContain(header);
            expect(got).toBe(incoming.get(header));
          }
        }
        for (const [header, sentValue] of incoming) {
          const dropped = NEVER_FORWARDED.includes(header) || header.startsWith("x-forwarded-") || header.startsWith("x-composite-") || listed.includes(header);
          if (!dropped && header !== "cookie") expect(out.get(header)).toBe(sentValue);
        }
      }),
      { numRuns: 10_000 },
    );
  });
});

describe("withoutCookies", () => {
  it("removes the gateway's own cookies wherever they are, the rest byte for byte", () => {
    expect(withoutCookies("composite_session=a", GATEWAY_COOKIES)).toBe("");
    expect(withoutCookies("a=1;composite_session=x;b=2", GATEWAY_COOKIES)).toBe("a=1; b=2");
    expect(withoutCookies("a=1, __Host-composite_session=x", GATEWAY_COOKIES)).toBe("a=1"); // two headers joined by ", "
    expect(withoutCookies("a=1;b=\"x,y\"", GATEWAY_COOKIES)).toBe("a=1;b=\"x,y\""); // untouched when nothing is ours
    expect(withoutCookies("composite_session_other=1; my_composite_session=2", GATEWAY_COOKIES)).toBe("composite_session_other=1; my_composite_session=2");
  });

  it("property: no cookie of ours survives; every other pair is kept, in order", () => {
    const ours = fc.constantFrom(...GATEWAY_COOKIES);
    const other = fc.stringMatching(/^[A-Za-z0-9_-]{1,12}$/).filter((n) => !GATEWAY_COOKIES.has(n));
    const cookieValue = fc.stringMatching(/^[A-Za-z0-9._~-]{0,16}$/);
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.oneof(ours, other), cookieValue), { minLength: 1, maxLength: 8 }), fc.constantFrom("; ", ";", ", "), (pairs, separator) => {
        const header = pairs.map(([n, v]) => `${n}=${v}`).join(separator);
        const result = withoutCookies(header, GATEWAY_COOKIES);
        const expected = pairs.filter(([n]) => !GATEWAY_COOKIES.has(n)).map(([n, v]) => `${n}=${v}`);
        const names = result === "" ? [] : result.split(/[;,]\s*/).map((pair) => pair.slice(0, pair.indexOf("=")));
        for (const n of GATEWAY_COOKIES) expect(names).not.toContain(n);
        expect(result === "" ? [] : result.split(/[;,]\s*/)).toEqual(expected);
      }),
      { numRuns: 10_000 },
    );
  });
});
