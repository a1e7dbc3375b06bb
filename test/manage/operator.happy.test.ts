/** Operator API (API.md §6), the paths that work. */
import { describe, expect, it } from "vitest";
import { parseKey } from "../../src/keys/format";
import { gateway, mintKey, newProject, operator, withKey } from "../helpers";

describe("operator API", () => {
  it("health answers without a token", async () => {
    const res = await gateway("/_operator/health");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true });
  });

  it("creates and lists projects", async () => {
    const res = await operator("POST", "/projects", { name: "Acme analytics" });
    expect(res.status).toBe(201);
    const project = (await res.json()) as { id: string; name: string; created_at: string };
    expect(project).toMatchObject({ id: expect.stringMatching(/^proj_[0-9A-Za-z]{20}$/), name: "Acme analytics" });
    expect(Date.parse(project.created_at)).not.toBeNaN();
    const list = (await (await operator("GET", "/projects")).json()) as { data: { id: string }[] };
    expect(list.data.map((p) => p.id)).toContain(project.id);
  });

  it("mints a project's first secret key, shown once, and it works at once", async () => {
    const project = await newProject();
    const res = await operator("POST", "/keys", {
      project_id: project,
      type: "secret",
      environment: "live",
      label: "Backend",
      scopes: ["events:read", "events:write", "events:read"],
    });
    expect(res.status).toBe(201);
    expect(res.headers.get("cache-control")).toBe("no-store");
    const created = (await res.json()) as Record<string, unknown> & { key: string };
    expect(parseKey(created.key)).toEqual({ ok: true, type: "secret", environment: "live" });
    expect(created).toMatchObject({
      id: expect.stringMatching(/^key_/),
      project_id: project,
      type: "secret",
      environment: "live",
      label: "Backend",
      scopes: ["events:read", "events:write"],
      prefix: "sk_live_",
      last4: created.key.slice(-4),
      display: `sk_live_…${created.key.slice(-4)}`,
      status: "active",
      expires_at: null,
      allowed_origins: null,
    });
    expect((await gateway("/v1/events", withKey(created.key))).status).toBe(200);
  });

  it("lists and gets keys without plaintext or hash", async () => {
    const project = await newProject();
    const a = await mintKey(project, { type: "public", allowed_origins: ["https://app.example.com"] });
    const b = await mintKey(project, { type: "secret", expires_at: new Date(Date.now() + 86_400_000).toISOString() });
    const listRes = await operator("GET", `/keys?project_id=${project}`);
    const text = await listRes.clone().text();
    const list = (await listRes.json()) as { data: Record<string, unknown>[] };
    expect(list.data.map((k) => k.id)).toEqual([a.id, b.id]);
    expect(list.data[0]).toMatchObject({ allowed_origins: ["https://app.example.com"], scopes: null });
    expect(list.data[1]?.expires_at).toEqual(expect.any(String));
    for (const secret of [a.key, b.key]) expect(text).not.toContain(secret);
    expect(text).not.toContain("key_hash");
    const one = (await (await operator("GET", `/keys/${a.id}`)).json()) as Record<string, unknown>;
    expect(one).toEqual(list.data[0]);
    expect(one.key).toBeUndefined();
  });

  it("revokes a key: the next request is refused, and revoking again changes nothing", async () => {
    const project = await newProject();
    const key = await mintKey(project, { type: "public" });
    expect((await gateway("/v1/events", withKey(key.key, { method: "POST" }))).status).toBe(200);
    const first = (await (await operator("DELETE", `/keys/${key.id}`)).json()) as { status: string; revoked_at: string };
    expect(first.status).toBe("revoked");
    expect((await gateway("/v1/events", withKey(key.key, { method: "POST" }))).status).toBe(401);
    const again = (await (await operator("DELETE", `/keys/${key.id}`)).json()) as { status: string; revoked_at: string };
    expect(again).toEqual(first);
    const listed = (await (await operator("GET", `/keys/${key.id}`)).json()) as { status: string };
    expect(listed.status).toBe("revoked");
  });
});
