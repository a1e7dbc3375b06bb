/**
 * What the dashboard refuses: who may sign in, what a session may see and do (the management
 * API's rules), sessions that must end, forged cookies, cross-site forms, plain HTTP, probing.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { env, envWithFailingLimiter, gateway, GATEWAY, mintKey, newProject, operator, sendWith, withKey, type MintedKey } from "../helpers";
import { alertText, DashboardBrowser } from "./browser";

let project: string;
let admin: MintedKey;

beforeAll(async () => {
  project = await newProject("Dashboard security");
  admin = await mintKey(project, { type: "secret", environment: "live" });
});

async function keyCount(): Promise<number> {
  const row = await env.DB.prepare("SELECT COUNT(*) AS n FROM api_keys WHERE project_id = ?1").bind(project).first<{ n: number }>();
  return row!.n;
}

/** Signing in with this key: the status and the page's alert. */
async function signIn(apiKey: string, headers: Record<string, string> = {}): Promise<{ status: number; alert: string | undefined; html: string; cookies: number }> {
  const browser = new DashboardBrowser();
  const res = await browser.post("/dashboard/login", { api_key: apiKey }, headers);
  const html = await res.text();
  return { status: res.status, alert: alertText(html), html, cookies: browser.cookies.size };
}

describe("who may sign in", () => {
  it.each([
    ["nothing", () => "", 401, "Paste a secret key"],
    ["a key with a trailing newline", () => `${admin.key}\n`, 401, "whitespace or a line break"],
    ["a typo", () => admin.key.slice(0, -1) + (admin.key.endsWith("A") ? "B" : "A"), 401, "not a Composite API key"],
    ["an unknown well-formed key", () => "sk_live_zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz44XL3S", 401, "does not exist"],
  ])("%s → %i, said on the form, no session, the key not echoed", async (_, key, status, message) => {
    const presented = key();
    const result = await signIn(presented);
    expect(result.status).toBe(status);
    expect(result.alert).toContain(message);
    expect(result.cookies).toBe(0);
    if (presented !== "") expect(result.html).not.toContain(presented.trim());
  });

  it("a public key, a revoked key, a key without projects:read: refused with the reason", async () => {
    const publicKey = await mintKey(project, { type: "public" });
    expect(await signIn(publicKey.key)).toMatchObject({ status: 403, cookies: 0, alert: expect.stringContaining("Public keys cannot sign in") });

    const revoked = await mintKey(project, { type: "secret" });
    await operator("DELETE", `/keys/${revoked.id}`);
    expect(await signIn(revoked.key)).toMatchObject({ status: 401, cookies: 0, alert: expect.stringContaining("revoked") });

    const eventsOnly = await mintKey(project, { type: "secret", scopes: ["events:write"] });
    expect(await signIn(eventsOnly.key)).toMatchObject({ status: 403, cookies: 0, alert: expect.stringContaining("lacks projects:read") });
  });

  it("failed sign-ins count per client IP like failed API requests: past the limit, 429 with Retry-After", async () => {
    const limited = { ...env, FAILED_AUTH_LIMIT: "2", FAILED_AUTH_WINDOW_S: "60" };
    const ip = "203.0.113.77";
    const attempt = (key: string) =>
      sendWith(
        limited,
        new Request(`${GATEWAY}/dashboard/login`, {
          method: "POST",
          headers: { origin: GATEWAY, "content-type": "application/x-www-form-urlencoded", "cf-connecting-ip": ip },
          body: new URLSearchParams({ api_key: key }),
        }),
      );
    const unknown = "sk_live_zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz44XL3S";
    expect((await attempt(unknown)).status).toBe(401);
    expect((await attempt(unknown)).status).toBe(401);
    const third = await attempt(unknown);
    expect(third.status).toBe(429);
    expect(Number(third.headers.get("retry-after"))).toBeGreaterThan(0);
    expect((await attempt(unknown)).status).toBe(429);
    expect((await attempt(admin.key)).status).toBe(303); // a valid key signs in from a blocked address (API.md §2)
  });
});

describe("sessions", () => {
  it("revoking the key a session was opened with ends the session on the very next page", async () => {
    const key = await mintKey(project, { type: "secret" });
    const browser = await DashboardBrowser.signedIn(key.key);
    expect((await browser.get("/dashboard/keys")).status).toBe(200);
    await operator("DELETE", `/keys/${key.id}`);
    const res = await browser.get("/dashboard/keys");
    expect(res.status).toBe(401);
    expect(alertText(await res.text())).toContain("Your session has ended. This key is revoked.");
    expect(browser.cookies.size).toBe(0);
  });

  it("signing out ends every session of the key: other browsers and copied cookies alike", async () => {
    const key = await mintKey(project, { type: "secret" });
    const [first, second] = [await DashboardBrowser.signedIn(key.key), await DashboardBrowser.signedIn(key.key)];
    const copied = [...first.cookies].map(([name, value]) => `${name}=${value}`).join("; ");
    expect((await second.get("/dashboard/keys")).status).toBe(200);
    expect((await first.post("/dashboard/logout", {})).status).toBe(303);
    expect(first.cookies.size).toBe(0);
    const fromCopy = await new DashboardBrowser().get("/dashboard/keys", { cookie: copied });
    expect(fromCopy.status).toBe(401);
    expect(alertText(await fromCopy.text())).toContain("Your session has ended");
    expect((await second.get("/dashboard/keys")).status).toBe(401);
    expect(second.cookies.size).toBe(0);
    // Signing in again opens a new session; the old cookies stay dead.
    expect((await (await DashboardBrowser.signedIn(key.key)).get("/dashboard/keys")).status).toBe(200);
    expect((await new DashboardBrowser().get("/dashboard/keys", { cookie: copied })).status).toBe(401);
  });

  it("revoking the key through the API ends its sessions too", async () => {
    const key = await mintKey(project, { type: "secret" });
    const browser = await DashboardBrowser.signedIn(key.key);
    const revoke = await gateway(`/v1/api_keys/${key.id}`, withKey(admin.key, { method: "DELETE" }));
    expect(revoke.status, await revoke.clone().text()).toBe(200);
    expect((await browser.get("/dashboard/keys")).status).toBe(401);
  });

  it("a forged, altered or foreign cookie is no session", async () => {
    const browser = await DashboardBrowser.signedIn(admin.key);
    const [name, value] = [...browser.cookies][0]!;
    const other = await mintKey(await newProject(), { type: "secret" });
    const decoded = decodeURIComponent(value);
    for (const forged of [
      decoded.replace(admin.id, other.id), // another key, same signature
      decoded.replace(/\.(\d+)\./, (_, expiry: string) => `.${Number(expiry) + 86_400_000}.`), // longer life
      `${other.id}.${Date.now() + 3_600_000}.${"A".repeat(43)}=`,
      "garbage",
    ]) {
      const res = await new DashboardBrowser().get("/dashboard/keys", { cookie: `${name}=${encodeURIComponent(forged)}` });
      expect(res.status, forged).toBe(303);
      expect(res.headers.get("location")).toBe("/dashboard/login");
    }
  });

  it("a read-only key (projects:read) may look but not change: no create link, 403 on every change", async () => {
    const reader = await mintKey(project, { type: "secret", scopes: ["projects:read"] });
    const target = await mintKey(project, { type: "public" });
    const browser = await DashboardBrowser.signedIn(reader.key);
    const list = await (await browser.get("/dashboard/keys")).text();
    expect(list).toContain("(read only)");
    expect(list).not.toContain("Create New Key");
    expect((await (await browser.get(`/dashboard/keys/${target.id}`)).text())).not.toContain("Revoke key");
    const before = await keyCount();
    for (const res of [
      await browser.get("/dashboard/keys/new"),
      await browser.post("/dashboard/keys", { type: "public", environment: "test", label: "x" }),
      await browser.post(`/dashboard/keys/${target.id}/roll`, { expires_in: "0" }),
      await browser.post(`/dashboard/keys/${target.id}/revoke`, { confirm: "yes" }),
      await browser.post(`/dashboard/keys/${target.id}/edit`, { label: "renamed" }),
    ]) {
      expect(res.status).toBe(403);
      expect(alertText(await res.text())).toContain("lacks projects:write");
    }
    expect(await keyCount()).toBe(before);
    expect((await (await operator("GET", `/keys/${target.id}`)).json()) as object).toMatchObject({ status: "active" });
  });

  it("a test key sees and manages only test keys; another project's keys do not exist for it", async () => {
    const testAdmin = await mintKey(project, { type: "secret", environment: "test" });
    const liveKey = await mintKey(project, { type: "public", environment: "live" });
    const foreign = await mintKey(await newProject(), { type: "public" });
    const browser = await DashboardBrowser.signedIn(testAdmin.key);
    const list = await (await browser.get("/dashboard/keys")).text();
    expect(list).not.toContain(liveKey.id);
    expect(list).not.toContain(admin.id);
    for (const id of [liveKey.id, foreign.id, "key_doesnotexist"]) {
      expect((await browser.get(`/dashboard/keys/${id}`)).status).toBe(404);
      expect((await browser.post(`/dashboard/keys/${id}/revoke`, { confirm: "yes" })).status).toBe(404);
    }
    const activity = await (await browser.get("/dashboard/activity")).text();
    expect(activity).not.toContain(liveKey.id);
    expect(activity).toContain(testAdmin.id);
    expect(activity).not.toContain("project created");
    const before = await keyCount();
    const live = await browser.post("/dashboard/keys", { type: "public", environment: "live", label: "sneaky" });
    expect(live.status).toBe(403);
    expect(alertText(await live.text())).toContain("A test key manages only test keys");
    expect(await keyCount()).toBe(before);
  });

  it("no escalation: a scoped key cannot create, roll or revoke a key that can do more than itself", async () => {
    const manager = await mintKey(project, { type: "secret", scopes: ["projects:read", "projects:write", "events:read"] });
    const full = await mintKey(project, { type: "secret" });
    const browser = await DashboardBrowser.signedIn(manager.key);
    const before = await keyCount();
    const created = await browser.post("/dashboard/keys", { type: "secret", environment: "test", label: "wider", access: "full" });
    expect(created.status).toBe(403);
    expect(alertText(await created.text())).toContain("cannot manage a key that can do more than itself");
    expect((await browser.post(`/dashboard/keys/${full.id}/revoke`, { confirm: "yes" })).status).toBe(403);
    expect((await browser.post(`/dashboard/keys/${full.id}/roll`, { expires_in: "0" })).status).toBe(403);
    expect(await keyCount()).toBe(before);
    const narrow = await mintKey(project, { type: "secret", scopes: ["events:read"] });
    const widened = await browser.post(`/dashboard/keys/${narrow.id}/edit`, { label: "wider", access: "full" });
    expect(widened.status).toBe(403);
    expect(alertText(await widened.text())).toContain("cannot manage a key that can do more than itself");
    expect((await (await operator("GET", `/keys/${narrow.id}`)).json()) as object).toMatchObject({ scopes: ["events:read"] });
    const narrower = await browser.post("/dashboard/keys", { type: "secret", environment: "test", label: "narrower", access: "scoped", scopes: "events:read" });
    expect(narrower.status).toBe(303); // post/redirect/get: created, shown on the next page
  });
});

describe("the browser side", () => {
  it("a form sent from another site is refused (CSRF) and changes nothing", async () => {
    const browser = await DashboardBrowser.signedIn(admin.key);
    const target = await mintKey(project, { type: "public" });
    const before = await keyCount();
    for (const headers of [{ origin: "https://evil.example" }, { origin: "null" }]) {
      const res = await browser.post("/dashboard/keys", { type: "public", environment: "test", label: "csrf" }, headers);
      expect(res.status).toBe(403);
      expect(alertText(await res.text())).toContain("sent from another site");
      expect((await browser.post(`/dashboard/keys/${target.id}/revoke`, { confirm: "yes" }, headers)).status).toBe(403);
    }
    expect(await keyCount()).toBe(before);
    expect((await (await operator("GET", `/keys/${target.id}`)).json()) as object).toMatchObject({ status: "active" });
    // A same-origin form that sends Sec-Fetch-Site instead of Origin is fine.
    const sameSite = await browser.post("/dashboard/keys", { type: "public", environment: "test", label: "ok" }, { origin: "", "sec-fetch-site": "same-origin" });
    expect(sameSite.status).toBe(303);
  });

  it("every page: strict CSP with a nonce, no framing, no caching, no referrer", async () => {
    const browser = await DashboardBrowser.signedIn(admin.key);
    for (const res of [await new DashboardBrowser().get("/dashboard/login"), await browser.get("/dashboard/keys")]) {
      const csp = res.headers.get("content-security-policy")!;
      expect(csp).toMatch(/default-src 'none'/);
      expect(csp).toMatch(/script-src 'nonce-[A-Za-z0-9+/=]+'/);
      expect(csp).toMatch(/frame-ancestors 'none'/);
      expect(res.headers.get("x-frame-options")).toBe("DENY");
      expect(res.headers.get("cache-control")).toBe("no-store");
      expect(res.headers.get("referrer-policy")).toBe("no-referrer");
      const nonce = /'nonce-([^']+)'/.exec(csp)![1]!;
      expect(await res.text()).toContain(`<style nonce="${nonce}">`);
    }
  });

  it("plain HTTP only on loopback: a remote host is refused before the key is read; 127.0.0.1 gets a cookie without __Host-/Secure", async () => {
    const remote = await new DashboardBrowser("http://dashboard.example.com").post("/dashboard/login", { api_key: admin.key });
    expect(remote.status).toBe(403);
    expect(alertText(await remote.text())).toContain("must not be sent over plain HTTP");
    expect(remote.headers.getSetCookie()).toEqual([]);

    const local = new DashboardBrowser("http://127.0.0.1:8787");
    const res = await local.post("/dashboard/login", { api_key: admin.key });
    expect(res.status).toBe(303);
    const cookie = res.headers.getSetCookie()[0]!;
    expect(cookie).toMatch(/^composite_session=/);
    expect(cookie).not.toContain("Secure");
    expect((await local.get("/dashboard/keys")).status).toBe(200);
  });

  it("the limiter being down does not lock operators out of the dashboard (it does not use the KeyLimiter to read)", async () => {
    const res = await sendWith(
      envWithFailingLimiter(),
      new Request(`${GATEWAY}/dashboard/login`, {
        method: "POST",
        headers: { origin: GATEWAY, "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ api_key: admin.key }),
      }),
    );
    expect(res.status).toBe(303);
  });
});
