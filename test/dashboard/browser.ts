/**
 * A minimal browser for the dashboard tests: keeps cookies the way a browser would for one
 * origin, submits forms as application/x-www-form-urlencoded with the page's own Origin, and
 * does not follow redirects (so the tests see them). Requests go through the Worker's own fetch.
 */
import { exports } from "cloudflare:workers";
import { expect } from "vitest";
import { GATEWAY } from "../helpers";

export type Fields = Record<string, string | string[]>;

export class DashboardBrowser {
  readonly cookies = new Map<string, string>();

  constructor(readonly origin = GATEWAY) {}

  static async signedIn(key: string, origin = GATEWAY): Promise<DashboardBrowser> {
    const browser = new DashboardBrowser(origin);
    const res = await browser.post("/dashboard/login", { api_key: key });
    expect(res.status, await res.clone().text()).toBe(303);
    expect(res.headers.get("location")).toBe("/dashboard/keys");
    return browser;
  }

  /**
   * A form that creates a key (Create New Key, Generate replacement): post/redirect/get — the
   * POST answers 303 to the created page, which shows the key once. Answers that page.
   */
  async create(path: string, fields: Fields): Promise<Response> {
    const posted = await this.post(path, fields);
    expect(posted.status, await posted.clone().text()).toBe(303);
    expect(posted.headers.get("location")).toBe("/dashboard/keys/created");
    expect(await posted.text()).not.toMatch(/[ps]k_(test|live)_\w{38}/);
    return this.get("/dashboard/keys/created");
  }

  get(path: string, headers: Record<string, string> = {}): Promise<Response> {
    return this.send(path, { headers });
  }

  post(path: string, fields: Fields, headers: Record<string, string> = {}): Promise<Response> {
    const body = new URLSearchParams();
    for (const [name, value] of Object.entries(fields)) for (const item of [value].flat()) body.append(name, item);
    return this.send(path, {
      method: "POST",
      body,
      headers: { origin: this.origin, "content-type": "application/x-www-form-urlencoded", ...headers },
    });
  }

  private async send(path: string, init: RequestInit & { headers: Record<string, string> }): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.cookies.size > 0 && !headers.has("cookie")) headers.set("cookie", [...this.cookies].map(([name, value]) => `${name}=${value}`).join("; "));
    const res = await exports.default.fetch(new Request(this.origin + path, { ...init, headers, redirect: "manual" }));
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(";");
      const [name, value] = pair!.split("=") as [string, string];
      if (/max-age=0/i.test(line) || value === "") this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return res;
  }
}

/** The plaintext key on a "Key created" page. */
export function shownKey(html: string): string {
  const match = /<code class="key" id="new-key">\s*([^<\s]+)\s*<\/code>/.exec(html);
  expect(match, "no key on the page").not.toBeNull();
  return match![1]!;
}

/** The text of the page's alert, if any. */
export function alertText(html: string): string | undefined {
  return /role="alert">([\s\S]*?)<\/p>/.exec(html)?.[1]?.replace(/<[^>]+>/g, "").replace(/\s+/g, " ").trim();
}
