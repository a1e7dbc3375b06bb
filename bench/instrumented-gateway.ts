/**
 * Bench-only entry module: the real gateway (src/index.ts), unchanged, with its env wrapped by
 * counting proxies — in the Worker's fetch and inside both Durable Object classes — so that the
 * benchmark can report KV reads and D1 statements per request. Never deployed.
 *
 *   GET  /__bench/counters  → the counters as JSON (per site: worker, KeyLimiter, FailedAuthGuard)
 *   POST /__bench/counters  → reset them (answers the values before the reset)
 *
 * Counters are module state. The Worker and its Durable Objects run in the same isolate in
 * workerd, so one GET sees all three sites; the benchmark checks that the KeyLimiter's alarm
 * flushes (D1 batches) do show up, which proves it.
 */
import app, { FailedAuthGuard as GatewayFailedAuthGuard, KeyLimiter as GatewayKeyLimiter } from "../src/index";
import type { Env } from "../src/config";

const COUNTER_NAMES = [
  "kvGet",
  "kvGetWithMetadata",
  "kvList",
  "kvPut",
  "kvDelete",
  "d1Prepare",
  "d1Batch",
  "d1BatchStatements",
  "d1Exec",
] as const;
type CounterName = (typeof COUNTER_NAMES)[number];
type Counts = Record<CounterName, number>;
type Site = "worker" | "keyLimiter" | "failedAuth";

const zero = (): Counts => Object.fromEntries(COUNTER_NAMES.map((name) => [name, 0])) as Counts;
const counts: Record<Site, Counts> = { worker: zero(), keyLimiter: zero(), failedAuth: zero() };
/**
 * Requests the gateway app handled (the counter route excluded), by status class. A 2xx without
 * a RateLimit header did not go through the KeyLimiter (fail-open path): the benchmark refuses
 * to report such a run.
 */
const requests = { total: 0, ok2xx: 0, other: 0, tooMany429: 0, ok2xxWithoutRateLimit: 0 };
/** Calls that reached a KeyLimiter: admits, reports of requests refused by an isolate's 429 memory, and lease renewals and reports. */
const limiterCalls = { admit: 0, recordRefused: 0, refusedReported: 0, renewLease: 0 };
let since = Date.now();
let isolateId: string | undefined;

function reset(): void {
  for (const site of Object.keys(counts) as Site[]) counts[site] = zero();
  requests.total = requests.ok2xx = requests.other = requests.tooMany429 = requests.ok2xxWithoutRateLimit = 0;
  limiterCalls.admit = limiterCalls.recordRefused = limiterCalls.refusedReported = limiterCalls.renewLease = 0;
  since = Date.now();
}

function snapshot() {
  isolateId ??= crypto.randomUUID();
  return { isolate: isolateId, since: new Date(since).toISOString(), at: new Date().toISOString(), requests: { ...requests }, limiterCalls: { ...limiterCalls }, sites: structuredClone(counts) };
}

const KV_METHODS: Partial<Record<PropertyKey, CounterName>> = {
  get: "kvGet",
  getWithMetadata: "kvGetWithMetadata",
  list: "kvList",
  put: "kvPut",
  delete: "kvDelete",
};
const D1_METHODS: Partial<Record<PropertyKey, CounterName>> = { prepare: "d1Prepare", batch: "d1Batch", exec: "d1Exec" };

/** A proxy whose listed methods bump a counter of `site` (looked up at call time, so reset works). */
function counting<T extends object>(target: T, site: Site, methods: Partial<Record<PropertyKey, CounterName>>): T {
  const wrapped = new Map<PropertyKey, unknown>();
  return new Proxy(target, {
    get(t, prop) {
      const value: unknown = Reflect.get(t, prop, t);
      if (typeof value !== "function") return value;
      let fn = wrapped.get(prop);
      if (fn === undefined) {
        const counter = methods[prop];
        const method = value as (...args: unknown[]) => unknown;
        fn =
          counter === undefined
            ? method.bind(t)
            : (...args: unknown[]) => {
                counts[site][counter]++;
                if (counter === "d1Batch" && Array.isArray(args[0])) counts[site].d1BatchStatements += args[0].length;
                return method.apply(t, args);
              };
        wrapped.set(prop, fn);
      }
      return fn;
    },
  });
}

const wrappedEnvs: Record<Site, WeakMap<object, Env>> = { worker: new WeakMap(), keyLimiter: new WeakMap(), failedAuth: new WeakMap() };

function instrument(env: Env, site: Site): Env {
  let wrapped = wrappedEnvs[site].get(env);
  if (wrapped === undefined) {
    const KEYS = counting(env.KEYS, site, KV_METHODS);
    const DB = counting(env.DB, site, D1_METHODS);
    // A plain copy, made once per isolate: a Proxy here would run a trap on every binding the
    // gateway reads, a cost the pass-through does not pay.
    wrapped = { ...env, KEYS, DB };
    wrappedEnvs[site].set(env, wrapped);
  }
  return wrapped;
}

/**
 * The distance model (BENCH_LIMITER_RTT_MS, a binding the benchmark sets): every admit and lease
 * renewal waits this long before the object decides, as a call to an object in a far location
 * would. Waiting on a timer does not hold the object's input gate, so other calls go on meanwhile.
 */
function limiterRttMs(env: Env): number {
  return Number((env as unknown as { BENCH_LIMITER_RTT_MS?: string }).BENCH_LIMITER_RTT_MS ?? 0) || 0;
}

export class KeyLimiter extends GatewayKeyLimiter {
  private readonly rttMs: number;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, instrument(env, "keyLimiter"));
    this.rttMs = limiterRttMs(env);
  }

  override async admit(request: Parameters<GatewayKeyLimiter["admit"]>[0]): Promise<string> {
    limiterCalls.admit++;
    if (this.rttMs > 0) await scheduler.wait(this.rttMs);
    return super.admit(request);
  }

  override async renewLease(report: Parameters<GatewayKeyLimiter["renewLease"]>[0]): Promise<string> {
    limiterCalls.renewLease++;
    if (this.rttMs > 0) await scheduler.wait(this.rttMs);
    return super.renewLease(report);
  }

  override recordRefused(requests: number, at: number): void {
    limiterCalls.recordRefused++;
    limiterCalls.refusedReported += requests;
    super.recordRefused(requests, at);
  }
}

export class FailedAuthGuard extends GatewayFailedAuthGuard {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, instrument(env, "failedAuth"));
  }
}

const COUNTERS_PATH = "/__bench/counters";

export default {
  async fetch(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
    if (request.url.endsWith(COUNTERS_PATH) && new URL(request.url).pathname === COUNTERS_PATH) {
      if (request.method === "GET") return Response.json(snapshot());
      if (request.method === "POST") {
        const before = snapshot();
        reset();
        return Response.json(before);
      }
      return new Response("GET or POST", { status: 405 });
    }
    const response = await app.fetch(request, instrument(env, "worker"), ctx);
    requests.total++;
    if (response.status >= 200 && response.status < 300) {
      requests.ok2xx++;
      if (!response.headers.has("ratelimit")) requests.ok2xxWithoutRateLimit++;
    } else {
      requests.other++;
      if (response.status === 429) requests.tooMany429++;
    }
    return response;
  },
} satisfies ExportedHandler<Env>;
