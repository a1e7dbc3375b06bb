/** Shared test helpers: requests through the Worker's own fetch, keys minted through the operator API. */
import { createExecutionContext, runInDurableObject, waitOnExecutionContext } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { expect } from "vitest";
import worker from "../src/index";
import { loadKeyState } from "../src/keys/key-records";
import type { KeyState } from "../src/keys/key-state";
import { configOf } from "../src/config";
import { heldKeyState, keyLimiter } from "../src/limiter/client";
import { WRITE_BEHIND_MS, type KeyLimiter } from "../src/limiter/key-limiter";

export const GATEWAY = "https://gateway.test";
export const OPERATOR_TOKEN = "test-operator-token";

export function gateway(path: string, init: RequestInit = {}): Promise<Response> {
  return exports.default.fetch(new Request(GATEWAY + path, init));
}

export function withKey(key: string, init: RequestInit = {}): RequestInit {
  const headers = new Headers(init.headers);
  headers.set("authorization", `Bearer ${key}`);
  return { ...init, headers };
}

export async function operator(method: string, path: string, body?: unknown): Promise<Response> {
  return exports.default.fetch(
    new Request(`${GATEWAY}/_operator${path}`, {
      method,
      headers: { authorization: `Bearer ${OPERATOR_TOKEN}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    }),
  );
}

/** Per-key limit overrides through the operator API. */
export async function setLimits(keyId: string, limits: { rate?: number; burst?: number; daily?: number }): Promise<void> {
  const res = await operator("PUT", `/keys/${keyId}/limits`, limits);
  expect(res.status, await res.clone().text()).toBe(200);
}

export interface MintedKey {
  id: string;
  key: string;
  project_id: string;
  type: "public" | "secret";
  environment: "test" | "live";
  scopes: string[] | null;
  status: string;
}

export async function newProject(name = "Test project"): Promise<string> {
  const res = await operator("POST", "/projects", { name });
  expect(res.status).toBe(201);
  return ((await res.json()) as { id: string }).id;
}

export async function mintKey(
  projectId: string,
  options: { type: "public" | "secret"; environment?: "test" | "live"; scopes?: string[]; expires_at?: string; allowed_origins?: string[] },
): Promise<MintedKey> {
  const res = await operator("POST", "/keys", { project_id: projectId, environment: "test", label: "test key", ...options });
  expect(res.status, await res.clone().text()).toBe(201);
  return (await res.json()) as MintedKey;
}

export interface ProjectWithKeys {
  project: string;
  publicKey: MintedKey;
  secretKey: MintedKey;
}

/** A fresh project with one public test key and one unrestricted secret key. */
export async function projectWithKeys(secretEnvironment: "test" | "live" = "test"): Promise<ProjectWithKeys> {
  const project = await newProject();
  return {
    project,
    publicKey: await mintKey(project, { type: "public" }),
    secretKey: await mintKey(project, { type: "secret", environment: secretEnvironment }),
  };
}

/** The echo of the sample origin (examples/origin). */
export interface OriginEcho {
  received: { method: string; path: string; search: string; query: Record<string, string>; headers: Record<string, string>; body: string; body_bytes: number };
  signature: string;
}

/** Asserts a problem+json answer with this status and code that does not echo `secret`. */
export async function expectProblem(res: Response, status: number, code: string, secret?: string): Promise<Record<string, unknown>> {
  const text = await res.text();
  expect(res.status, text).toBe(status);
  expect(res.headers.get("content-type")).toBe("application/problem+json");
  const body = JSON.parse(text) as Record<string, unknown>;
  expect(body).toMatchObject({ status, code, type: expect.stringContaining(code), title: expect.any(String), detail: expect.any(String) });
  expect(body.request_id).toMatch(/^req_[0-9a-f]{32}$/);
  expect(res.headers.get("x-request-id")).toBe(body.request_id);
  if (secret !== undefined) {
    expect(text).not.toContain(secret);
    for (const [, value] of res.headers) expect(value).not.toContain(secret);
  }
  return body;
}

export { env };

/**
 * Waits until the counts of the traffic sent so far are in the key's object: every token lease
 * that traffic took has ended and been reported (within LEASE_MS and a margin), and the object's
 * write-behind has run. After it, a flush (the object's alarm) puts them in D1 exactly.
 */
export function settleCounts(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, configOf(env).leaseMs + 100 + WRITE_BEHIND_MS * 3));
}

const overloaded = (): Promise<never> => Promise.reject(new Error("Durable Object is overloaded"));

/**
 * The real env, except that every KeyLimiter `admit` made while `failing()` is true fails as an
 * overloaded object would (or as `failure` says, e.g. never answering). Injects the failure;
 * everything else — the object, KV, D1, the origin — stays real.
 */
export function envWithFailingLimiter(failing: () => boolean = () => true, failure: () => Promise<never> = overloaded): typeof env {
  return envWithLimiterMethods((method, original) => (method === "admit" && failing() ? failure : original));
}

/** The env whose every call to a key's object fails (admits, lease renewals, reports), as an unreachable object's would. */
export function envWithUnreachableLimiter(): typeof env {
  return envWithLimiterMethods((method, original) => (typeof original === "function" ? overloaded : original));
}

/** The env whose calls to a key's `admit` reach the object `delayMs` late, as over a slow or congested link. */
export function envWithLateLimiter(delayMs: number): typeof env {
  return envWithLimiterMethods((method, original) =>
    method === "admit" ? async (...args: unknown[]) => (await new Promise((resolve) => setTimeout(resolve, delayMs)), (original as (...a: unknown[]) => unknown)(...args)) : original,
  );
}

/**
 * The env whose lease renewals (not final reports) fail `delayMs` after they were sent, as over a
 * link that holds a call and then drops it; final reports and every other call go through.
 */
export function envWithLostRenewals(delayMs: number): typeof env {
  return envWithLimiterMethods((method, original) => {
    if (method !== "renewLease") return original;
    return async (report: { final: boolean }) => {
      if (report.final) return (original as (r: unknown) => unknown)(report);
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      throw new Error("Network connection lost.");
    };
  });
}

/** The env whose calls to a key's `admit` are decided at once but answered `delayMs` later, as over a slow link back. */
export function envWithLateAnswers(delayMs: number): typeof env {
  return envWithLimiterMethods((method, original) =>
    method === "admit"
      ? async (...args: unknown[]) => {
          const answer = await (original as (...a: unknown[]) => unknown)(...args);
          await new Promise((resolve) => setTimeout(resolve, delayMs));
          return answer;
        }
      : original,
  );
}

/** The env with each KeyLimiter call counted by method name (the calls themselves go through). */
export function envCountingLimiterCalls(): { env: typeof env; calls: Record<string, number> } {
  const calls: Record<string, number> = {};
  const counting = envWithLimiterMethods((method, original) => {
    if (typeof method === "string") calls[method] = (calls[method] ?? 0) + 1;
    return original;
  });
  return { env: counting, calls };
}

/** The env whose KeyLimiter stubs answer each method as `replace` says, given the real one. */
function envWithLimiterMethods(replace: (method: string | symbol, original: unknown) => unknown): typeof env {
  const KEY_LIMITER = new Proxy(env.KEY_LIMITER, {
    get(target, prop) {
      if (prop !== "getByName") return Reflect.get(target, prop, target);
      return (name: string) => {
        const stub = target.getByName(name);
        return new Proxy(stub, {
          get(stubTarget, method) {
            return replace(method, Reflect.get(stubTarget, method, stubTarget));
          },
        });
      };
    },
  });
  return { ...env, KEY_LIMITER };
}

/** One request through the Worker with this env: its response, and its waitUntil work (`done`) still going on. */
export async function answerOf(testEnv: typeof env, request: Request): Promise<{ res: Response; done: Promise<void> }> {
  const ctx = createExecutionContext();
  const res = await worker.fetch(request, testEnv, ctx);
  return { res, done: waitOnExecutionContext(ctx) };
}

/** One request through the Worker with this env, its waitUntil work included. */
export async function sendWith(testEnv: typeof env, request: Request): Promise<Response> {
  const ctx = createExecutionContext();
  const res = await worker.fetch(request, testEnv, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

/**
 * A key's mutable state as its KeyLimiter holds it, and as D1 records it, in one shape (KeyState:
 * status, scopes, allowed origins, expiry, limit overrides, rolled_to, version). The race and
 * property tests compare the two after every trial: they must agree.
 */
export async function limiterState(keyId: string): Promise<KeyState | null> {
  return heldKeyState(env, keyId);
}

export async function recordedState(keyId: string): Promise<KeyState | null> {
  return loadKeyState(env.DB, keyId);
}

/** D1 and the key's object hold the same state for the key. */
export async function expectAgreement(keyId: string): Promise<KeyState> {
  const [held, recorded] = [await limiterState(keyId), await recordedState(keyId)];
  expect(held, `KeyLimiter of ${keyId} vs D1`).toEqual(recorded);
  return recorded!;
}

/** Makes the key's object see a D1 whose batches fail (its reads still work), until `restore()`. */
export async function failObjectBatches(keyId: string): Promise<{ restore: () => Promise<void> }> {
  const stub = keyLimiter(env, keyId);
  await runInDurableObject(stub, (instance: KeyLimiter) => {
    const realEnv = (instance as unknown as { env: typeof env }).env;
    const DB = new Proxy(realEnv.DB, {
      get(target, prop) {
        if (prop === "batch") return () => Promise.reject(new Error("D1_ERROR: injected outage"));
        const value = Reflect.get(target, prop, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    (instance as unknown as { env: typeof env }).env = { ...realEnv, DB };
  });
  return {
    restore: () =>
      runInDurableObject(stub, (instance: KeyLimiter) => {
        (instance as unknown as { env: typeof env }).env = env;
      }),
  };
}
