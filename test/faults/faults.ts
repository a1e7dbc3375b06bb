/**
 * What the fault-injection suites share: a key's daily count as D1 holds it once flushed, and the
 * seams where a fault is put into the real runtime — a binding of the Worker's env (ORIGIN, KEYS,
 * the KeyLimiter stubs; helpers.ts), the D1 binding a key's KeyLimiter object flushes to, and the
 * object itself throwing. Everything else stays real: the gateway, KV, D1, the objects.
 */
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { expect } from "vitest";
import type { Env as GatewayEnv } from "../../src/config";
import { utcDay } from "../../src/limiter/bucket";
import { keyLimiter } from "../../src/limiter/client";
import type { KeyLimiter } from "../../src/limiter/key-limiter";
import { env, settleCounts } from "../helpers";

export interface DayRow {
  requests: number;
  rejected: number;
}

/** Today's row of `usage_daily` for the key (null: none). */
export function usageRow(keyId: string): Promise<DayRow | null> {
  return env.DB.prepare("SELECT requests, rejected FROM usage_daily WHERE key_id = ?1 AND day = ?2")
    .bind(keyId, utcDay(Date.now()))
    .first<DayRow>();
}

/** Lets the traffic so far reach the key's object, runs its flush (the alarm) and answers D1's row. */
export async function flushedRow(keyId: string): Promise<DayRow | null> {
  await settleCounts();
  await runDurableObjectAlarm(keyLimiter(env, keyId));
  return usageRow(keyId);
}

/** D1, once flushed, counts exactly `requests` admitted (and `rejected` refused) requests of the key today. */
export async function expectCounted(keyId: string, requests: number, rejected = 0): Promise<void> {
  expect(await flushedRow(keyId), `usage_daily of ${keyId}`).toEqual({ requests, rejected });
}

/** A Fetcher (service binding) whose fetch is `fetch`: a fault injected at the ORIGIN binding. */
export function fetcher(fetch: (input: RequestInfo | URL, init?: RequestInit) => Promise<Response>): Fetcher {
  return { fetch, connect: () => { throw new Error("not a socket origin"); } } as unknown as Fetcher;
}

/** A D1 binding that fails `batch` while `failing()` says so, with the error D1 gives when it cannot be reached. */
export function failingBatches(db: D1Database, failing: () => boolean, after: "before" | "after-commit" = "before"): D1Database {
  return new Proxy(db, {
    get(target, prop) {
      if (prop !== "batch") return Reflect.get(target, prop, target);
      return async (statements: D1PreparedStatement[]) => {
        if (!failing()) return target.batch(statements);
        // "after-commit": the batch lands, and only its answer is lost on the way back.
        if (after === "after-commit") await target.batch(statements);
        throw new Error("D1_ERROR: Network connection lost.");
      };
    },
  });
}

/**
 * Runs the key's object with `DB` as its D1 binding until the returned function is called: its
 * own alarms (runDurableObjectAlarm) then flush to that binding. The object's env is the one
 * seam the runtime offers into a live object; the test's object runs in the test's isolate.
 */
export async function objectUsesDb(keyId: string, wrap: (db: D1Database) => D1Database): Promise<() => Promise<void>> {
  const stub = keyLimiter(env, keyId);
  let real: GatewayEnv | undefined;
  await runInDurableObject(stub, (instance: KeyLimiter) => {
    const holder = instance as unknown as { env: GatewayEnv };
    real = holder.env;
    holder.env = { ...real, DB: wrap(real.DB) };
  });
  return () =>
    runInDurableObject(stub, (instance: KeyLimiter) => {
      (instance as unknown as { env: GatewayEnv }).env = real!;
    });
}

/**
 * Makes the key's object throw from every call that counts (admit, lease renewal, recordUnmetered,
 * recordRefused) until the returned function is called: an exception inside the object, which its
 * callers receive across the real RPC boundary. (RPC only dispatches to the class's own methods,
 * so the fault is put in the one private step they all share: reading the day's running count.)
 */
export async function objectThrows(keyId: string): Promise<() => Promise<void>> {
  const stub = keyLimiter(env, keyId);
  await runInDurableObject(stub, (instance: KeyLimiter) => {
    (instance as unknown as { dayCount: () => never }).dayCount = () => {
      throw new Error("KeyLimiter fault injected by the test");
    };
  });
  return () =>
    runInDurableObject(stub, (instance: KeyLimiter) => {
      delete (instance as unknown as { dayCount?: unknown }).dayCount;
    });
}

/** The error a Durable Object's caller gets when the object is overloaded (its `overloaded` flag set). */
export function overloadedError(): Error {
  return Object.assign(new Error("Durable Object is overloaded. Too many requests queued."), { overloaded: true, retryable: false });
}

/** The rate-limit headers of API.md §3 for a key with this burst. */
export function expectRateHeaders(res: Response, burst: number): void {
  expect(res.headers.get("x-ratelimit-limit")).toBe(String(burst));
  expect(res.headers.get("x-ratelimit-remaining")).toMatch(/^\d+$/);
  expect(res.headers.get("x-ratelimit-reset")).toMatch(/^\d+$/);
  expect(res.headers.get("ratelimit-policy")).toContain(`"burst";q=${burst}`);
  expect(res.headers.get("ratelimit")).toMatch(/^"(burst|daily)";r=\d+;t=\d+$/);
}
