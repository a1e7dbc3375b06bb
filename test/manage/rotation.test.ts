/**
 * The key-rotation story of AUTH-DOCS.md, end to end through the Worker: create a new key →
 * update applications (use both) → verify (usage shows traffic on both) → revoke the old key →
 * the old key is refused on the very next request, the new one works, and the old key's
 * last_used_at stops moving. Then the same with roll, Stripe's shortcut for the first two steps.
 */
import { runDurableObjectAlarm } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { keyLimiter } from "../../src/limiter/client";
import { env, gateway, mintKey, newProject, operator, withKey } from "../helpers";

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function flush(...keyIds: string[]): Promise<void> {
  await pause(300); // the limiter's write-behind
  for (const id of keyIds) await runDurableObjectAlarm(keyLimiter(env, id));
}

describe("key rotation (AUTH-DOCS)", () => {
  it("create new → use both → usage on both → revoke old → old refused, new works, old last_used_at frozen", async () => {
    const project = await newProject("Rotation");
    const manager = await mintKey(project, { type: "secret", environment: "live" });
    const old = await mintKey(project, { type: "public", environment: "live" });
    const manage = (method: string, path: string, body?: unknown) =>
      gateway(path, withKey(manager.key, { method, body: body === undefined ? undefined : JSON.stringify(body), headers: { "content-type": "application/json" } }));
    const send = (key: string) => gateway("/v1/events", withKey(key, { method: "POST", body: '{"event":"page_view"}' }));

    // 1. Create the replacement in the dashboard (the management API).
    const created = await manage("POST", "/v1/api_keys", { type: "public", environment: "live", label: "Web (rotated)" });
    expect(created.status).toBe(201);
    const replacement = (await created.json()) as { id: string; key: string };

    // 2. Deploy: for a while both keys are in use.
    for (let i = 0; i < 3; i++) expect((await send(old.key)).status).toBe(200);
    for (let i = 0; i < 5; i++) expect((await send(replacement.key)).status).toBe(200);
    await flush(old.id, replacement.id);

    // 3. Verify: usage shows traffic on both.
    const usage = (await (await manage("GET", "/v1/usage")).json()) as { data: { key_id: string; requests: number }[] };
    expect(usage.data.find((row) => row.key_id === old.id)?.requests).toBe(3);
    expect(usage.data.find((row) => row.key_id === replacement.id)?.requests).toBe(5);
    const oldUsage = (await (await manage("GET", `/v1/api_keys/${old.id}/usage?days=1`)).json()) as { last_used_at: string };
    expect(oldUsage.last_used_at).not.toBeNull();

    // 4. Revoke the old key.
    expect((await manage("DELETE", `/v1/api_keys/${old.id}`)).status).toBe(200);
    const refused = await send(old.key);
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as { code: string }).code).toBe("revoked_api_key");
    expect((await send(replacement.key)).status).toBe(200);

    // The old key's last use stops moving; the new key's goes on.
    await pause(1100);
    for (let i = 0; i < 3; i++) await send(old.key);
    expect((await send(replacement.key)).status).toBe(200);
    await flush(old.id, replacement.id);
    const keyNow = async (id: string) => (await (await manage("GET", `/v1/api_keys/${id}`)).json()) as { last_used_at: string; status: string };
    const [oldAfter, newAfter] = [await keyNow(old.id), await keyNow(replacement.id)];
    expect(oldAfter.last_used_at).toBe(oldUsage.last_used_at);
    expect(oldAfter.status).toBe("revoked");
    expect(Date.parse(newAfter.last_used_at)).toBeGreaterThan(Date.parse(oldUsage.last_used_at));
    // Refused requests were not counted as usage of the old key.
    const finalOld = (await (await manage("GET", `/v1/api_keys/${old.id}/usage?days=1`)).json()) as { data: { requests: number }[] };
    expect(finalOld.data[0]?.requests).toBe(3);

    // Every step is in the audit log, by key id.
    const audit = (await (await operator("GET", `/audit?project_id=${project}`)).json()) as { data: { actor: string; action: string; target_id: string }[] };
    expect(audit.data).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ actor: manager.id, action: "key.create", target_id: replacement.id }),
        expect.objectContaining({ actor: manager.id, action: "key.revoke", target_id: old.id }),
      ]),
    );
  }, 30_000);

  it("roll: the old key keeps working for expires_in, then only the new one does", async () => {
    const project = await newProject("Roll");
    const manager = await mintKey(project, { type: "secret" });
    const old = await mintKey(project, { type: "secret", scopes: ["events:read"] });
    const rolled = await gateway(`/v1/api_keys/${old.id}/roll`, withKey(manager.key, { method: "POST", body: JSON.stringify({ expires_in: 2 }), headers: { "content-type": "application/json" } }));
    expect(rolled.status).toBe(201);
    const replacement = (await rolled.json()) as { key: string; scopes: string[] };
    expect(replacement.scopes).toEqual(["events:read"]);
    expect((await gateway("/v1/export", withKey(old.key))).status).toBe(200);
    expect((await gateway("/v1/export", withKey(replacement.key))).status).toBe(200);
    await pause(2100);
    expect(((await (await gateway("/v1/export", withKey(old.key))).json()) as { code: string }).code).toBe("expired_api_key");
    expect((await gateway("/v1/export", withKey(replacement.key))).status).toBe(200);
  }, 30_000);

  it("roll: the replacement keeps the key's own expiry; only the old key gets the grace period", async () => {
    const project = await newProject("Roll expiry");
    const manager = await mintKey(project, { type: "secret" });
    const expiresAt = new Date(Date.now() + 30 * 86_400_000).toISOString().replace(/\.\d{3}Z$/, ".000Z");
    const old = await mintKey(project, { type: "secret", expires_at: expiresAt });
    const rolled = await gateway(`/v1/api_keys/${old.id}/roll`, withKey(manager.key, { method: "POST", body: JSON.stringify({ expires_in: 60 }), headers: { "content-type": "application/json" } }));
    expect(rolled.status, await rolled.clone().text()).toBe(201);
    expect(((await rolled.json()) as { expires_at: string | null }).expires_at).toBe(expiresAt);
    const before = (await (await operator("GET", `/keys/${old.id}`)).json()) as { expires_at: string };
    expect(Date.parse(before.expires_at)).toBeLessThanOrEqual(Date.now() + 60_000);
  });
});
