/**
 * Rotation you can follow, and only the actions that can apply (issue 16): old and new keys
 * linked both ways, the old key's countdown, its traffic since the roll, "still in use" vs "safe
 * to revoke", the four AUTH-DOCS steps — and no form for a change the key cannot take.
 */
import { runDurableObjectAlarm } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { keyLimiter } from "../../src/limiter/client";
import { env, gateway, mintKey, newProject, operator, settleCounts, withKey, type MintedKey } from "../helpers";
import { alertText, DashboardBrowser, shownKey } from "./browser";

let project: string;
let admin: MintedKey;

beforeAll(async () => {
  project = await newProject("Rotation");
  admin = await mintKey(project, { type: "secret", environment: "live" });
});

const read = (key: string) => gateway("/v1/events", withKey(key));

async function flush(...keyIds: string[]): Promise<void> {
  await settleCounts();
  for (const id of keyIds) await runDurableObjectAlarm(keyLimiter(env, id));
}

/** Rolls through the dashboard; answers the replacement's key and id. */
async function roll(browser: DashboardBrowser, keyId: string, expiresIn = "3600"): Promise<{ key: string; id: string }> {
  const html = await (await browser.create(`/dashboard/keys/${keyId}/roll`, { expires_in: expiresIn })).text();
  return { key: shownKey(html), id: /<a href="\/dashboard\/keys\/(key_\w+)">/.exec(html.slice(html.indexOf("<p><a href=")))![1]! };
}

const text = (html: string) => html.replace(/<[^>]+>/g, " ").replaceAll("&#39;", "'").replace(/\s+/g, " ");

describe("rotation", () => {
  it("links old and new keys both ways, on the list and on each key's page; the old key counts down and offers no second replacement", async () => {
    const old = await mintKey(project, { type: "secret", environment: "live", scopes: ["events:read"] });
    await operator("PATCH", `/keys/${old.id}`, { label: "Checkout server" });
    const browser = await DashboardBrowser.signedIn(admin.key);
    const replacement = await roll(browser, old.id);

    const oldPage = text(await (await browser.get(`/dashboard/keys/${old.id}`)).text());
    expect(oldPage).toMatch(/Replaced by 'Checkout server' \(sk_live_…\w{4}\)/);
    expect(oldPage).toMatch(/expires in (59 min|1 h 0 min)/);
    expect(oldPage).not.toContain("Generate replacement");
    expect(oldPage).not.toContain("Save changes");
    expect(oldPage).toContain("Revoke key");
    expect(oldPage).toContain("already been replaced");
    const newPage = text(await (await browser.get(`/dashboard/keys/${replacement.id}`)).text());
    expect(newPage).toMatch(/Replaces 'Checkout server' \(sk_live_…\w{4}\)/);
    expect(newPage).toContain("Generate replacement"); // the new key can be rolled in its turn

    const list = await (await browser.get("/dashboard/keys")).text();
    const row = (id: string) => text(new RegExp(`data-key-id="${id}">((?:(?!</tr>)[\\s\\S])*)</tr>`).exec(list)![1]!);
    expect(row(old.id)).toMatch(/replaced by 'Checkout server'/);
    expect(row(old.id)).toContain("replaced");
    expect(row(replacement.id)).toMatch(/replaces 'Checkout server'/);

    // A second roll sent anyway (an old tab): refused in the dashboard's words, nothing minted.
    const again = await browser.post(`/dashboard/keys/${old.id}/roll`, { expires_in: "0" });
    expect(again.status).toBe(409);
    expect(alertText(await again.text())?.replaceAll("&#39;", "'")).toContain("'Checkout server' has already been replaced, so it cannot be rolled");
    const { data } = (await (await operator("GET", `/keys?project_id=${project}`)).json()) as { data: { rolled_from: string | null }[] };
    expect(data.filter((key) => key.rolled_from === old.id)).toHaveLength(1);
  });

  it("the old key still used after the roll is 'still in use', with its traffic since the roll; unused since, it is 'safe to revoke'; then revoked, the rotation is complete", async () => {
    const old = await mintKey(project, { type: "secret", environment: "live" });
    expect((await read(old.key)).status).toBe(200); // used before the roll
    await flush(old.id);
    const browser = await DashboardBrowser.signedIn(admin.key);
    const replacement = await roll(browser, old.id);

    let page = text(await (await browser.get(`/dashboard/keys/${old.id}/rotation`)).text());
    expect(page).toMatch(/Create new key ✓ done/);
    expect(page).toContain("Safe to revoke: the old key's traffic has stopped.");

    // An application that was not updated keeps sending the old key.
    await new Promise((resolve) => setTimeout(resolve, 5)); // after the roll's millisecond
    for (let i = 0; i < 4; i++) expect((await read(old.key)).status).toBe(200);
    for (let i = 0; i < 2; i++) expect((await read(replacement.key)).status).toBe(200);
    await flush(old.id, replacement.id);
    page = text(await (await browser.get(`/dashboard/keys/${old.id}/rotation`)).text());
    expect(page).toContain("The old key: still in use");
    expect(page).toContain("Something still sends the old key");
    expect(page).toContain("Not yet safe");
    expect(page).toContain("The new key: 2 admitted requests today");
    expect(page).not.toMatch(/Verify functionality ✓ done/);
    const keyPage = await (await browser.get(`/dashboard/keys/${old.id}`)).text();
    expect(keyPage).toContain('data-rotation="in_use"');

    const revoked = await browser.post(`/dashboard/keys/${old.id}/revoke`, { confirm: "yes" });
    expect(revoked.status).toBe(303);
    page = text(await (await browser.get(`/dashboard/keys/${old.id}/rotation`)).text());
    expect(page).toContain("The rotation is complete");
    expect(page).toMatch(/Revoke old key ✓ done/);
    expect((await read(old.key)).status).toBe(401);
    expect((await read(replacement.key)).status).toBe(200);
  });

  it("an expired key offers only Revoke; a revoked key offers nothing; a key that can do more than the session's offers nothing and says why", async () => {
    const browser = await DashboardBrowser.signedIn(admin.key);
    const expiring = await mintKey(project, { type: "public", environment: "live" });
    await roll(browser, expiring.id, "0"); // the old key expires at once
    const expired = await (await browser.get(`/dashboard/keys/${expiring.id}`)).text();
    expect(expired).toContain('<span class="badge expired">expired</span>');
    expect(expired).toContain("Revoke key");
    expect(expired).not.toContain("Generate replacement");
    expect(expired).not.toContain("Save changes");

    const gone = await mintKey(project, { type: "public", environment: "live" });
    await operator("DELETE", `/keys/${gone.id}`);
    const revoked = await (await browser.get(`/dashboard/keys/${gone.id}`)).text();
    for (const action of ["Revoke key", "Generate replacement", "Save changes"]) expect(revoked).not.toContain(action);
    expect(revoked).toContain("nothing about it can change any more");

    const scoped = await mintKey(project, { type: "secret", environment: "live", scopes: ["projects:read", "projects:write", "events:read"] });
    const full = await mintKey(project, { type: "secret", environment: "live" });
    const page = await (await (await DashboardBrowser.signedIn(scoped.key)).get(`/dashboard/keys/${full.id}`)).text();
    for (const action of ["Revoke key", "Generate replacement", "Save changes"]) expect(page).not.toContain(action);
    expect(page).toContain("cannot change a key that can do more than itself");
  });

  it("a session key that expires is not offered Generate replacement for a key without expiry (its replacement would outlive it)", async () => {
    const expiringAdmin = await mintKey(project, { type: "secret", environment: "live", expires_at: new Date(Date.now() + 86_400_000).toISOString() });
    const forever = await mintKey(project, { type: "public", environment: "live" });
    const page = await (await (await DashboardBrowser.signedIn(expiringAdmin.key)).get(`/dashboard/keys/${forever.id}`)).text();
    expect(page).not.toContain(`action="/dashboard/keys/${forever.id}/roll"`);
    expect(page).toContain("Save changes");
    expect(page).toContain("would outlive the key you signed in with");
  });

  it("the guided page of a key not yet rolled offers step 1 (the replacement) and nothing to revoke yet", async () => {
    const key = await mintKey(project, { type: "secret", environment: "live" });
    const browser = await DashboardBrowser.signedIn(admin.key);
    const html = await (await browser.get(`/dashboard/keys/${key.id}/rotation`)).text();
    expect(html).toContain(`action="/dashboard/keys/${key.id}/roll"`);
    expect(html).not.toContain(`action="/dashboard/keys/${key.id}/revoke"`);
    expect(text(html)).toContain("After the replacement is in use everywhere.");
  });
});

describe("which environment the session sees", () => {
  it("a test session says it sees test keys only and how to see live ones; a live session says it sees both", async () => {
    const tester = await mintKey(project, { type: "secret", environment: "test" });
    const testPage = text(await (await (await DashboardBrowser.signedIn(tester.key)).get("/dashboard/keys")).text());
    expect(testPage).toContain("Test environment. You signed in with a test key, so you see and manage test keys only. To see live keys, sign out and sign in with a live secret key");
    const livePage = text(await (await (await DashboardBrowser.signedIn(admin.key)).get("/dashboard/keys")).text());
    expect(livePage).toContain("Live and test.");
  });
});
