/**
 * The key's object as the one writer of its state (issue 12), when things go wrong: D1 failing
 * in the middle of a change, D1 holding a version the object never stored (a crash between the
 * two writes), an evicted object. Requests go through the Worker's own fetch; only D1 as the
 * object sees it is swapped for one that fails, everything else is real.
 */
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { keyLimiter } from "../../src/limiter/client";
import type { KeyLimiter } from "../../src/limiter/key-limiter";
import { env, expectAgreement, expectProblem, failObjectBatches, gateway, limiterState, mintKey, newProject, operator, recordedState, withKey } from "../helpers";

async function auditActions(projectId: string, keyId: string): Promise<string[]> {
  const { results } = await env.DB.prepare("SELECT action FROM audit_log WHERE project_id = ?1 AND target_id = ?2 ORDER BY at, id")
    .bind(projectId, keyId)
    .all<{ action: string }>();
  return results.map((row) => row.action);
}

const patch = (id: string, body: unknown) => operator("PATCH", `/keys/${id}`, body);
const send = (key: string) => gateway("/v1/events", withKey(key, { method: "POST", body: '{"event":"e"}' }));

describe("one writer: failures between the object and D1", () => {
  it("D1 failing during an update: 503 storage_unavailable, nothing changes anywhere, no audit row", async () => {
    const project = await newProject();
    const key = await mintKey(project, { type: "secret" });
    await expectAgreement(key.id);
    const before = await recordedState(key.id);
    const outage = await failObjectBatches(key.id);
    const res = await patch(key.id, { label: "never", scopes: ["events:read"] });
    await outage.restore();
    const body = await expectProblem(res, 503, "storage_unavailable", key.key);
    expect(body.detail).toMatch(/Nothing was changed/);
    expect(res.headers.get("retry-after")).toBe("2");
    expect(await recordedState(key.id)).toEqual(before);
    expect(await limiterState(key.id)).toEqual(before);
    expect(await auditActions(project, key.id)).toEqual(["key.create"]);
    // Retrying once D1 is back does it, once.
    expect((await patch(key.id, { label: "now", scopes: ["events:read"] })).status).toBe(200);
    expect(await expectAgreement(key.id)).toMatchObject({ label: "now", scopes: ["events:read"], version: 2 });
    expect(await auditActions(project, key.id)).toEqual(["key.create", "key.update"]);
  });

  it("D1 failing during a revoke: the key is refused at once all the same, and D1 learns it from the alarm", async () => {
    const project = await newProject();
    const key = await mintKey(project, { type: "public" });
    expect((await send(key.key)).status).toBe(200);
    const outage = await failObjectBatches(key.id);
    const res = await operator("DELETE", `/keys/${key.id}`);
    const body = await expectProblem(res, 503, "storage_unavailable", key.key);
    expect(body.detail).toMatch(/revoked and refused from its next request/);
    await expectProblem(await send(key.key), 401, "revoked_api_key", key.key);
    expect((await recordedState(key.id))?.status).toBe("active"); // not yet recorded
    expect((await limiterState(key.id))?.status).toBe("revoked");
    // Still failing: the alarm keeps it owed, and the key stays refused.
    await runDurableObjectAlarm(keyLimiter(env, key.id));
    expect((await recordedState(key.id))?.status).toBe("active");
    await expectProblem(await send(key.key), 401, "revoked_api_key", key.key);
    await outage.restore();
    expect(await runDurableObjectAlarm(keyLimiter(env, key.id))).toBe(true);
    expect(await expectAgreement(key.id)).toMatchObject({ status: "revoked", version: 2 });
    expect(await auditActions(project, key.id)).toEqual(["key.create", "key.revoke"]);
  });

  it("a second revoke repairs what the first could not record, with the first's audit entry, once", async () => {
    const project = await newProject();
    const key = await mintKey(project, { type: "public" });
    await expectAgreement(key.id);
    const outage = await failObjectBatches(key.id);
    expect((await operator("DELETE", `/keys/${key.id}`)).status).toBe(503);
    await outage.restore();
    const again = await operator("DELETE", `/keys/${key.id}`);
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({ status: "revoked" });
    expect(await expectAgreement(key.id)).toMatchObject({ status: "revoked", version: 2 });
    expect((await operator("DELETE", `/keys/${key.id}`)).status).toBe(200); // idempotent
    expect(await auditActions(project, key.id)).toEqual(["key.create", "key.revoke"]);
    await expectProblem(await send(key.key), 401, "revoked_api_key", key.key);
  });

  it("D1 ahead of the object (recorded, then lost before the object stored it): the next change takes it up", async () => {
    const project = await newProject();
    const key = await mintKey(project, { type: "secret" });
    await expectAgreement(key.id);
    // What a crash right after the D1 batch of a label change would leave: D1 at version 2, the object at 1.
    await env.DB.prepare("UPDATE api_keys SET label = 'recorded-then-lost', version = 2 WHERE id = ?1").bind(key.id).run();
    expect((await limiterState(key.id))?.version).toBe(1);
    const res = await patch(key.id, { scopes: ["users:read"] });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ label: "recorded-then-lost", scopes: ["users:read"] });
    expect(await expectAgreement(key.id)).toMatchObject({ label: "recorded-then-lost", scopes: ["users:read"], version: 3 });
  });

  it("a revoke over a D1 that is ahead still revokes, and D1 and the object agree", async () => {
    const project = await newProject();
    const key = await mintKey(project, { type: "public" });
    await expectAgreement(key.id);
    await env.DB.prepare("UPDATE api_keys SET label = 'ahead', version = 5 WHERE id = ?1").bind(key.id).run();
    expect((await operator("DELETE", `/keys/${key.id}`)).status).toBe(200);
    expect(await expectAgreement(key.id)).toMatchObject({ status: "revoked", label: "ahead", version: 6 });
    await expectProblem(await send(key.key), 401, "revoked_api_key", key.key);
  });

  it("an evicted object keeps what it acknowledged, without asking D1 again", async () => {
    const project = await newProject();
    const key = await mintKey(project, { type: "secret" });
    expect((await operator("PUT", `/keys/${key.id}/limits`, { rate: 7 })).status).toBe(200);
    const acknowledged = await expectAgreement(key.id);
    await evictDurableObject(keyLimiter(env, key.id));
    expect(await limiterState(key.id)).toEqual(acknowledged);
    // Another writer of D1 would go unseen: the object does not read D1 once it holds a state.
    await env.DB.prepare("UPDATE api_keys SET rate_limit = 99 WHERE id = ?1").bind(key.id).run();
    const res = await gateway("/v1/api_keys", withKey(key.key));
    expect(res.status).toBe(200);
    expect(res.headers.get("ratelimit-policy")).toContain(`w=${Math.ceil(10_000 / 7)}`);
  });

  it("a key whose object holds no state reads it from D1 once, revoked included", async () => {
    const project = await newProject();
    const key = await mintKey(project, { type: "public" });
    await env.DB.prepare("UPDATE api_keys SET status = 'revoked', revoked_at = ?2, version = 2 WHERE id = ?1").bind(key.id, new Date().toISOString()).run();
    await runInDurableObject(keyLimiter(env, key.id), async (_instance, state) => {
      state.storage.kv.delete("state");
    });
    await evictDurableObject(keyLimiter(env, key.id));
    await expectProblem(await send(key.key), 401, "revoked_api_key", key.key);
    expect(await expectAgreement(key.id)).toMatchObject({ status: "revoked", version: 2 });
  });
});
