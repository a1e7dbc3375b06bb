/**
 * The dashboard's usage data, drawn from real traffic through the Worker: admitted, refused 429
 * and refused 401/403 per day and per minute, per key and for the project (the session's
 * environment only), today against the quota, and the unusual-activity flag.
 */
import { runDurableObjectAlarm } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { keyLimiter } from "../../src/limiter/client";
import { env, gateway, mintKey, newProject, setLimits, settleCounts, withKey, type MintedKey } from "../helpers";
import { DashboardBrowser } from "./browser";

let project: string;
let admin: MintedKey;

beforeAll(async () => {
  project = await newProject("Usage");
  admin = await mintKey(project, { type: "secret", environment: "live" });
});

interface Series {
  unit: string;
  at: string[];
  requests: number[];
  rejected: number[];
  denied: number[];
}

const sum = (values: number[]) => values.reduce((total, value) => total + value, 0);

/** Waits for the keys' counts to reach their objects, then runs their flushes to D1. */
async function flush(...keyIds: string[]): Promise<void> {
  await settleCounts();
  for (const id of keyIds) await runDurableObjectAlarm(keyLimiter(env, id));
}

async function data(browser: DashboardBrowser, query = ""): Promise<{ status: number; days: Series; minutes: Series }> {
  const res = await browser.get(`/dashboard/usage/data${query}`);
  return res.status === 200 ? { status: 200, ...((await res.json()) as { days: Series; minutes: Series }) } : { status: res.status, days: null!, minutes: null! };
}

describe("usage per key", () => {
  it("counts admitted, 429 and 401/403 per day (30 days) and per minute (the last hour), in D1 via the object's flush", async () => {
    const key = await mintKey(project, { type: "public", environment: "live" });
    await setLimits(key.id, { burst: 5, rate: 1 });
    const send = () => gateway("/v1/events", withKey(key.key, { method: "POST", body: "{}" }));
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push((await send()).status);
    for (let i = 0; i < 3; i++) statuses.push((await gateway("/v1/export", withKey(key.key))).status);
    expect(statuses.filter((status) => status === 200).length).toBeGreaterThanOrEqual(5);
    const admitted = statuses.filter((status) => status === 200).length;
    const limited = statuses.filter((status) => status === 429).length;
    expect(statuses.filter((status) => status === 403)).toHaveLength(3);
    await flush(key.id);

    const browser = await DashboardBrowser.signedIn(admin.key);
    const { days, minutes } = await data(browser, `?key=${key.id}`);
    expect(days.at).toHaveLength(30);
    expect(days.at.at(-1)).toBe(new Date().toISOString().slice(0, 10));
    expect([days.requests.at(-1), days.rejected.at(-1), days.denied.at(-1)]).toEqual([admitted, limited, 3]);
    expect(minutes.at).toHaveLength(60);
    expect(minutes.at.at(-1)).toBe(new Date().toISOString().slice(0, 16));
    expect([sum(minutes.requests), sum(minutes.rejected), sum(minutes.denied)]).toEqual([admitted, limited, 3]);
    const row = await env.DB.prepare("SELECT requests, rejected, denied FROM usage_daily WHERE key_id = ?1").bind(key.id).first();
    expect(row).toEqual({ requests: admitted, rejected: limited, denied: 3 });

    const page = await (await browser.get(`/dashboard/keys/${key.id}`)).text();
    expect(page).toContain(`${admitted} of 1,000,000 (under 0.1 %)`); // today against the daily quota
    expect(page).toContain(`refused: ${limited} × 429, 3 × 401/403`);
  });

  it("a flush that runs twice counts nothing twice, minutes included", async () => {
    const key = await mintKey(project, { type: "public", environment: "live" });
    for (let i = 0; i < 4; i++) await gateway("/v1/events", withKey(key.key, { method: "POST", body: "{}" }));
    await flush(key.id);
    await runDurableObjectAlarm(keyLimiter(env, key.id));
    const minutes = await env.DB.prepare("SELECT SUM(requests) AS n FROM usage_minute WHERE key_id = ?1").bind(key.id).first<{ n: number }>();
    expect(minutes!.n).toBe(4);
  });

  it("a key the session may not see has no usage for it: another project's, or a live key for a test session (404)", async () => {
    const other = await mintKey(await newProject("Other"), { type: "public" });
    const live = await mintKey(project, { type: "public", environment: "live" });
    const tester = await mintKey(project, { type: "secret", environment: "test" });
    expect((await data(await DashboardBrowser.signedIn(admin.key), `?key=${other.id}`)).status).toBe(404);
    expect((await data(await DashboardBrowser.signedIn(tester.key), `?key=${live.id}`)).status).toBe(404);
  });
});

describe("usage of the project", () => {
  it("sums the keys of the session's environment: a test session's charts hold no live traffic", async () => {
    const p = await newProject("Project usage");
    const liveAdmin = await mintKey(p, { type: "secret", environment: "live" });
    const testAdmin = await mintKey(p, { type: "secret", environment: "test" });
    const live = await mintKey(p, { type: "public", environment: "live" });
    const test = await mintKey(p, { type: "public", environment: "test" });
    for (let i = 0; i < 5; i++) await gateway("/v1/events", withKey(live.key, { method: "POST", body: "{}" }));
    for (let i = 0; i < 2; i++) await gateway("/v1/events", withKey(test.key, { method: "POST", body: "{}" }));
    await flush(live.id, test.id);
    const all = await data(await DashboardBrowser.signedIn(liveAdmin.key));
    expect([all.days.requests.at(-1), sum(all.minutes.requests)]).toEqual([7, 7]);
    const testOnly = await data(await DashboardBrowser.signedIn(testAdmin.key));
    expect([testOnly.days.requests.at(-1), sum(testOnly.minutes.requests)]).toEqual([2, 2]);

    const page = await (await (await DashboardBrowser.signedIn(liveAdmin.key)).get("/dashboard/usage")).text();
    expect(page).toContain('<div class="chart" data-series="days"');
    expect(page).toMatch(/<script src="\/dashboard\/assets\/uplot\.js" nonce="[^"]+"><\/script>/);
    expect(page).toContain(`data-key-id="${live.id}"`);
  });

  it("the chart library and the dashboard script are served by the gateway itself, under the page's nonce (no CDN)", async () => {
    const browser = await DashboardBrowser.signedIn(admin.key);
    const js = await browser.get("/dashboard/assets/uplot.js");
    expect(js.status).toBe(200);
    expect(js.headers.get("content-type")).toMatch(/^text\/javascript/);
    expect(await js.text()).toMatch(/^\/\*! https:\/\/github\.com\/leeoniya\/uPlot \(v1\.6\.32\) \*\//);
    expect((await browser.get("/dashboard/assets/uplot.css")).headers.get("content-type")).toMatch(/^text\/css/);
    expect((await browser.get("/dashboard/assets/nope.js")).status).toBe(404);
    const page = await browser.get(`/dashboard/keys/${admin.id}`);
    const csp = page.headers.get("content-security-policy")!;
    expect(csp).toMatch(/script-src 'nonce-[^']+'(;|$)/); // nonce only: not 'self', not a CDN
    expect(await page.text()).not.toMatch(/<script src="https?:/);
  });
});

describe("unusual activity", () => {
  it("a key refused far above its norm is flagged on the key list and on its page; a quiet key is not", async () => {
    const noisy = await mintKey(project, { type: "public", environment: "live" });
    const quiet = await mintKey(project, { type: "public", environment: "live" });
    for (let i = 0; i < 30; i++) expect((await gateway("/v1/export", withKey(noisy.key))).status).toBe(403);
    await gateway("/v1/events", withKey(quiet.key, { method: "POST", body: "{}" }));
    await flush(noisy.id, quiet.id);
    const browser = await DashboardBrowser.signedIn(admin.key);
    const list = await (await browser.get("/dashboard/keys")).text();
    const row = (id: string) => new RegExp(`data-key-id="${id}">((?:(?!</tr>)[\\s\\S])*)</tr>`).exec(list)![1]!;
    expect(row(noisy.id)).toContain("unusual activity");
    expect(row(quiet.id)).not.toContain("unusual activity");
    const page = await (await browser.get(`/dashboard/keys/${noisy.id}`)).text();
    expect(page).toContain("<strong>Unusual activity:</strong> 30 refused today (429, 401 or 403) against about 0 a day");
  });
});
