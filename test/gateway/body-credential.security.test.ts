/**
 * Keys in JSON bodies, where outside SDKs put them: PostHog's `api_key` (/batch/, /capture/, /e/,
 * its only credential) and Segment's `writeKey` (/v1/batch, a copy of its Basic user), gzip or
 * not. §1's rules hold there too: one key per request, and the key never reaches the origin — it
 * is taken out of the body, which the origin receives re-serialised, with the signed identity.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { expectProblem, gateway, projectWithKeys, withKey, type MintedKey, type OriginEcho } from "../helpers";

let publicKey: MintedKey;
let secretKey: MintedKey;
let otherPublic: MintedKey;

beforeAll(async () => {
  ({ publicKey, secretKey } = await projectWithKeys());
  ({ publicKey: otherPublic } = await projectWithKeys());
});

async function gzip(text: string): Promise<Uint8Array> {
  return new Uint8Array(await new Response(new Blob([text]).stream().pipeThrough(new CompressionStream("gzip"))).arrayBuffer());
}

function post(path: string, body: BodyInit, headers: Record<string, string> = {}): Promise<Response> {
  return gateway(path, { method: "POST", body, headers: { "content-type": "application/json", ...headers } });
}

const batch = (apiKey?: string) =>
  JSON.stringify({ ...(apiKey === undefined ? {} : { api_key: apiKey }), batch: [{ event: "a", distinct_id: "u1", uuid: crypto.randomUUID() }], sent_at: "2026-12-02T00:00:00Z" });

describe("the key in the body (PostHog)", () => {
  it.each(["/batch/", "/capture/", "/e/"])("%s: gzip body with api_key → forwarded without the key, identity signed, one request counted", async (path) => {
    const first = await post(path, await gzip(batch(publicKey.key)), { "content-encoding": "gzip" });
    expect(first.status, await first.clone().text()).toBe(200);
    const remaining = Number(first.headers.get("x-ratelimit-remaining-day"));
    const { received, signature } = (await first.json()) as OriginEcho;
    expect(signature).toBe("valid");
    expect(received.path).toBe(path);
    expect(received.headers["x-composite-key-id"]).toBe(publicKey.id);
    expect(received.headers["content-encoding"]).toBeUndefined();
    expect(JSON.stringify(received)).not.toContain(publicKey.key);
    const forwarded = JSON.parse(received.body) as Record<string, unknown>;
    expect(forwarded).not.toHaveProperty("api_key");
    expect(forwarded).toMatchObject({ batch: [{ event: "a", distinct_id: "u1" }], sent_at: "2026-12-02T00:00:00Z" });
    expect(received.headers["content-length"]).toBe(String(received.body_bytes));

    const second = await post(path, batch(publicKey.key));
    expect(second.status).toBe(200);
    expect(Number(second.headers.get("x-ratelimit-remaining-day"))).toBe(remaining - 1);
    expect(((await second.json()) as OriginEcho).received.body).not.toContain(publicKey.key);
  });

  it("the same key in the header and the body is one key; the body's copy is still taken out", async () => {
    const res = await post("/batch/", batch(publicKey.key), { authorization: `Bearer ${publicKey.key}` });
    expect(res.status).toBe(200);
    expect(((await res.json()) as OriginEcho).received.body).not.toContain(publicKey.key);
  });

  it("a header key and no api_key: the body goes as sent", async () => {
    const body = batch();
    const res = await post("/batch/", body, { authorization: `Bearer ${publicKey.key}` });
    expect(((await res.json()) as OriginEcho).received.body).toBe(body);
  });

  it("two different keys (header and body, or query and body) are 400 ambiguous_credentials", async () => {
    await expectProblem(await post("/batch/", batch(otherPublic.key), { authorization: `Bearer ${publicKey.key}` }), 400, "ambiguous_credentials", publicKey.key);
    const query = await gateway(`/e/?api_key=${publicKey.key}`, { method: "POST", body: batch(otherPublic.key), headers: { "content-type": "application/json" } });
    await expectProblem(query, 400, "ambiguous_credentials", otherPublic.key);
  });

  it("the key also elsewhere in the body (a nested api_key, a token property) is 400: it would reach the origin", async () => {
    const nested = JSON.stringify({ api_key: publicKey.key, batch: [{ event: "a", properties: { token: publicKey.key } }] });
    const res = await post("/batch/", nested);
    expect((await expectProblem(res, 400, "invalid_request", publicKey.key)).detail).toContain("inside the body");
    const headerOnly = JSON.stringify({ batch: [{ event: "a", properties: { token: publicKey.key } }] });
    await expectProblem(await post("/batch/", headerOnly, { authorization: `Bearer ${publicKey.key}` }), 400, "invalid_request", publicKey.key);
  });

  it("the key encoded elsewhere in the body (base64, percent-encoded) is 400 too: an origin that decodes would get it", async () => {
    for (const hidden of [btoa(`user:${publicKey.key}`), encodeURIComponent(encodeURIComponent(`?k=${publicKey.key}`)).replaceAll("_", "%5F")]) {
      const body = JSON.stringify({ api_key: publicKey.key, batch: [{ event: "a", properties: { token: hidden } }] });
      expect((await expectProblem(await post("/batch/", body), 400, "invalid_request", publicKey.key)).detail).toContain("inside the body");
    }
    // Another key's encoding is no reason to refuse.
    const other = JSON.stringify({ api_key: publicKey.key, batch: [{ event: "a", properties: { token: btoa(`user:${otherPublic.key}`) } }] });
    expect((await post("/batch/", other)).status).toBe(200);
  });

  it("§2's key errors apply to the body's key as to a header's", async () => {
    await expectProblem(await post("/batch/", batch()), 401, "missing_api_key");
    await expectProblem(await post("/batch/", batch(` ${publicKey.key}`)), 401, "api_key_whitespace", publicKey.key);
    await expectProblem(await post("/batch/", batch(publicKey.key.slice(0, -1) + (publicKey.key.endsWith("A") ? "B" : "A"))), 401, "malformed_api_key");
    await expectProblem(await post("/batch/", JSON.stringify({ api_key: 42, batch: [] })), 400, "invalid_request");
    await expectProblem(await post("/batch/", "not json"), 400, "invalid_request");
    await expectProblem(await post("/batch/", `[${JSON.stringify(publicKey.key)}]`), 400, "invalid_request", publicKey.key);
  });

  it("a secret key in the body is refused from a page like in a header; other routes never read a body for a key", async () => {
    await expectProblem(await post("/batch/", batch(secretKey.key), { origin: "https://app.example" }), 403, "secret_key_in_browser", secretKey.key);
    // /v1/batch takes the key from Authorization (Segment, RudderStack): a body's api_key is not a credential there.
    await expectProblem(await post("/v1/batch", batch(publicKey.key)), 401, "missing_api_key");
    // Only POST, only these paths.
    await expectProblem(await gateway("/batch/", withKey(publicKey.key)), 404, "route_not_found");
    await expectProblem(await post("/batch", batch(publicKey.key)), 404, "route_not_found");
  });
});

describe("Segment's writeKey on /v1/batch (with Basic auth)", () => {
  const basic = (key: string) => `Basic ${btoa(`${key}:`)}`;
  const segmentBatch = (writeKey: string) => JSON.stringify({ batch: [{ type: "track", event: "a", messageId: crypto.randomUUID() }], writeKey, sentAt: "2026-12-02T00:00:00Z" });

  it("the same key as the Basic user: taken out of the body before it is forwarded", async () => {
    const res = await post("/v1/batch", segmentBatch(publicKey.key), { authorization: basic(publicKey.key) });
    expect(res.status).toBe(200);
    const { received, signature } = (await res.json()) as OriginEcho;
    expect(signature).toBe("valid");
    expect(JSON.parse(received.body)).toEqual({ batch: [expect.objectContaining({ event: "a" })], sentAt: "2026-12-02T00:00:00Z" });
    expect(JSON.stringify(received)).not.toContain(publicKey.key);
  });

  it("a different writeKey is 400 ambiguous_credentials; a non-JSON body with Basic is 400", async () => {
    await expectProblem(await post("/v1/batch", segmentBatch(otherPublic.key), { authorization: basic(publicKey.key) }), 400, "ambiguous_credentials", publicKey.key);
    await expectProblem(await post("/v1/batch", "batch=1", { authorization: basic(publicKey.key) }), 400, "invalid_request");
  });

  it("Bearer requests to /v1/batch (the Composite SDK, curl) are streamed as sent: the body is not read", async () => {
    const body = JSON.stringify({ batch: [{ event: "a" }], note: "not JSON-parsed by the gateway" }) + "   ";
    const res = await post("/v1/batch", body, { authorization: `Bearer ${publicKey.key}` });
    expect(((await res.json()) as OriginEcho).received.body).toBe(body);
  });
});
