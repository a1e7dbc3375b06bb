/**
 * The request log: one structured JSON line per request, and never a key, a key hash or an
 * Authorization header in any log output — proven by capturing everything the Worker logs over
 * a full cycle of key creation, use, failure and revocation.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { hashKey } from "../../src/keys/key-index";
import { gateway, mintKey, newProject, operator, withKey } from "../helpers";

let lines: string[];

beforeEach(() => {
  lines = [];
  for (const level of ["log", "info", "warn", "error", "debug"] as const) {
    vi.spyOn(console, level).mockImplementation((...args: unknown[]) => {
      lines.push(args.map((arg) => (typeof arg === "string" ? arg : JSON.stringify(arg))).join(" "));
    });
  }
});

afterEach(() => {
  vi.restoreAllMocks();
});

function requestLines(): Record<string, unknown>[] {
  return lines
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((entry) => entry.msg === "request");
}

describe("request log", () => {
  it("never contains a key, its hash or an Authorization header, over a full cycle", async () => {
    const project = await newProject("Logging");
    const created = await mintKey(project, { type: "secret" });
    const publicKey = await mintKey(project, { type: "public" });
    const secrets = [
      created.key,
      publicKey.key,
      await hashKey("test-key-hash-secret", created.key),
      await hashKey("test-key-hash-secret", publicKey.key),
      "test-operator-token",
      "test-key-hash-secret",
      "test-origin-signing-secret",
    ];

    await gateway("/v1/events?source=web", withKey(created.key, { method: "POST", body: "{}" }));
    await gateway(`/v1/events?api_key=${publicKey.key}`, { method: "POST", body: "{}" });
    await gateway("/v1/events", { method: "POST", body: "{}", headers: { authorization: `Basic ${btoa(`${created.key}:`)}` } });
    await gateway("/v1/export", withKey(publicKey.key));
    await gateway("/v1/events", withKey(created.key.slice(0, -1) + "0", { method: "POST" }));
    await gateway("/v1/events", withKey(` ${created.key}`, { method: "POST" }));
    await gateway(`/v1/events?api_key=${publicKey.key}`, withKey(created.key, { method: "POST" }));
    await gateway("/v1/nowhere", withKey(created.key));
    const keyInPath = await gateway(`/v1/events/${publicKey.key}`, { method: "POST" });
    expect(keyInPath.status).toBe(404);
    expect(await keyInPath.text()).not.toContain(publicKey.key);
    await operator("DELETE", `/keys/${created.id}`);
    await gateway("/v1/events", withKey(created.key, { method: "POST", body: "{}" }));

    expect(lines.length).toBeGreaterThanOrEqual(12);
    const all = lines.join("\n");
    for (const secret of secrets) expect(all).not.toContain(secret);
    expect(all.toLowerCase()).not.toContain("authorization");
    expect(all).not.toContain("Bearer");
    expect(all).not.toContain("api_key=");
  });

  it("writes one JSON line per request with request id, key id, project, route, status and latency", async () => {
    const project = await newProject("Logging fields");
    const key = await mintKey(project, { type: "public" });
    lines = [];
    const res = await gateway("/v1/events?x=1", withKey(key.key, { method: "POST", body: "{}" }));
    const refused = await gateway("/v1/export", withKey(key.key));

    const entries = requestLines();
    expect(entries).toHaveLength(2);
    expect(entries[0]).toMatchObject({
      level: "info",
      request_id: res.headers.get("x-request-id"),
      method: "POST",
      path: "/v1/events",
      route: "/v1/events",
      status: 200,
      code: null,
      key_id: key.id,
      project_id: project,
      latency_ms: expect.any(Number),
    });
    expect(entries[1]).toMatchObject({
      level: "warn",
      request_id: refused.headers.get("x-request-id"),
      status: 403,
      code: "insufficient_permissions",
      key_id: key.id,
    });
  });
});

describe("redactKeys", () => {
  it("replaces key-shaped text and leaves the rest", async () => {
    const { redactKeys } = await import("../../src/http/redact");
    expect(redactKeys("/v1/events/sk_live_zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz44XL3S/x")).toBe("/v1/events/[redacted key]/x");
    expect(redactKeys("/v1/pk_test_abc and sk_test_")).toBe("/v1/[redacted key] and [redacted key]");
    expect(redactKeys("/v1/users/desk_test")).toBe("/v1/users/desk_test");
    expect(redactKeys("/v1/events")).toBe("/v1/events");
  });

  it("sees through percent-encoding (repeated) and base64; leaves other escapes as they were", async () => {
    const { redactKeys } = await import("../../src/http/redact");
    const key = "sk_live_zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz44XL3S";
    const escaped = [...key].map((ch) => "%" + ch.charCodeAt(0).toString(16)).join("");
    expect(redactKeys(`/v2/${escaped}/x`)).toBe("/v2/[redacted key]/x");
    expect(redactKeys(`/v2/${escaped.replaceAll("%", "%25")}`)).toBe("/v2/[redacted key]");
    // A base64 run may hold `/`, so the whole run around it goes (here with the path before it): safe over pretty.
    for (const encoded of [btoa(key), btoa(`{"token":"${key}"}`).replace(/=+$/, "")]) {
      const redacted = redactKeys(`/v2/${encoded}`);
      expect(redacted).toContain("[redacted key]");
      expect(redacted).not.toContain(encoded.slice(4, -4));
    }
    expect(redactKeys("/v1/users/a%20b%ff")).toBe("/v1/users/a%20b%ff");
    expect(redactKeys("/v1/users/" + "A".repeat(80))).toBe("/v1/users/" + "A".repeat(80));
  });

  it("property: whatever surrounds a key, however it is encoded, no redacted text holds it", async () => {
    const { redactKeys } = await import("../../src/http/redact");
    const fc = (await import("fast-check")).default;
    const key = fc.tuple(fc.constantFrom("pk", "sk"), fc.constantFrom("test", "live"), fc.stringMatching(/^[0-9A-Za-z]{38}$/)).map(([t, e, r]) => `${t}_${e}_${r}`);
    const encode = fc.constantFrom(
      (k: string) => k,
      (k: string) => [...k].map((ch) => "%" + ch.charCodeAt(0).toString(16)).join(""),
      (k: string) => encodeURIComponent([...k].map((ch) => "%" + ch.charCodeAt(0).toString(16)).join("")),
      (k: string) => btoa(k),
      (k: string) => btoa(`u:${k}`).replaceAll("+", "-").replaceAll("/", "_"),
      (k: string) => btoa(`ab${k}`),
    );
    fc.assert(
      fc.property(fc.string({ maxLength: 20 }), key, encode, fc.string({ maxLength: 20 }), (before, k, how, after) => {
        const redacted = redactKeys(`/v2/${encodeURIComponent(before)}/${how(k)}/${encodeURIComponent(after)}`);
        expect(redacted).not.toContain(k);
        expect(redacted).not.toContain(k.slice(8));
      }),
      { numRuns: 10_000 },
    );
  });
});
