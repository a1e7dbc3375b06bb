/** Browsers can use public keys: preflights answered at the edge, headers exposed on real answers. */
import { beforeAll, describe, expect, it } from "vitest";
import { gateway, mintKey, newProject, withKey, type MintedKey } from "../helpers";

let publicKey: MintedKey;
beforeAll(async () => {
  publicKey = await mintKey(await newProject(), { type: "public", allowed_origins: ["https://app.example.com"] });
});

describe("CORS", () => {
  it("answers a preflight without a key and without reaching the origin", async () => {
    const res = await gateway("/v1/events", {
      method: "OPTIONS",
      headers: {
        origin: "https://app.example.com",
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
    const ok = await gateway("/v1/events", withKey(publicKey.key, { method: "POST", body: "{}", headers: { origin: "https://app.example.com" } }));
    expect(ok.status).toBe(200);
    expect(ok.headers.get("access-control-allow-origin")).toBe("*");
    expect(ok.headers.get("access-control-expose-headers")).toContain("X-Request-Id");
    const refused = await gateway("/v1/events", withKey(publicKey.key, { method: "POST", headers: { origin: "https://evil.example.com" } }));
    expect(refused.status).toBe(403);
    expect(refused.headers.get("access-control-allow-origin")).toBe("*");
  });
});
