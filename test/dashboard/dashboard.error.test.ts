/**
 * Bad input to the dashboard's forms: the form comes back with what is wrong and what was typed,
 * and nothing is created, rolled or revoked.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { newKeyForm } from "../../src/dashboard/forms";
import { env, mintKey, newProject, operator, type MintedKey } from "../helpers";
import { alertText, DashboardBrowser, type Fields } from "./browser";

let project: string;
let admin: MintedKey;
let browser: DashboardBrowser;

beforeAll(async () => {
  project = await newProject("Dashboard errors");
  admin = await mintKey(project, { type: "secret", environment: "live" });
  browser = await DashboardBrowser.signedIn(admin.key);
});

async function keyCount(): Promise<number> {
  const row = await env.DB.prepare("SELECT COUNT(*) AS n FROM api_keys WHERE project_id = ?1").bind(project).first<{ n: number }>();
  return row!.n;
}

const valid: Fields = { type: "public", environment: "test", label: "Web", access: "full" };

describe("Create New Key with bad input", () => {
  it.each([
    ["no label", { label: "" }, "label"],
    ["a label of spaces", { label: "   " }, "label"],
    ["no type", { type: "" }, "type"],
    ["an unknown environment", { environment: "staging" }, "environment"],
    ["a secret key limited to no scope", { type: "secret", access: "scoped" }, "list at least one scope"],
    ["an unknown scope", { type: "secret", access: "scoped", scopes: ["events:write", "root"] }, "unknown scope"],
    ["an origin with a path", { allowed_origins: "https://app.example.com/path" }, "must be an origin"],
    ["an expiry in the past", { expires_at: "2020-01-01" }, "must be in the future"],
    ["an expiry that is not a date", { expires_at: "next week" }, "ISO 8601"],
  ])("%s → 400, the form again with the reason and what was typed; nothing created", async (_, change, reason) => {
    const before = await keyCount();
    const fields: Fields = { ...valid, label: "Kept label", ...(change as Fields) };
    const label = String(fields.label);
    const res = await browser.post("/dashboard/keys", fields);
    expect(res.status).toBe(400);
    const html = await res.text();
    expect(alertText(html)).toContain(reason);
    expect(html).toContain('<form method="post" action="/dashboard/keys"');
    if (label.trim() !== "") expect(html).toContain(`value="${label}"`);
    expect(await keyCount()).toBe(before);
  });

  it("markup typed into a field comes back escaped", async () => {
    const res = await browser.post("/dashboard/keys", { ...valid, environment: "nope", label: '"><script>alert(1)</script>' });
    expect(res.status).toBe(400);
    const html = await res.text();
    expect(html).not.toContain("<script>alert(1)</script>");
    expect(html).toContain("&lt;script&gt;");
  });
});

describe("Edit with bad input", () => {
  it("an empty label, no scope, a bad origin: 400, the key page again with the reason and what was typed; nothing changed", async () => {
    const secret = await mintKey(project, { type: "secret", scopes: ["events:write"] });
    const publicKey = await mintKey(project, { type: "public" });
    for (const [key, fields, reason] of [
      [secret, { label: "", access: "full" }, "label"],
      [secret, { label: "Typed label", access: "scoped" }, "list at least one scope"],
      [publicKey, { label: "Typed label", allowed_origins: "https://a.example/path" }, "must be an origin"],
    ] as const) {
      const res = await browser.post(`/dashboard/keys/${key.id}/edit`, fields);
      expect(res.status).toBe(400);
      const html = await res.text();
      expect(alertText(html)).toContain(reason);
      if (fields.label !== "") expect(html).toContain('value="Typed label"');
    }
    expect((await (await operator("GET", `/keys/${secret.id}`)).json()) as object).toMatchObject({ label: "test key", scopes: ["events:write"] });
    expect((await (await operator("GET", `/keys/${publicKey.id}`)).json()) as object).toMatchObject({ label: "test key", allowed_origins: null });
  });

  it("a revoked key cannot be edited (409) and shows no edit form", async () => {
    const key = await mintKey(project, { type: "public" });
    await operator("DELETE", `/keys/${key.id}`);
    expect(await (await browser.get(`/dashboard/keys/${key.id}`)).text()).not.toContain("/edit");
    const res = await browser.post(`/dashboard/keys/${key.id}/edit`, { label: "too late" });
    expect(res.status).toBe(409);
    expect(alertText(await res.text())).toContain("revoked");
  });
});

describe("oversized forms", () => {
  it("a form over 16 KiB is 413 before it is read, on sign-in too", async () => {
    const before = await keyCount();
    const huge = await browser.post("/dashboard/keys", { ...valid, label: "x".repeat(20_000) });
    expect(huge.status).toBe(413);
    expect(alertText(await huge.text())).toContain("at most 16 KiB");
    expect(await keyCount()).toBe(before);
    expect((await new DashboardBrowser().post("/dashboard/login", { api_key: "x".repeat(20_000) })).status).toBe(413);
  });
});

describe("roll and revoke with bad input", () => {
  it("roll: a missing or out-of-range expiry is 400 and rolls nothing; a revoked key is 409", async () => {
    const key = await mintKey(project, { type: "public" });
    for (const expires_in of ["", "-1", "604801", "soon"]) {
      const res = await browser.post(`/dashboard/keys/${key.id}/roll`, { expires_in });
      expect(res.status, expires_in).toBe(400);
      expect(alertText(await res.text())).toContain("expires_in");
    }
    expect((await (await operator("GET", `/keys/${key.id}`)).json()) as object).toMatchObject({ status: "active", rolled_to: null });
    await operator("DELETE", `/keys/${key.id}`);
    const res = await browser.post(`/dashboard/keys/${key.id}/roll`, { expires_in: "0" });
    expect(res.status).toBe(409);
    expect(alertText(await res.text())).toContain("is revoked, so it cannot be rolled");
  });

  it("revoke without ticking the confirmation: 400, the key stays active", async () => {
    const key = await mintKey(project, { type: "public" });
    const res = await browser.post(`/dashboard/keys/${key.id}/revoke`, {});
    expect(res.status).toBe(400);
    expect(alertText(await res.text())).toContain("tick the box");
    expect((await (await operator("GET", `/keys/${key.id}`)).json()) as object).toMatchObject({ status: "active" });
  });
});

describe("newKeyForm (pure)", () => {
  it("takes scopes only for a secret key limited to them, origins only for a public key", () => {
    expect(newKeyForm({ type: "secret", environment: "live", label: "L", access: "full", scopes: ["events:read"], allowed_origins: "https://a.example" }).body).toEqual({
      type: "secret",
      environment: "live",
      label: "L",
    });
    expect(newKeyForm({ type: "secret", environment: "live", label: "L", access: "scoped", scopes: "events:read" }).body).toMatchObject({ scopes: ["events:read"] });
    expect(newKeyForm({ type: "public", environment: "test", label: "L", allowed_origins: " https://a.example,\nhttps://b.example  " }).body).toMatchObject({
      allowed_origins: ["https://a.example", "https://b.example"],
    });
    expect(newKeyForm({ type: "public", environment: "test", label: "L", expires_at: " 2099-01-01 " }).body).toMatchObject({ expires_at: "2099-01-01" });
    expect(newKeyForm({ type: "public", environment: "test", label: "L", expires_at: "" }).body).not.toHaveProperty("expires_at");
  });
});
