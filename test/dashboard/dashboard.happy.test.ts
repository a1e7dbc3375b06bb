/**
 * The Analytics Dashboard as AUTH-DOCS describes it: sign in, Settings → API Keys, Create New Key
 * (type, label, permissions; the key shown once), rotate, revoke, and usage per key — each
 * checked against what the gateway then does with the key.
 */
import { runDurableObjectAlarm } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { keyLimiter } from "../../src/limiter/client";
import { WRITE_BEHIND_MS } from "../../src/limiter/key-limiter";
import { env, expectProblem, gateway, mintKey, newProject, operator, withKey, type MintedKey } from "../helpers";
import { alertText, DashboardBrowser, shownKey } from "./browser";

let project: string;
let admin: MintedKey;

beforeAll(async () => {
  project = await newProject("Dashboard");
  admin = await mintKey(project, { type: "secret", environment: "live" });
});

const sendEvent = (key: string) => gateway("/v1/events", withKey(key, { method: "POST", body: "{}" }));

describe("signing in", () => {
  it("without a session every page leads to the sign-in form", async () => {
    const browser = new DashboardBrowser();
    for (const path of ["/dashboard", "/dashboard/keys", "/dashboard/keys/new", "/dashboard/activity"]) {
      const res = await browser.get(path);
      expect(res.status, path).toBe(303);
      expect(res.headers.get("location")).toMatch(/^\/dashboard\/(keys|login)$/);
    }
    const form = await browser.get("/dashboard/login");
    expect(form.status).toBe(200);
    expect(form.headers.get("content-type")).toMatch(/^text\/html/);
    const html = await form.text();
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).toContain('<form method="post" action="/dashboard/login"');
    expect(html).toContain('type="password"');
  });

  it("a secret key opens an 8-hour HttpOnly, SameSite=Strict, __Host- session cookie that holds neither the key nor its hash", async () => {
    const browser = new DashboardBrowser();
    const res = await browser.post("/dashboard/login", { api_key: admin.key });
    expect(res.status).toBe(303);
    const cookie = res.headers.getSetCookie().join("\n");
    expect(cookie).toMatch(/^__Host-composite_session=/);
    for (const attribute of ["Max-Age=28800", "Path=/", "HttpOnly", "Secure", "SameSite=Strict"]) expect(cookie).toContain(attribute);
    expect(cookie).not.toContain(admin.key);
    expect(decodeURIComponent(cookie)).toContain(admin.id);
    const hash = await env.DB.prepare("SELECT key_hash FROM api_keys WHERE id = ?1").bind(admin.id).first<{ key_hash: string }>();
    expect(decodeURIComponent(cookie)).not.toContain(hash!.key_hash);

    const keys = await browser.get("/dashboard/keys");
    expect(keys.status).toBe(200);
    const html = await keys.text();
    expect(html).toContain("Settings → <a href=\"/dashboard/keys\">API Keys</a>");
    expect(html).toContain(`signed in with ${admin.key.slice(0, 8)}…${admin.key.slice(-4)}`);
    expect(html).not.toContain(admin.key);
  });

  it("signing out ends the session", async () => {
    const browser = await DashboardBrowser.signedIn(admin.key);
    const out = await browser.post("/dashboard/logout", {});
    expect(out.status).toBe(303);
    expect(out.headers.get("location")).toBe("/dashboard/login");
    expect(browser.cookies.size).toBe(0);
    expect((await browser.get("/dashboard/keys")).status).toBe(303);
  });
});

describe("Settings → API Keys", () => {
  it("lists the project's keys — label, key as prefix…last4, type, permissions, status — never a plaintext key", async () => {
    const scoped = await mintKey(project, { type: "secret", scopes: ["events:read", "projects:read"] });
    const browser = await DashboardBrowser.signedIn(admin.key);
    const html = await (await browser.get("/dashboard/keys")).text();
    for (const key of [admin, scoped]) {
      expect(html).toContain(`data-key-id="${key.id}"`);
      expect(html).toContain(`${key.key.slice(0, 8)}…${key.key.slice(-4)}`);
      expect(html).not.toContain(key.key);
    }
    expect(html).toContain("events:read, projects:read");
    expect(html).toContain("full access");
    expect(html).toContain('<a class="button" href="/dashboard/keys/new">Create New Key</a>');
  });

  it("Create New Key (public): the key is shown once, on a page nobody may cache, and works at once", async () => {
    const browser = await DashboardBrowser.signedIn(admin.key);
    const form = await browser.get("/dashboard/keys/new");
    expect(form.status).toBe(200);
    const created = await browser.create("/dashboard/keys", { type: "public", environment: "live", label: "Web app", access: "full", allowed_origins: "https://app.example.com" });
    expect(created.status).toBe(200);
    expect(created.headers.get("cache-control")).toBe("no-store");
    const html = await created.text();
    expect(html).toMatch(/won(&#39;|')t be shown again/);
    const key = shownKey(html);
    expect(key).toMatch(/^pk_live_/);
    expect(html).toMatch(/<button type="button" id="copy-key" data-copy="new-key">/);
    expect(html).toMatch(/<script src="\/dashboard\/assets\/dashboard\.js" nonce="[^"]+"><\/script>/); // the copy button's script, under the CSP nonce

    const allowed = await gateway("/v1/events", withKey(key, { method: "POST", body: "{}", headers: { origin: "https://app.example.com" } }));
    expect(allowed.status).toBe(200);
    await expectProblem(await gateway("/v1/events", withKey(key, { method: "POST", body: "{}", headers: { origin: "https://evil.example" } })), 403, "origin_not_allowed", key);

    const list = await (await browser.get("/dashboard/keys")).text();
    expect(list).toContain("Web app");
    expect(list).not.toContain(key);
  });

  it("Create New Key (secret, only some scopes): exactly those permissions, recorded in the audit log as the signed-in key's action", async () => {
    const browser = await DashboardBrowser.signedIn(admin.key);
    const created = await browser.create("/dashboard/keys", {
      type: "secret",
      environment: "test",
      label: "Export job",
      access: "scoped",
      scopes: ["events:read", "users:read"],
      expires_at: "2099-01-31",
    });
    expect(created.status).toBe(200);
    const key = shownKey(await created.text());
    expect(key).toMatch(/^sk_test_/);
    expect((await gateway("/v1/events", withKey(key))).status).toBe(200);
    await expectProblem(await sendEvent(key), 403, "insufficient_permissions", key);

    const { data } = (await (await operator("GET", `/keys?project_id=${project}`)).json()) as { data: { id: string; label: string; scopes: string[]; expires_at: string }[] };
    const record = data.find((k) => k.label === "Export job")!;
    expect(record).toMatchObject({ scopes: ["events:read", "users:read"], expires_at: "2099-01-31T00:00:00.000Z" });
    const audit = (await (await operator("GET", `/audit?project_id=${project}`)).json()) as { data: { actor: string; action: string; target_id: string }[] };
    expect(audit.data).toContainEqual(expect.objectContaining({ actor: admin.id, action: "key.create", target_id: record.id }));
  });

  it("a key's page shows its permission settings and its usage per day", async () => {
    const key = await mintKey(project, { type: "public" });
    for (let i = 0; i < 3; i++) expect((await sendEvent(key.key)).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, WRITE_BEHIND_MS * 3));
    await runDurableObjectAlarm(keyLimiter(env, key.id));

    const browser = await DashboardBrowser.signedIn(admin.key);
    const html = await (await browser.get(`/dashboard/keys/${key.id}`)).text();
    expect(html).toContain("public set");
    expect(html).toContain("100 per second, burst 1,000, 1,000,000 per day (UTC)");
    const today = new Date().toISOString().slice(0, 10);
    expect(html).toMatch(new RegExp(`<tr data-day="${today}"><td data-label="Day">${today}</td><td data-label="Admitted">3</td><td data-label="Refused 429">0</td>`));
    expect(html).not.toContain(key.key);

    const list = await (await browser.get("/dashboard/keys")).text();
    expect(list).toMatch(new RegExp(`data-key-id="${key.id}">(?:(?!</tr>)[\\s\\S])*data-today="3"(?:(?!</tr>)[\\s\\S])*data-last30="3"`));
  });

  it("Edit: a narrower scope list or other origins are in force on the key's very next request", async () => {
    const secret = await mintKey(project, { type: "secret" });
    const browser = await DashboardBrowser.signedIn(admin.key);
    const page = await (await browser.get(`/dashboard/keys/${secret.id}`)).text();
    expect(page).toContain(`action="/dashboard/keys/${secret.id}/edit"`);
    const saved = await browser.post(`/dashboard/keys/${secret.id}/edit`, { label: "Reader", access: "scoped", scopes: ["events:read"] });
    expect(saved.status).toBe(303);
    expect(saved.headers.get("location")).toBe(`/dashboard/keys/${secret.id}?done=updated`);
    await expectProblem(await sendEvent(secret.key), 403, "insufficient_permissions", secret.key);
    expect((await gateway("/v1/events", withKey(secret.key))).status).toBe(200);
    const after = await (await browser.get(saved.headers.get("location")!)).text();
    expect(after).toContain("<h1>Reader</h1>");
    expect(after).toContain("Saved. The new settings are in force");
    expect(after).toMatch(/<input type="checkbox" name="scopes" value="events:read" checked=""/);

    await browser.post(`/dashboard/keys/${secret.id}/edit`, { label: "Reader", access: "full", scopes: ["events:read"] });
    expect((await sendEvent(secret.key)).status).toBe(200); // full access again

    const publicKey = await mintKey(project, { type: "public" });
    await browser.post(`/dashboard/keys/${publicKey.id}/edit`, { label: "Web", allowed_origins: "https://shop.example.com" });
    const origin = (value: string) => gateway("/v1/events", withKey(publicKey.key, { method: "POST", body: "{}", headers: { origin: value } }));
    expect((await origin("https://shop.example.com")).status).toBe(200);
    await expectProblem(await origin("https://other.example.com"), 403, "origin_not_allowed", publicKey.key);
    await browser.post(`/dashboard/keys/${publicKey.id}/edit`, { label: "Web", allowed_origins: "" });
    expect((await origin("https://other.example.com")).status).toBe(200); // any origin again

    const audit = (await (await operator("GET", `/audit?project_id=${project}`)).json()) as { data: { actor: string; action: string; target_id: string }[] };
    expect(audit.data.filter((entry) => entry.action === "key.update" && entry.actor === admin.id).map((entry) => entry.target_id)).toEqual(
      expect.arrayContaining([secret.id, publicKey.id]),
    );
  });

  it("Generate replacement: a new key with the same settings; the old one works until the chosen time", async () => {
    const old = await mintKey(project, { type: "secret", scopes: ["events:write"] });
    const browser = await DashboardBrowser.signedIn(admin.key);
    const rolled = await browser.create(`/dashboard/keys/${old.id}/roll`, { expires_in: "3600" });
    expect(rolled.status).toBe(200);
    const html = await rolled.text();
    const replacement = shownKey(html);
    expect(html).toContain(`It replaces &#39;test key&#39; (${old.key.slice(0, 8)}…${old.key.slice(-4)})`);
    expect((await sendEvent(replacement)).status).toBe(200);
    expect((await sendEvent(old.key)).status).toBe(200); // still within its hour

    const now = await browser.create(`/dashboard/keys/${(await keyIdOf(replacement))}/roll`, { expires_in: "0" });
    expect(now.status).toBe(200);
    await expectProblem(await sendEvent(replacement), 401, "expired_api_key", replacement);
  });

  it("Revoke: the very next request with the key is refused, and the page says so", async () => {
    const key = await mintKey(project, { type: "public" });
    expect((await sendEvent(key.key)).status).toBe(200);
    const browser = await DashboardBrowser.signedIn(admin.key);
    const res = await browser.post(`/dashboard/keys/${key.id}/revoke`, { confirm: "yes" });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe(`/dashboard/keys/${key.id}?done=revoked`);
    await expectProblem(await sendEvent(key.key), 401, "revoked_api_key", key.key);
    const page = await (await browser.get(res.headers.get("location")!)).text();
    expect(page).toContain("Revoked. Every request with this key is refused");
    expect(page).toContain('<span class="badge revoked">revoked</span>');
    expect(page).not.toContain("Generate replacement");
    expect(alertText(page)).toBeUndefined();
  });
});

describe("Activity", () => {
  it("lists every change to the project's keys, newest first, in sentences with labels: what, which key, by whom, from where", async () => {
    const browser = await DashboardBrowser.signedIn(admin.key);
    const created = await browser.create("/dashboard/keys", { type: "public", environment: "live", label: "Audited" });
    const id = /href="\/dashboard\/keys\/(key_\w+)"/.exec(await created.text())![1]!;
    const record = (await (await operator("GET", `/keys/${id}`)).json()) as { display: string };
    await browser.post(`/dashboard/keys/${id}/edit`, { label: "Checkout server", allowed_origins: "https://shop.example.com" }, { "cf-connecting-ip": "198.51.100.7" });
    await browser.post(`/dashboard/keys/${id}/revoke`, { confirm: "yes" });
    const html = await (await browser.get("/dashboard/activity")).text();
    const rows = [...html.matchAll(/<li data-audit-id="aud_\w+">([\s\S]*?)<\/li>/g)].map((match) =>
      match[1]!.replace(/<[^>]+>/g, "").replaceAll("&#39;", "'").replace(/\s+/g, " ").trim(),
    );
    const by = `by 'test key' (${admin.key.slice(0, 8)}…${admin.key.slice(-4)})`;
    expect(rows[0]).toMatch(new RegExp(`^Revoked 'Checkout server' \\(${record.display}\\)\\. \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d UTC · ${escape(by)}$`));
    expect(rows[1]).toContain(`Changed 'Checkout server' (${record.display}): the label to 'Checkout server', allowed origins to https://shop.example.com.`);
    expect(rows[1]).toMatch(/ · from 198\.51\.100\.7$/);
    expect(rows[2]).toContain(`Created 'Checkout server' (${record.display}), a public live key.`);
    expect(rows.at(-1)).toMatch(/^Created the project 'Dashboard'\. .* by the operator$/); // the oldest
    expect(html).not.toMatch(/[ps]k_(test|live)_\w{38}/);
    expect(html).not.toContain("{&quot;"); // no raw JSON
  });
});

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

async function keyIdOf(key: string): Promise<string> {
  const res = await gateway("/v1/events", withKey(key, { method: "POST", body: "{}" }));
  const { received } = (await res.json()) as { received: { headers: Record<string, string> } };
  return received.headers["x-composite-key-id"]!;
}
