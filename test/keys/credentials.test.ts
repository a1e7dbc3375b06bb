/** readApiKey: the three ways to present a key and the §2 errors, as a pure function. */
import { describe, expect, it } from "vitest";
import { readApiKey, refuseKeyElsewhere, searchWithoutApiKey } from "../../src/keys/credentials";
import { GatewayError } from "../../src/http/problem";

const KEY = "pk_test_000000000000000000000000000000000LJpC9";
const OTHER = "sk_live_zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz44XL3S";
const url = (query = "") => new URL(`https://gateway.test/v1/events${query}`);

function codeOf(authorization: string | null, query = ""): string {
  try {
    readApiKey(authorization, url(query));
    return "ok";
  } catch (error) {
    if (!(error instanceof GatewayError)) throw error;
    expect(error.detail).not.toContain(KEY);
    return error.code;
  }
}

describe("readApiKey", () => {
  it.each([
    ["Bearer", `Bearer ${KEY}`, ""],
    ["bearer in lower case", `bearer ${KEY}`, ""],
    ["BEARER in upper case", `BEARER ${KEY}`, ""],
    ["Basic key:", `Basic ${btoa(`${KEY}:`)}`, ""],
    ["Basic key without colon", `Basic ${btoa(KEY)}`, ""],
    ["Basic key:password (password ignored)", `Basic ${btoa(`${KEY}:whatever`)}`, ""],
    ["query parameter", null, `?api_key=${KEY}`],
    ["header and the same key in the query", `Bearer ${KEY}`, `?api_key=${KEY}`],
    ["the same key twice in the query", null, `?api_key=${KEY}&api_key=${KEY}`],
    ["an empty api_key beside a header", `Bearer ${KEY}`, "?api_key="],
    ["two Authorization headers with the same key (joined by the runtime)", `Bearer ${KEY}, Bearer ${KEY}`, ""],
    ["Bearer and Basic with the same key", `Bearer ${KEY}, Basic ${btoa(`${KEY}:`)}`, ""],
  ])("reads the key from %s", (_name, authorization, query) => {
    expect(readApiKey(authorization, url(query))).toBe(KEY);
  });

  it.each([
    ["nothing", null, ""],
    ["an empty header", "", ""],
    ["Bearer alone", "Bearer", ""],
    ["empty query value", null, "?api_key="],
    ["Basic with an empty user", `Basic ${btoa(":password")}`, ""],
    ["an unrelated query parameter", null, "?key=" + KEY],
  ])("missing_api_key: %s", (_name, authorization, query) => {
    expect(codeOf(authorization, query)).toBe("missing_api_key");
  });

  it.each([
    ["two spaces after Bearer", `Bearer  ${KEY}`, ""],
    ["a tab", `Bearer \t${KEY}`, ""],
    ["a tab instead of the space", `Bearer\t${KEY}`, ""],
    ["a tab in the second of two headers", `Bearer ${KEY}, Bearer\t${KEY}`, ""],
    ["trailing space inside Basic", `Basic ${btoa(`${KEY} :`)}`, ""],
    ["newline inside Basic", `Basic ${btoa(`${KEY}\n:`)}`, ""],
    ["trailing newline in the query", null, `?api_key=${KEY}%0A`],
    ["leading space in the query", null, `?api_key=%20${KEY}`],
    ["a CR in the query", null, `?api_key=${KEY}%0D`],
  ])("api_key_whitespace: %s", (_name, authorization, query) => {
    expect(codeOf(authorization, query)).toBe("api_key_whitespace");
  });

  it.each([
    ["header and query", `Bearer ${KEY}`, `?api_key=${OTHER}`],
    ["two query values", null, `?api_key=${KEY}&api_key=${OTHER}`],
    ["Basic and query", `Basic ${btoa(`${OTHER}:`)}`, `?api_key=${KEY}`],
    ["two Authorization headers (joined by the runtime)", `Bearer ${KEY}, Bearer ${OTHER}`, ""],
    ["two keys in one header, no space", `Bearer ${KEY},Bearer ${OTHER}`, ""],
    ["Bearer and Basic", `Bearer ${KEY}, Basic ${btoa(`${OTHER}:`)}`, ""],
  ])("ambiguous_credentials: %s", (_name, authorization, query) => {
    expect(codeOf(authorization, query)).toBe("ambiguous_credentials");
  });

  it.each([
    ["an unknown scheme", `Token ${KEY}`],
    ["the key without a scheme", KEY],
    ["Basic that is not base64", "Basic %%%"],
  ])("malformed_api_key: %s", (_name, authorization) => {
    expect(codeOf(authorization)).toBe("malformed_api_key");
  });
});

describe("refuseKeyElsewhere", () => {
  const refused = (headers: Record<string, string>, path = "/v1/events") => {
    try {
      refuseKeyElsewhere(KEY, new Headers(headers), new URL(`https://gateway.test${path}`));
      return "ok";
    } catch (error) {
      if (!(error instanceof GatewayError)) throw error;
      expect(error.detail).not.toContain(KEY);
      return `${error.code}: ${error.detail}`;
    }
  };

  it("lets the key through where the gateway takes it from", () => {
    expect(refused({ authorization: `Bearer ${KEY}`, "content-type": "application/json" })).toBe("ok");
    expect(refused({}, `/v1/events?api_key=${KEY}&source=web`)).toBe("ok");
    expect(refused({ "x-api-key": OTHER }, `/v1/users/${OTHER}?q=${OTHER}`)).toBe("ok"); // another key is not this one
  });

  it.each([
    ["another header", { "x-api-key": KEY }, "/v1/events", "in the x-api-key header"],
    ["inside a cookie", { cookie: `a=1; k=${KEY}` }, "/v1/events", "in the cookie header"],
    ["a header name", { [`x-${KEY.toLowerCase()}`]: "1" }, "/v1/events", "ok"], // names are lower case; the key is not
    ["another query parameter", {}, `/v1/events?API_KEY=${KEY}`, "in a query parameter other than api_key"],
    ["a query parameter's name", {}, `/v1/events?${KEY}=1`, "in a query parameter other than api_key"],
    ["inside a query value", {}, `/v1/events?redirect=https%3A%2F%2Fx%2F%3Fk%3D${KEY}`, "in a query parameter other than api_key"],
    ["the path", {}, `/v1/users/${KEY}`, "in the URL path"],
  ])("refuses the key in %s", (_name, headers, path, where) => {
    const answer = refused(headers, path);
    if (where === "ok") expect(answer).toBe("ok");
    else expect(answer).toMatch(new RegExp(`^invalid_request: The API key also appears ${where}\\.`));
  });

  it("finds each key's own encoded forms, whichever keys came before and however many", () => {
    const inHeader = (key: string, value: string) => {
      try {
        refuseKeyElsewhere(key, new Headers({ "x-token": value }), url());
        return "ok";
      } catch {
        return "refused";
      }
    };
    expect(inHeader(KEY, btoa(`u:${KEY}`))).toBe("refused");
    // More keys than the isolate keeps forms for: KEY's are worked out again, OTHER's are OTHER's.
    for (let i = 0; i < 1_100; i++) inHeader(`pk_test_${String(i).padStart(38, "0")}`, "x");
    expect(inHeader(OTHER, btoa(`u:${KEY}`))).toBe("ok");
    expect(inHeader(OTHER, btoa(`u:${OTHER}`))).toBe("refused");
    expect(inHeader(KEY, btoa(`u:${OTHER}`))).toBe("ok");
    expect(inHeader(KEY, btoa(`u:${KEY}`))).toBe("refused");
  });
});

describe("searchWithoutApiKey", () => {
  it.each([
    ["", ""],
    ["?q=a%20b&flag&tilde=~&plus=a+b", "?q=a%20b&flag&tilde=~&plus=a+b"],
    [`?api_key=${KEY}`, ""],
    [`?q=a%20b&api_key=${KEY}&flag`, "?q=a%20b&flag"],
    [`?api_key=${KEY}&x=%7E&api_key=${KEY}`, "?x=%7E"],
    [`?api%5Fkey=${KEY}&q=1`, "?q=1"],
    [`?api_key&q=%2F`, "?q=%2F"],
    [`?API_KEY=1&api_keys=2&q=%zz`, "?API_KEY=1&api_keys=2&q=%zz"],
    [`?a=1&&api_key=${KEY}&b=`, "?a=1&&b="],
  ])("%s → %s", (search, expected) => {
    expect(searchWithoutApiKey(search)).toBe(expected);
  });

  it("removes exactly the pairs readApiKey reads as api_key", () => {
    for (const search of [`?api_key=${KEY}`, `?api%5fkey=${KEY}`, `?%61pi_key=${KEY}`, `?x=1&api_key=${KEY}`]) {
      expect(url(search).searchParams.getAll("api_key")).toContain(KEY);
      expect(new URLSearchParams(searchWithoutApiKey(search)).has("api_key")).toBe(false);
    }
  });
});

describe("refuseKeyElsewhere, encoded keys (property)", () => {
  const wherever = (key: string, encoded: string, place: number) => {
    const at = [
      () => refuseKeyElsewhere(key, new Headers(), new URL(`https://gateway.test/v1/users/${encoded}`)),
      () => refuseKeyElsewhere(key, new Headers(), new URL(`https://gateway.test/v1/users/me?x=${encodeURIComponent(encoded)}`)),
      () => refuseKeyElsewhere(key, new Headers({ "x-token": encoded }), new URL("https://gateway.test/v1/users/me")),
      () => refuseKeyElsewhere(key, new Headers({ cookie: `a=1; t=${encoded}` }), new URL("https://gateway.test/v1/users/me")),
    ];
    return at[place]!;
  };

  it("finds the key percent-encoded (up to three times) or base64-encoded inside any text, in path, query and headers", async () => {
    const fc = (await import("fast-check")).default;
    const escape = (k: string) => [...k].map((ch) => "%" + ch.charCodeAt(0).toString(16)).join("");
    const encode = fc.constantFrom(
      (k: string) => escape(k),
      (k: string) => escape(escape(k)),
      (k: string) => btoa(k),
      (k: string) => btoa(`user:${k}`).replaceAll("+", "-").replaceAll("/", "_"),
      (k: string) => btoa(`xy${k}:`),
    );
    const around = fc.stringMatching(/^[A-Za-z0-9._~-]{0,12}$/);
    fc.assert(
      fc.property(fc.constantFrom(KEY, OTHER), encode, around, around, fc.integer({ min: 0, max: 3 }), (key, how, before, after, place) => {
        expect(wherever(key, `${before}${how(key)}${after}`, place)).toThrow(GatewayError);
      }),
      { numRuns: 10_000 },
    );
  });

  it("any presented key, unicode and control characters included, is either refused as a GatewayError or let through: never a crash", async () => {
    const fc = (await import("fast-check")).default;
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 60 }), fc.string({ unit: "binary", maxLength: 30 }), (key, text) => {
        try {
          refuseKeyElsewhere(key, new Headers({ "x-token": encodeURIComponent(text) }), new URL(`https://gateway.test/v1/users/${encodeURIComponent(text)}?q=${encodeURIComponent(text)}`));
        } catch (error) {
          expect(error).toBeInstanceOf(GatewayError);
        }
      }),
      { numRuns: 10_000 },
    );
  });

  it("lets anything through that does not hold the key, even the other key's encodings", async () => {
    const fc = (await import("fast-check")).default;
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Za-z0-9._~%-]{0,60}$/), fc.integer({ min: 0, max: 3 }), (text, place) => {
        expect(wherever(KEY, text, place)).not.toThrow();
        expect(wherever(KEY, btoa(OTHER), place)).not.toThrow();
      }),
      { numRuns: 10_000 },
    );
  });
});
