/** waitForToken: the RateLimit headers as the gateway writes them (API.md §3), read with a structured-fields library as the reference. */
import { serializeList } from "structured-headers";
import { describe, expect, it } from "vitest";
import { waitForToken } from "../src/rate-limit.ts";

function header(members: [string, Record<string, number>][]): string {
  // A structured-field String member with integer parameters: `"name";a=1;b=2`.
  return serializeList(members.map(([name, params]) => [name, new Map(Object.entries(params))]));
}

describe("waitForToken", () => {
  const policies = header([["burst", { q: 1000, w: 10 }], ["daily", { q: 1_000_000, w: 86_400 }]]);

  it("a token left: no wait", () => {
    expect(waitForToken(header([["burst", { r: 1, t: 1 }]]), policies)).toBe(0);
    expect(waitForToken(header([["burst", { r: 998, t: 1 }]]), policies)).toBe(0);
  });

  it("none left: the time one token takes, t / q", () => {
    expect(waitForToken(header([["burst", { r: 0, t: 10 }]]), policies)).toBe(10);
    expect(waitForToken(header([["burst", { r: 0, t: 3 }]]), header([["burst", { q: 2, w: 3 }]]))).toBe(1_500);
  });

  it("the daily policy empty: as long as the day's reset needs per token (the 429 that follows says the rest)", () => {
    expect(waitForToken(header([["daily", { r: 0, t: 3_600 }]]), policies)).toBe(4);
  });

  it("no policy header: waits until the bucket is full again; garbage or nothing: no wait", () => {
    expect(waitForToken(header([["burst", { r: 0, t: 2 }]]), null)).toBe(2_000);
    expect(waitForToken(null, policies)).toBe(0);
    expect(waitForToken("nonsense", policies)).toBe(0);
    expect(waitForToken('"burst";r=zero;t=1', policies)).toBe(0);
  });

  it("reads what the library writes, as the gateway writes it", () => {
    expect(header([["burst", { r: 0, t: 10 }]])).toBe('"burst";r=0;t=10');
  });
});
