/**
 * Post/redirect/get for new keys (issue 16): a reload never mints a key, and the plaintext crosses
 * the redirect only in a one-time, short-lived, signed and encrypted handoff — never in a URL, a
 * log line or a page other than the one right after the POST.
 */
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { env, mintKey, newProject, operator, type MintedKey } from "../helpers";
import { DashboardBrowser, shownKey } from "./browser";

let project: string;
let admin: MintedKey;

beforeAll(async () => {
  project = await newProject("Handoff");
  admin = await mintKey(project, { type: "secret", environment: "live" });
});

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

async function keyCount(): Promise<number> {
  const row = await env.DB.prepare("SELECT COUNT(*) AS n FROM api_keys WHERE project_id = ?1").bind(project).first<{ n: number }>();
  return row!.n;
}

const HANDOFF = "__Secure-composite_handoff";
const newKey = { type: "secret", environment: "live", label: "Handed off", access: "full" };

describe("Create New Key: post/redirect/get", () => {
  it("the POST answers 303 with no key in its body, URL or headers; the key travels in an HttpOnly, Strict, 60 s cookie for the created page only, encrypted", async () => {
    const browser = await DashboardBrowser.signedIn(admin.key);
    const posted = await browser.post("/dashboard/keys", newKey);
    expect(posted.status).toBe(303);
    expect(posted.headers.get("location")).toBe("/dashboard/keys/created");
    const body = await posted.text();
    expect(body).not.toMatch(/[ps]k_(test|live)_/);
    const cookie = posted.headers.getSetCookie().find((line) => line.startsWith(`${HANDOFF}=`))!;
    expect(cookie).toBeDefined();
    for (const attribute of ["Max-Age=60", "Path=/dashboard/keys/created", "HttpOnly", "Secure", "SameSite=Strict"]) expect(cookie).toContain(attribute);

    const shown = await browser.get("/dashboard/keys/created");
    expect(shown.status).toBe(200);
    expect(shown.headers.get("cache-control")).toBe("no-store");
    const key = shownKey(await shown.text());
    expect(key).toMatch(/^sk_live_\w{38}$/);
    // Encrypted: neither the key nor its random part can be read from the cookie.
    const value = decodeURIComponent(cookie.split(";")[0]!.slice(HANDOFF.length + 1));
    expect(value).not.toContain(key.slice(8, 40));
    expect(atob(value.replaceAll("-", "+").replaceAll("_", "/"))).not.toContain(key.slice(8, 40));
    // The page clears it.
    expect(shown.headers.getSetCookie().join("\n")).toMatch(new RegExp(`${HANDOFF}=;.*Max-Age=0`));
  });

  it("a reload of the created page shows nothing and mints nothing (410)", async () => {
    const browser = await DashboardBrowser.signedIn(admin.key);
    const shown = await browser.create("/dashboard/keys", newKey);
    const key = shownKey(await shown.text());
    const before = await keyCount();
    for (let reload = 0; reload < 3; reload++) {
      const again = await browser.get("/dashboard/keys/created");
      expect(again.status).toBe(410);
      const html = await again.text();
      expect(html).toContain("Key already shown");
      expect(html).not.toContain(key);
    }
    expect(await keyCount()).toBe(before);
  });

  it("the handoff cannot be replayed: a copy of the cookie opens nothing once the page has shown the key", async () => {
    const browser = await DashboardBrowser.signedIn(admin.key);
    await browser.post("/dashboard/keys", newKey);
    const copy = browser.cookies.get(HANDOFF)!;
    expect(copy).toBeDefined();
    const key = shownKey(await (await browser.get("/dashboard/keys/created")).text());
    browser.cookies.set(HANDOFF, copy); // put back as an attacker who copied it would
    const replayed = await browser.get("/dashboard/keys/created");
    expect(replayed.status).toBe(410);
    expect(await replayed.text()).not.toContain(key);
  });

  it("the handoff is signed and bound to its session: a changed byte or another session's browser opens nothing, and the right one still can", async () => {
    const browser = await DashboardBrowser.signedIn(admin.key);
    await browser.post("/dashboard/keys", newKey);
    const value = browser.cookies.get(HANDOFF)!;
    const flipped = value.slice(0, 20) + (value[20] === "A" ? "B" : "A") + value.slice(21);
    browser.cookies.set(HANDOFF, flipped);
    expect((await browser.get("/dashboard/keys/created")).status).toBe(410);

    const other = await mintKey(project, { type: "secret", environment: "live" });
    const stranger = await DashboardBrowser.signedIn(other.key);
    await browser.post("/dashboard/keys", newKey);
    stranger.cookies.set(HANDOFF, browser.cookies.get(HANDOFF)!);
    const stolen = await stranger.get("/dashboard/keys/created");
    expect(stolen.status).toBe(410);
    expect(await stolen.text()).not.toMatch(/sk_live_\w{38}/);
    const own = await browser.get("/dashboard/keys/created");
    expect(own.status).toBe(200);
    expect(shownKey(await own.text())).toMatch(/^sk_live_/);
  });

  it("the handoff expires: opened after its minute, it shows nothing", async () => {
    const browser = await DashboardBrowser.signedIn(admin.key);
    await browser.post("/dashboard/keys", newKey);
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + 61_000);
    const late = await browser.get("/dashboard/keys/created");
    expect(late.status).toBe(410);
    expect(await late.text()).not.toMatch(/sk_live_\w{38}/);
  });

  it("Generate replacement goes the same way, and no log line holds a key", async () => {
    const lines: string[] = [];
    for (const level of ["log", "info", "warn", "error"] as const) {
      vi.spyOn(console, level).mockImplementation((...args: unknown[]) => void lines.push(args.map(String).join(" ")));
    }
    const old = await mintKey(project, { type: "secret", environment: "live" });
    const browser = await DashboardBrowser.signedIn(admin.key);
    const shown = await browser.create(`/dashboard/keys/${old.id}/roll`, { expires_in: "3600" });
    const html = await shown.text();
    const replacement = shownKey(html);
    expect(html).toContain("Replacement key created");
    expect(html).toContain(`href="/dashboard/keys/${old.id}/rotation"`);
    expect((await browser.get("/dashboard/keys/created")).status).toBe(410);
    const { data } = (await (await operator("GET", `/keys?project_id=${project}`)).json()) as { data: { rolled_from: string | null }[] };
    expect(data.filter((key) => key.rolled_from === old.id)).toHaveLength(1); // rolled once, however often the page was loaded
    expect(lines.length).toBeGreaterThan(0); // the request log ran
    for (const line of lines) {
      expect(line).not.toContain(replacement);
      expect(line).not.toContain(replacement.slice(8, 40));
    }
    const rows = await env.DB.prepare("SELECT * FROM dashboard_handoffs").all();
    expect(JSON.stringify(rows.results)).not.toContain(replacement.slice(8, 40));
  });
});
