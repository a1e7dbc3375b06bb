/**
 * Plans through the Worker (issue 16): the operator puts a project on a plan; new keys get the
 * plan's defaults; existing keys on defaults follow it on their next request — a hot key's leased
 * events within LEASE_MS of a change made elsewhere —, keys with their own limits keep them; a
 * 429 names the plan and where higher limits are; a plan change racing key creation and other
 * plan changes leaves every key on the project's latest plan, in its object and in D1 alike.
 */
import { describe, expect, it } from "vitest";
import { configOf } from "../../src/config";
import { keyLimiter } from "../../src/limiter/client";
import { heldLease, LEASE_THRESHOLD } from "../../src/limiter/leases";
import { PLANS, type PlanName } from "../../src/policy/plans";
import { DashboardBrowser } from "../dashboard/browser";
import { env, expectAgreement, expectProblem, gateway, mintKey, newProject, operator, OPERATOR_TOKEN, sendWith, setLimits, withKey, type MintedKey } from "../helpers";

const LEASE_MS = configOf(env).leaseMs;
const event = (key: string) => gateway("/v1/events", withKey(key, { method: "POST", body: '{"event":"e"}' }));

async function setPlan(projectId: string, body: unknown): Promise<{ plan: string; plan_revision: number; limits: unknown; keys: { total: number; updated: number } }> {
  const res = await operator("PUT", `/projects/${projectId}/plan`, body);
  expect(res.status, await res.clone().text()).toBe(200);
  return res.json();
}

async function keyRecord(keyId: string): Promise<{ plan: string; limits: { rate: number; burst: number; daily: number } }> {
  const res = await operator("GET", `/keys/${keyId}`);
  expect(res.status).toBe(200);
  return res.json();
}

/** The limits the key's next request is answered with (bucket size and daily quota headers). */
async function limitsInForce(key: MintedKey): Promise<{ burst: number; daily: number }> {
  const res = await gateway("/v1/api_keys", withKey(key.key));
  await res.body?.cancel();
  return { burst: Number(res.headers.get("x-ratelimit-limit")), daily: Number(res.headers.get("x-ratelimit-limit-day")) };
}

describe("plans", () => {
  it("a project starts on free (API.md §3's table); its keys' limits are free's", async () => {
    const project = await newProject();
    const res = await operator("GET", `/projects/${project}`);
    expect(await res.json()).toMatchObject({ id: project, plan: "free", limits: PLANS.free, plan_revision: 0 });
    const key = await mintKey(project, { type: "secret" });
    expect(key).toMatchObject({ plan: "free", limits: PLANS.free.secret });
    expect(await limitsInForce(key)).toEqual({ burst: 10_000, daily: 10_000_000 });
  });

  it("set to pro: new keys get pro's defaults, existing keys on defaults follow on their next request, a key's own limits stay", async () => {
    const project = await newProject();
    const onDefaults = await mintKey(project, { type: "secret" });
    const publicKey = await mintKey(project, { type: "public" });
    const ownDaily = await mintKey(project, { type: "secret" });
    await setLimits(ownDaily.id, { daily: 1234 });
    const revoked = await mintKey(project, { type: "secret" });
    expect((await operator("DELETE", `/keys/${revoked.id}`)).status).toBe(200);

    const answer = await setPlan(project, { plan: "pro" });
    expect(answer).toMatchObject({ plan: "pro", limits: PLANS.pro, plan_revision: 1, keys: { total: 3, updated: 3 } });

    expect(await limitsInForce(onDefaults)).toEqual({ burst: PLANS.pro.secret.burst, daily: PLANS.pro.secret.daily });
    expect(await limitsInForce(publicKey)).toEqual({ burst: PLANS.pro.public.burst, daily: PLANS.pro.public.daily });
    expect(await limitsInForce(ownDaily)).toEqual({ burst: PLANS.pro.secret.burst, daily: 1234 });
    expect(await keyRecord(ownDaily.id)).toMatchObject({ plan: "pro", limits: { ...PLANS.pro.secret, daily: 1234 } });
    const created = await mintKey(project, { type: "public" });
    expect(created).toMatchObject({ plan: "pro", limits: PLANS.pro.public });
    for (const key of [onDefaults, publicKey, ownDaily, created]) await expectAgreement(key.id);

    // The management API shows the plan too; the same plan again changes nothing.
    const listed = await gateway(`/v1/api_keys/${onDefaults.id}`, withKey(onDefaults.key));
    expect(await listed.json()).toMatchObject({ plan: "pro", limits: PLANS.pro.secret });
    expect(await setPlan(project, { plan: "pro" })).toMatchObject({ plan_revision: 1, keys: { total: 4, updated: 0 } });
  });

  it("custom: the limits given, the rest as the project had them; back to free: the table again", async () => {
    const project = await newProject();
    const key = await mintKey(project, { type: "secret" });
    const custom = await setPlan(project, { plan: "custom", limits: { secret: { burst: 77 } } });
    expect(custom.limits).toEqual({ public: PLANS.free.public, secret: { ...PLANS.free.secret, burst: 77 } });
    expect(await limitsInForce(key)).toEqual({ burst: 77, daily: PLANS.free.secret.daily });
    await setPlan(project, { plan: "free" });
    expect(await limitsInForce(key)).toEqual({ burst: PLANS.free.secret.burst, daily: PLANS.free.secret.daily });
  });

  it("the dashboard's key page shows the plan with its limits, and which limits are the key's own", async () => {
    const project = await newProject();
    const admin = await mintKey(project, { type: "secret" });
    await setPlan(project, { plan: "pro" });
    const own = await mintKey(project, { type: "public" });
    await setLimits(own.id, { rate: 5 });
    const browser = await DashboardBrowser.signedIn(admin.key);
    // hono/jsx escapes the apostrophe.
    const text = async (path: string) => (await (await browser.get(path)).text()).replaceAll("&#39;", "'");
    const adminPage = await text(`/dashboard/keys/${admin.id}`);
    expect(adminPage).toContain("<strong>pro</strong> — for this key's type: 5,000/s, burst 50,000, 100,000,000 per day (UTC)");
    expect(adminPage).not.toContain("stays when the plan changes");
    const ownPage = await text(`/dashboard/keys/${own.id}`);
    expect(ownPage).toContain("<strong>pro</strong> — for this key's type: 500/s, burst 5,000, 10,000,000 per day (UTC); this key's own rate stays when the plan changes");
    expect(ownPage).toContain("5 per second, burst 5,000, 10,000,000 per day (UTC)"); // the limits in force
  });

  it("bad plan bodies are 400 naming the field; an unknown project is 404", async () => {
    const project = await newProject();
    for (const [body, field] of [
      [{ plan: "gold" }, "plan"],
      [{ plan: "pro", limits: { secret: { rate: 5 } } }, "limits"],
      [{ plan: "custom" }, "limits"],
      [{ plan: "custom", limits: { secret: { rate: 0 } } }, "limits.secret.rate"],
      [{ plan: "custom", limits: { secret: { rate: 2_000_000 } } }, "limits.secret.rate"],
      [{ plan: "custom", limits: { admin: { rate: 5 } } }, "limits"],
    ] as const) {
      const problem = await expectProblem(await operator("PUT", `/projects/${project}/plan`, body), 400, "invalid_request");
      expect(problem.detail, JSON.stringify(body)).toContain(`${field}:`);
    }
    await expectProblem(await operator("PUT", "/projects/proj_nope/plan", { plan: "pro" }), 404, "not_found");
    await expectProblem(await operator("GET", "/projects/proj_nope"), 404, "not_found");
  });

  it("a 429 names the plan and where higher limits are; with the key's own limit it says the plan will not raise it", async () => {
    const project = await newProject();
    await setPlan(project, { plan: "custom", limits: { public: { rate: 1, burst: 1 } } });
    const key = await mintKey(project, { type: "public" });
    expect((await event(key.key)).status).toBe(200);
    const refused = await expectProblem(await event(key.key), 429, "rate_limited", key.key);
    expect(refused.detail).toMatch(/^This key is over its rate limit of 1 request per second \(burst 1\), the limit of the project's custom plan\. /);
    expect(refused.detail).toContain("upgrade the project's plan");
    expect(refused.detail).not.toMatch(/\b1 requests\b/);

    const own = await mintKey(project, { type: "public" });
    await setLimits(own.id, { daily: 1 });
    expect((await event(own.key)).status).toBe(200);
    const daily = await expectProblem(await event(own.key), 429, "daily_quota_exceeded", own.key);
    expect(daily.detail).toMatch(/^This key has used its 1 request for today \(UTC\), a limit set for this key \(the project is on the custom plan\)\. /);
    expect(daily.detail).toContain("stays when the plan changes");
    expect(daily.detail).not.toContain("upgrade the project's plan");
  });

  it("a hot key's leased events take a plan change made elsewhere within LEASE_MS", { timeout: 20_000 }, async () => {
    const project = await newProject();
    const key = await mintKey(project, { type: "secret" });
    const statuses = await Promise.all(Array.from({ length: LEASE_THRESHOLD + 10 }, async () => (await event(key.key)).status));
    expect(statuses.every((status) => status === 200)).toBe(true);
    expect(heldLease(key.id), "a lease after a burst past the threshold").toBeDefined();
    // Another isolate's plan change: straight at the key's object, so this isolate's lease is not dropped.
    const outcome = await keyLimiter(env, key.id).change({ keyId: key.id, op: { kind: "plan", plan: { name: "pro", revision: 1, limits: PLANS.pro.secret } } });
    expect(outcome.ok).toBe(true);
    const changedAt = Date.now();
    let lastOld = changedAt;
    for (;;) {
      const res = await event(key.key);
      expect(res.status).toBe(200);
      await res.body?.cancel();
      if (res.headers.get("x-ratelimit-limit") === String(PLANS.pro.secret.burst)) break;
      expect(res.headers.get("x-ratelimit-limit")).toBe(String(PLANS.free.secret.burst));
      lastOld = Date.now();
      expect(lastOld - changedAt, "still on the old plan past LEASE_MS").toBeLessThanOrEqual(LEASE_MS + 50);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(lastOld - changedAt).toBeLessThanOrEqual(LEASE_MS);
  });

  it("a hot key changed through this isolate takes the plan on its very next event", { timeout: 20_000 }, async () => {
    const project = await newProject();
    const key = await mintKey(project, { type: "public" });
    await Promise.all(Array.from({ length: LEASE_THRESHOLD + 10 }, () => event(key.key).then((res) => res.body?.cancel())));
    expect(heldLease(key.id)).toBeDefined();
    await setPlan(project, { plan: "enterprise" });
    expect(heldLease(key.id)).toBeUndefined();
    const res = await event(key.key);
    expect(res.headers.get("x-ratelimit-limit")).toBe(String(PLANS.enterprise.public.burst));
  });
});

/**
 * The real env, except that the first call of `method` on `binding` (D1's batch, or a KeyLimiter
 * stub's change) waits until released: it holds one request at an exact step so that another can
 * run past it — the interleaving a race needs, every time rather than by luck. The call itself
 * then goes to the real binding.
 */
function envPausingFirst(binding: "DB" | "KEY_LIMITER", method: string): { env: typeof env; reached: Promise<void>; release: () => void } {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let reach!: () => void;
  const reached = new Promise<void>((resolve) => (reach = resolve));
  let first = true;
  // An RPC stub's methods are RPC properties themselves (no .bind or .apply): called as they are.
  const pausing = <T extends object>(target: T, bind: boolean): T =>
    new Proxy(target, {
      get(object, prop) {
        const value = Reflect.get(object, prop, object);
        if (typeof value !== "function") return value;
        if (prop !== method) return bind ? value.bind(object) : value;
        return async (...args: unknown[]) => {
          if (first) {
            first = false;
            reach();
            await gate;
          }
          return Reflect.apply(value, object, args);
        };
      },
    });
  if (binding === "DB") return { env: { ...env, DB: pausing(env.DB, true) }, reached, release };
  const KEY_LIMITER = new Proxy(env.KEY_LIMITER, {
    get(target, prop) {
      if (prop !== "getByName") return Reflect.get(target, prop, target);
      return (name: string) => pausing(target.getByName(name), false);
    },
  });
  return { env: { ...env, KEY_LIMITER }, reached, release };
}

const operatorRequest = (method: string, path: string, body: unknown) =>
  new Request(`https://gateway.test/_operator${path}`, {
    method,
    headers: { authorization: `Bearer ${OPERATOR_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });

describe("plans, races", () => {
  const PLAN_CYCLE: PlanName[] = ["pro", "enterprise", "free"];

  it("a key created on the old plan whose row lands after the plan change listed the keys: caught up before the answer", async () => {
    const project = await newProject();
    // The creation has read the project (free) and waits at its D1 insert ...
    const paused = envPausingFirst("DB", "batch");
    const creating = sendWith(paused.env, operatorRequest("POST", "/keys", { project_id: project, type: "secret", environment: "test", label: "late" }));
    await paused.reached;
    // ... while the plan change runs to its end: the new key is not in D1 for it to list.
    expect(await setPlan(project, { plan: "pro" })).toMatchObject({ plan_revision: 1, keys: { total: 0 } });
    paused.release();
    const res = await creating;
    expect(res.status, await res.clone().text()).toBe(201);
    const created = (await res.json()) as MintedKey & { plan: string; limits: unknown };
    expect(created).toMatchObject({ plan: "pro", limits: PLANS.pro.secret });
    expect((await expectAgreement(created.id)).plan).toEqual({ name: "pro", revision: 1, limits: PLANS.pro.secret });
    expect(await limitsInForce(created)).toEqual({ burst: PLANS.pro.secret.burst, daily: PLANS.pro.secret.daily });
  });

  it("a roll whose replacement lands after the plan change listed the keys: the replacement is caught up too", async () => {
    const project = await newProject();
    const old = await mintKey(project, { type: "public" });
    // The plan change has listed the keys (the old one only) and waits before sending them the plan ...
    const paused = envPausingFirst("KEY_LIMITER", "change");
    const planning = sendWith(paused.env, operatorRequest("PUT", `/projects/${project}/plan`, { plan: "enterprise" }));
    await paused.reached;
    // ... while the old key is rolled on the free plan: the replacement takes the old key's plan.
    const rolledRes = await operator("POST", `/keys/${old.id}/roll`, { expires_in: 60 });
    expect(rolledRes.status, await rolledRes.clone().text()).toBe(201);
    const rolled = (await rolledRes.json()) as MintedKey & { plan: string };
    expect(rolled.plan).toBe("enterprise");
    paused.release();
    expect((await planning).status).toBe(200);
    for (const key of [old, rolled]) {
      expect((await expectAgreement(key.id)).plan).toEqual({ name: "enterprise", revision: 1, limits: PLANS.enterprise.public });
    }
    expect((await limitsInForce(rolled)).burst).toBe(PLANS.enterprise.public.burst);
  });

  it("a plan change racing key creation: every key ends on the project's latest plan, object and D1 agreeing (20 trials)", { timeout: 60_000 }, async () => {
    for (let trial = 0; trial < 20; trial++) {
      const project = await newProject();
      const existing = await mintKey(project, { type: trial % 2 === 0 ? "secret" : "public" });
      const plan = PLAN_CYCLE[trial % PLAN_CYCLE.length]!;
      const [, ...created] = await Promise.all([
        setPlan(project, { plan }),
        ...Array.from({ length: 3 }, (_, i) => mintKey(project, { type: i % 2 === 0 ? "public" : "secret" })),
      ]);
      const current = (await (await operator("GET", `/projects/${project}`)).json()) as { plan: PlanName; plan_revision: number };
      expect(current.plan).toBe(plan);
      for (const key of [existing, ...created]) {
        const state = await expectAgreement(key.id);
        expect(state.plan, `trial ${trial}, ${key.id}`).toEqual({ name: plan, revision: current.plan_revision, limits: PLANS[plan === "custom" ? "free" : plan][key.type] });
        expect((await limitsInForce(key)).burst).toBe(PLANS[plan === "custom" ? "free" : plan][key.type].burst);
      }
    }
  });

  it("two plan changes racing: every key ends on the one D1 holds for the project (10 trials)", { timeout: 60_000 }, async () => {
    for (let trial = 0; trial < 10; trial++) {
      const project = await newProject();
      const keys = await Promise.all(Array.from({ length: 4 }, (_, i) => mintKey(project, { type: i % 2 === 0 ? "public" : "secret" })));
      await Promise.all([setPlan(project, { plan: "pro" }), setPlan(project, { plan: "enterprise" })]);
      const current = (await (await operator("GET", `/projects/${project}`)).json()) as { plan: "pro" | "enterprise"; plan_revision: number };
      expect(current.plan_revision).toBe(2);
      for (const key of keys) {
        const state = await expectAgreement(key.id);
        expect(state.plan).toEqual({ name: current.plan, revision: 2, limits: PLANS[current.plan][key.type] });
      }
    }
  });
});
