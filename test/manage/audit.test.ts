/** The audit log: every management action, by whom, on what, when, from where — never a key. */
import { describe, expect, it } from "vitest";
import { hashKey } from "../../src/keys/key-index";
import { expectProblem, gateway, mintKey, newProject, operator, withKey } from "../helpers";

describe("audit log", () => {
  it("records operator and key actions with actor, target, IP and time, and no key or hash", async () => {
    const project = await newProject("Audited");
    const manager = await mintKey(project, { type: "secret" });
    const manage = (method: string, path: string, body?: unknown) =>
      gateway(path, withKey(manager.key, { method, body: body === undefined ? undefined : JSON.stringify(body), headers: { "content-type": "application/json", "cf-connecting-ip": "198.51.100.23" } }));
    const created = (await (await manage("POST", "/v1/api_keys", { type: "secret", environment: "test", label: "Audited", scopes: ["events:read"] })).json()) as { id: string; key: string };
    await manage("PATCH", `/v1/api_keys/${created.id}`, { label: "Renamed" });
    const rolled = (await (await manage("POST", `/v1/api_keys/${created.id}/roll`, { expires_in: 60 })).json()) as { id: string; key: string };
    await manage("DELETE", `/v1/api_keys/${rolled.id}`);
    await operator("PUT", `/keys/${created.id}/limits`, { daily: 10 });
    await manage("PATCH", `/v1/api_keys/${created.id}`, { colour: "red" }); // refused: not audited

    const res = await operator("GET", `/audit?project_id=${project}`);
    const text = await res.text();
    const { data } = JSON.parse(text) as { data: { actor: string; action: string; target_id: string | null; ip: string | null; at: string; details: Record<string, unknown> | null }[] };
    const byKey = (action: string, target: string) => data.find((entry) => entry.action === action && entry.target_id === target);
    expect(byKey("key.create", created.id)).toMatchObject({ actor: manager.id, ip: "198.51.100.23", details: { label: "Audited", scopes: ["events:read"] } });
    expect(byKey("key.update", created.id)).toMatchObject({ actor: manager.id, details: { label: "Renamed" } });
    expect(byKey("key.roll", created.id)).toMatchObject({ actor: manager.id, details: { rolled_to: rolled.id } });
    expect(byKey("key.revoke", rolled.id)).toMatchObject({ actor: manager.id });
    expect(byKey("key.limits", created.id)).toMatchObject({ actor: "operator", details: { limits: { rate: null, burst: null, daily: 10 } } });
    expect(data.find((entry) => entry.action === "project.create")).toMatchObject({ actor: "operator", target_id: null });
    expect(data.filter((entry) => entry.action === "key.update")).toHaveLength(1);
    for (const entry of data) expect(Date.now() - Date.parse(entry.at)).toBeLessThan(60_000);
    // Newest first.
    expect(data.map((entry) => entry.at)).toEqual([...data.map((entry) => entry.at)].sort().reverse());

    for (const key of [created.key, rolled.key, manager.key]) {
      expect(text).not.toContain(key);
      expect(text).not.toContain(await hashKey("test-key-hash-secret", key));
    }
  });

  it("is read through the operator API only", async () => {
    const project = await newProject();
    const key = await mintKey(project, { type: "secret" });
    await expectProblem(await gateway(`/_operator/audit?project_id=${project}`, withKey(key.key)), 401, "invalid_operator_token", key.key);
    await expectProblem(await operator("GET", "/audit"), 400, "invalid_request");
    await expectProblem(await operator("GET", `/audit?project_id=${project}&limit=0`), 400, "invalid_request");
  });
});
