/**
 * Accuracy through the Worker's fetch (API.md §3): admitted ≤ burst + rate × seconds under
 * concurrency, exact daily quotas, and refusals that take nothing.
 */
import { parseList } from "structured-headers";
import { describe, expect, it } from "vitest";
import { expectProblem, gateway, mintKey, newProject, operator, setLimits, withKey } from "../helpers";

async function burstOf(key: string, count: number): Promise<Response[]> {
  return Promise.all(
    Array.from({ length: count }, () => gateway("/v1/events", withKey(key, { method: "POST", body: '{"event":"e"}' }))),
  );
}

async function settle(responses: Response[]): Promise<{ admitted: number; limited: Response[] }> {
  let admitted = 0;
  const limited: Response[] = [];
  for (const res of responses) {
    if (res.status === 200) {
      admitted++;
      await res.body?.cancel();
    } else limited.push(res);
  }
  return { admitted, limited };
}

describe("token bucket under concurrency", () => {
  it("3,000 concurrent requests on a public key (burst 1,000, 100/s) admit 1,000 + rate × elapsed at most; a 1 s pause gives ~100 more", async () => {
    const key = await mintKey(await newProject(), { type: "public" });
    const started = Date.now();
    const first = await settle(await burstOf(key.key, 3000));
    const elapsed = (Date.now() - started) / 1000;
    expect(first.admitted).toBeGreaterThanOrEqual(1000);
    expect(first.admitted).toBeLessThanOrEqual(1000 + Math.ceil(100 * elapsed));
    expect(first.limited).toHaveLength(3000 - first.admitted);
    for (const res of first.limited.slice(0, 20)) {
      const body = await expectProblem(res, 429, "rate_limited", key.key);
      expect(body["violated-policies"]).toEqual(["burst"]);
      expect(Number(res.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
      expect(res.headers.get("x-ratelimit-remaining")).toBe("0");
    }
    await Promise.all(first.limited.slice(20).map((res) => res.body?.cancel()));

    const pauseStarted = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const second = await settle(await burstOf(key.key, 300));
    const sinceFirstEnded = (Date.now() - pauseStarted) / 1000;
    await Promise.all(second.limited.map((res) => res.body?.cancel()));
    expect(second.admitted).toBeGreaterThanOrEqual(100);
    expect(second.admitted).toBeLessThanOrEqual(Math.ceil(100 * (sinceFirstEnded + elapsed)));
  }, 60_000);
});

describe("daily quota", () => {
  it("a quota of 50 admits exactly 50; the 51st is daily_quota_exceeded until the next UTC midnight", async () => {
    const key = await mintKey(await newProject(), { type: "secret" });
    await setLimits(key.id, { daily: 50 });
    const first = await settle(await burstOf(key.key, 60));
    expect(first.admitted).toBe(50);
    const res = (await burstOf(key.key, 1))[0]!;
    const now = Date.now();
    const body = await expectProblem(res, 429, "daily_quota_exceeded", key.key);
    expect(body["violated-policies"]).toEqual(["daily"]);
    const midnight = (Math.floor(now / 86_400_000) + 1) * 86_400;
    const retryAfter = Number(res.headers.get("retry-after"));
    expect(Math.abs(now / 1000 + retryAfter - midnight)).toBeLessThanOrEqual(2);
    expect(res.headers.get("x-ratelimit-reset-day")).toBe(String(midnight));
    expect(res.headers.get("x-ratelimit-remaining-day")).toBe("0");
    expect(parseList(res.headers.get("ratelimit")!)[0]![0]).toBe("daily");
    await Promise.all(first.limited.map((r) => r.body?.cancel()));
  });

  it("when the day's quota refuses with the bucket empty too, RateLimit names the daily policy, not the burst that frees sooner", async () => {
    const key = await mintKey(await newProject(), { type: "secret" });
    await setLimits(key.id, { rate: 1, burst: 3, daily: 3 });
    const first = await settle(await burstOf(key.key, 3));
    expect(first.admitted).toBe(3);
    const res = (await burstOf(key.key, 1))[0]!;
    const body = await expectProblem(res, 429, "daily_quota_exceeded", key.key);
    expect(body["violated-policies"]).toEqual(["daily"]);
    const [name, params] = parseList(res.headers.get("ratelimit")!)[0]!;
    expect(name).toBe("daily");
    expect(Number(params.get("t"))).toBe(Number(res.headers.get("retry-after")));
  });
});

describe("headers on forwarded answers", () => {
  it("every answer to a valid key carries the policy and what is left, counting down", async () => {
    const key = await mintKey(await newProject(), { type: "public" });
    const seen: number[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await gateway("/v1/events", withKey(key.key, { method: "POST", body: "{}" }));
      expect(res.status).toBe(200);
      expect((await res.json()) as object).toHaveProperty("received");
      expect(res.headers.get("ratelimit-policy")).toBe('"burst";q=1000;w=10, "daily";q=1000000;w=86400');
      expect(parseList(res.headers.get("ratelimit")!)[0]![0]).toBe("burst");
      expect(res.headers.get("x-ratelimit-limit")).toBe("1000");
      expect(res.headers.get("x-ratelimit-limit-day")).toBe("1000000");
      seen.push(Number(res.headers.get("x-ratelimit-remaining-day")));
    }
    expect(seen).toEqual([999_999, 999_998, 999_997]);
  });
});

describe("refused requests take nothing", () => {
  it("403, 404 and 413 leave bucket and quota untouched", async () => {
    const key = await mintKey(await newProject(), { type: "secret", scopes: ["events:write"] });
    await setLimits(key.id, { daily: 100 });
    const ok = () => gateway("/v1/events", withKey(key.key, { method: "POST", body: "{}" }));
    expect((await ok()).headers.get("x-ratelimit-remaining-day")).toBe("99");
    const before = Number((await ok()).headers.get("x-ratelimit-remaining"));

    for (let i = 0; i < 10; i++) {
      const forbidden = await gateway("/v1/export", withKey(key.key));
      await expectProblem(forbidden, 403, "insufficient_permissions", key.key);
      // A 403 to a valid key still describes its limits, unchanged.
      expect(forbidden.headers.get("x-ratelimit-remaining-day")).toBe("98");
      await expectProblem(await gateway("/v1/nowhere", withKey(key.key)), 404, "route_not_found");
      const big = await gateway("/v1/batch", withKey(key.key, { method: "POST", body: new Uint8Array(1024 * 1024 + 1) }));
      await expectProblem(big, 413, "payload_too_large");
    }
    const after = await ok();
    expect(after.headers.get("x-ratelimit-remaining-day")).toBe("97");
    expect(Number(after.headers.get("x-ratelimit-remaining"))).toBeGreaterThanOrEqual(before - 1);
  });
});

describe("policy changes reach the next request", () => {
  it("a scope removed is 403 on the next request; a limit lowered applies at once", async () => {
    const key = await mintKey(await newProject(), { type: "secret", scopes: ["events:read", "events:write"] });
    expect((await gateway("/v1/export", withKey(key.key))).status).toBe(200);
    expect((await operator("PATCH", `/keys/${key.id}`, { scopes: ["events:write"] })).status).toBe(200);
    await expectProblem(await gateway("/v1/export", withKey(key.key)), 403, "insufficient_permissions", key.key);

    await setLimits(key.id, { burst: 2, rate: 1 });
    const results = await settle(await burstOf(key.key, 5));
    expect(results.admitted).toBeLessThanOrEqual(3);
    await Promise.all(results.limited.map((r) => r.body?.cancel()));
  });

  it("revoked through the operator API: the next request is 401 revoked_api_key, without rate headers", async () => {
    const key = await mintKey(await newProject(), { type: "public" });
    expect((await gateway("/v1/events", withKey(key.key, { method: "POST" }))).status).toBe(200);
    await operator("DELETE", `/keys/${key.id}`);
    const res = await gateway("/v1/events", withKey(key.key, { method: "POST" }));
    await expectProblem(res, 401, "revoked_api_key", key.key);
    expect(res.headers.get("ratelimit")).toBeNull();
  });
});
