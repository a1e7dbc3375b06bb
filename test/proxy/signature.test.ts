/**
 * Signature v2 (API.md §4), both sides: the gateway's signing (src/proxy/identity.ts) and the
 * verifier origins copy (examples/origin/verify-signature.js). Whatever the gateway signs
 * verifies; any single signed field changed does not; old, future and repeated requests are
 * refused; the replay memory stays bounded without ever letting a replay through.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createSignatureVerifier, memoryReplayGuard } from "../../examples/origin/verify-signature.js";
import { addIdentity, signedPayload, type ForwardedRequest, type Identity } from "../../src/proxy/identity";

const SECRET = "test-origin-signing-secret";
const NOW_MS = 1_800_000_000_000;
const NOW_S = NOW_MS / 1000;

const identity: Identity = {
  keyId: "key_abc",
  projectId: "proj_xyz",
  type: "secret",
  environment: "live",
  scopes: ["events:read", "users:read"],
  requestId: "req_0123456789abcdef0123456789abcdef",
  timestamp: NOW_S,
};
const forwarded: ForwardedRequest = { method: "GET", target: "/v1/users/user_42?fields=a%20b" };

/** The headers the origin receives for this identity and request, as a Node-style object. */
async function signedHeaders(id: Identity, request: ForwardedRequest, secret = SECRET): Promise<Record<string, string>> {
  const headers = new Headers();
  await addIdentity(headers, id, request, secret);
  return Object.fromEntries(headers);
}

function verifier(now = NOW_MS) {
  return createSignatureVerifier({ secret: SECRET, now: () => now });
}

describe("the signed payload", () => {
  it("is API.md §4's ten lines, in order", () => {
    expect(signedPayload(identity, { method: "post", target: "/v1/events?x=1" }).split("\n")).toEqual([
      "v2",
      String(NOW_S),
      identity.requestId,
      "POST",
      "/v1/events?x=1",
      "key_abc",
      "proj_xyz",
      "secret",
      "live",
      "events:read,users:read",
    ]);
  });
});

describe("the verifier", () => {
  it("accepts what the gateway signs, from a fetch Request and from a Node request alike", async () => {
    const headers = await signedHeaders(identity, forwarded);
    expect(headers["x-composite-signature"]).toMatch(/^v2=[0-9a-f]{64}$/);
    const fromFetch = await verifier()(new Request(`https://origin.example${forwarded.target}`, { headers }));
    expect(fromFetch).toEqual({
      ok: true,
      identity: { keyId: "key_abc", projectId: "proj_xyz", keyType: "secret", environment: "live", scopes: ["events:read", "users:read"], requestId: identity.requestId, timestamp: NOW_S },
    });
    const fromNode = await verifier()({ method: "GET", url: forwarded.target, headers });
    expect(fromNode.ok).toBe(true);
  });

  it("refuses a missing, malformed or wrongly keyed signature", async () => {
    const headers = await signedHeaders(identity, forwarded);
    const verify = verifier();
    const withSignature = (signature: string | undefined) => {
      const copy = { ...headers };
      if (signature === undefined) delete copy["x-composite-signature"];
      else copy["x-composite-signature"] = signature;
      return verify({ method: "GET", url: forwarded.target, headers: copy });
    };
    expect(await withSignature(undefined)).toEqual({ ok: false, reason: "missing_signature" });
    expect(await withSignature("v1=" + "0".repeat(64))).toEqual({ ok: false, reason: "malformed_signature" });
    expect(await withSignature(headers["x-composite-signature"]!.toUpperCase())).toEqual({ ok: false, reason: "malformed_signature" });
    const otherSecret = await signedHeaders(identity, forwarded, "another-secret");
    expect(await withSignature(otherSecret["x-composite-signature"])).toEqual({ ok: false, reason: "bad_signature" });
  });

  it("accepts an age up to 300 s and up to 60 s ahead; refuses beyond either", async () => {
    const at = async (timestamp: number) => {
      const id = { ...identity, timestamp, requestId: `req_${timestamp}` };
      return verifier()({ method: "GET", url: forwarded.target, headers: await signedHeaders(id, forwarded) });
    };
    expect((await at(NOW_S - 300)).ok).toBe(true);
    expect(await at(NOW_S - 301)).toEqual({ ok: false, reason: "expired_timestamp" });
    expect((await at(NOW_S + 60)).ok).toBe(true);
    expect(await at(NOW_S + 61)).toEqual({ ok: false, reason: "future_timestamp" });
  });

  it("accepts a request id once within 300 s", async () => {
    let now = NOW_MS;
    const verify = createSignatureVerifier({ secret: SECRET, now: () => now });
    const request = { method: "GET", url: forwarded.target, headers: await signedHeaders(identity, forwarded) };
    expect((await verify(request)).ok).toBe(true);
    expect(await verify(request)).toEqual({ ok: false, reason: "replayed_request" });
    now += 299_000;
    expect(await verify(request)).toEqual({ ok: false, reason: "replayed_request" });
    now += 2_000; // too old now, whether seen or not
    expect(await verify(request)).toEqual({ ok: false, reason: "expired_timestamp" });
  });

  it("property: whatever the gateway signs verifies; any one signed field changed does not", async () => {
    const token = fc.stringMatching(/^[A-Za-z0-9_:.-]{1,24}$/);
    const target = fc.stringMatching(/^\/[A-Za-z0-9_/%.~-]{0,40}(\?[A-Za-z0-9_=&%+.~-]{0,30})?$/);
    const method = fc.constantFrom("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS");
    const signedRequest = fc.record({
      keyId: token,
      projectId: token,
      type: fc.constantFrom("public", "secret"),
      environment: fc.constantFrom("test", "live"),
      scopes: fc.array(token, { maxLength: 5 }),
      requestId: token,
      timestamp: fc.integer({ min: NOW_S - 300, max: NOW_S + 60 }),
      method,
      target,
    });
    const fields = ["timestamp", "requestId", "method", "target", "keyId", "projectId", "type", "environment", "scopes"] as const;
    await fc.assert(
      fc.asyncProperty(signedRequest, fc.constantFrom(...fields), token, async (signed, field, replacement) => {
        const { method: m, target: t, ...rest } = signed;
        const id = rest as Identity;
        const headers = await signedHeaders(id, { method: m, target: t });
        const accepted = await verifier()({ method: m, url: t, headers });
        expect(accepted.ok).toBe(true);

        const changed = { method: m, url: t, headers: { ...headers } };
        const header = {
          timestamp: "x-composite-timestamp",
          requestId: "x-request-id",
          keyId: "x-composite-key-id",
          projectId: "x-composite-project-id",
          type: "x-composite-key-type",
          environment: "x-composite-environment",
          scopes: "x-composite-scopes",
        } as const;
        if (field === "method") changed.method = m === "GET" ? "POST" : "GET";
        else if (field === "target") changed.url = t === `/${replacement}` ? `/${replacement}x` : `/${replacement}`;
        else if (field === "timestamp") changed.headers[header.timestamp] = String(id.timestamp === NOW_S ? NOW_S - 1 : NOW_S);
        else {
          const before = changed.headers[header[field]];
          changed.headers[header[field]] = before === replacement ? `${replacement}x` : replacement;
        }
        expect(await verifier()(changed)).toEqual({ ok: false, reason: "bad_signature" });
      }),
      { numRuns: 2_000 },
    );
  });
});

describe("the replay memory", () => {
  it("stays within its capacity and, once full, never lets a forgotten id through again", () => {
    let now = NOW_MS;
    const seen = memoryReplayGuard(3, 300, () => now);
    expect([seen("a", NOW_S), seen("b", NOW_S), seen("c", NOW_S + 1)]).toEqual([false, false, false]);
    expect(seen("d", NOW_S + 2)).toBe(false); // "a" forgotten: timestamps up to NOW_S are refused from now on
    expect(seen("a", NOW_S)).toBe(true);
    expect(seen("e", NOW_S)).toBe(true); // a late request pays for the overflow: refused, never a replay let in
    expect(seen("f", NOW_S + 3)).toBe(false);
    now += 400_000; // everything expired: forgotten for good, and too old to be accepted by the verifier anyway
    expect(seen("g", NOW_S + 400)).toBe(false);
  });

  it("property: within the window, an id is accepted at most once, whatever the capacity", () => {
    // A request id comes with the one timestamp it was signed with: a replay repeats both.
    const ages = fc.array(fc.integer({ min: 0, max: 30 }), { minLength: 16, maxLength: 16 });
    const arrivals = fc.array(fc.integer({ min: 0, max: 15 }), { maxLength: 200 });
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), ages, arrivals, (capacity, ageOf, ids) => {
        const seen = memoryReplayGuard(capacity, 300, () => NOW_MS);
        const accepted = new Set<number>();
        for (const id of ids) {
          if (!seen(String(id), NOW_S - ageOf[id]!)) {
            expect(accepted.has(id)).toBe(false);
            accepted.add(id);
          }
        }
      }),
      { numRuns: 10_000 },
    );
  });
});
