/**
 * The hot path, top to bottom (DESIGN.md): every SDK request passes here.
 *
 *   https → route table → credentials → key format → key index → KeyLimiter (one RPC) → origin
 *
 * Everything that can refuse without I/O runs first, so garbage costs nothing: a path outside
 * the route table or a key with a bad checksum never touches KV, D1 or a Durable Object.
 */
import type { Context } from "hono";
import type { AppEnv, Env } from "./env";
import { startDeadline, TIMED_OUT, within, type Deadline } from "./http/deadline";
import { GatewayError } from "./http/problem";
import { isLoopback } from "./http/loopback";
import { redactKeys } from "./http/redact";
import { readApiKey, refuseKeyElsewhere } from "./keys/credentials";
import { parseKey } from "./keys/format";
import { cachedKey, lookupKey, type KeyFacts } from "./keys/key-index";
import { recordFailedAttempt, refuseIfBlocked } from "./limiter/failed-auth";
import { rateLimitHeaders, setRateLimitHeaders, type RateSnapshot } from "./limiter/headers";
import { keyLimiter, readDecision, type AdmitDecision } from "./limiter/key-limiter";
import {
  admittedAfterRefusal,
  claimReport,
  isLimitRefusal,
  recallRefusal,
  refusalSlot,
  rememberedUntil,
  rememberRefusal,
  reportDone,
  returnRefused,
  settleRefusal,
  takeRefused,
} from "./limiter/refusal-memory";
import { matchRoute, type RouteRule } from "./policy/routes";
import { PUBLIC_KEY_SCOPES } from "./policy/authorize";
import { bodyToForward, checkDeclaredLength, maxBodyBytes } from "./proxy/body-limit";
import { forwardToOrigin, toClientResponse } from "./proxy/forward";

/** After a refusal memory ends, how long the next admit has to carry its count before a report does. */
const REPORT_GRACE_MS = 100;

/** A caller whose key has been found; not yet admitted. */
interface Caller {
  url: URL;
  route: RouteRule;
  facts: KeyFacts;
  clientIp: string | null;
  maxBytes: number;
}

/** The request may go on: who it is, what the key may do, and its limits for the headers. */
export interface Admission {
  route: RouteRule;
  facts: KeyFacts;
  scopes: readonly string[];
  rate: RateSnapshot | null;
}

export async function handleGatewayRequest(c: Context<AppEnv>): Promise<Response> {
  const request = c.req.raw;
  const caller = await identifyCaller(c);
  if (caller.route.gateway) throw routeNotFound(request.method, caller.url.pathname); // never forwarded
  const body = await bodyToForward(request, caller.maxBytes);
  const deadline = startDeadline(c.env.ORIGIN_TIMEOUT_MS);
  const admission = await admitCaller(c, caller, deadline);

  const requestId = c.get("requestId");
  const identity = { ...caller.facts, scopes: admission.scopes, requestId, timestamp: Math.floor(Date.now() / 1000) };
  let upstream: Response;
  try {
    // A limiter that timed out on a fail-open route used the time up; the origin gets its own.
    const originDeadline = deadline.passed ? startDeadline(c.env.ORIGIN_TIMEOUT_MS) : deadline;
    upstream = await forwardToOrigin(request, caller.url, identity, c.env, body, originDeadline);
  } catch (error) {
    throw error instanceof GatewayError && admission.rate !== null ? withRateHeaders(error, admission.rate) : error;
  }
  const response = toClientResponse(upstream);
  response.headers.set("x-request-id", requestId);
  if (admission.rate !== null) setRateLimitHeaders(response.headers, admission.rate);
  return response;
}

/** Everything up to and including the one Durable Object call: for the gateway's own API too. */
export async function admitRequest(c: Context<AppEnv>): Promise<Admission> {
  const caller = await identifyCaller(c);
  return admitCaller(c, caller, startDeadline(c.env.ORIGIN_TIMEOUT_MS));
}

/** https → route table → credentials → key format → key index. Refusals before I/O where possible. */
async function identifyCaller(c: Context<AppEnv>): Promise<Caller> {
  const request = c.req.raw;
  const url = new URL(request.url);
  requireHttps(url);

  const route = matchRoute(request.method, url.pathname);
  if (route === null) throw routeNotFound(request.method, url.pathname);
  c.set("route", route.path);

  const clientIp = request.headers.get("cf-connecting-ip");
  refuseIfBlocked(clientIp, Date.now());

  const key = readApiKey(request.headers.get("authorization"), url);
  refuseKeyElsewhere(key, request.headers, url);
  // A key this isolate has looked up before was well-formed then: no format check to repeat.
  const cached = cachedKey(key);
  if (cached === undefined) {
    const format = parseKey(key);
    if (!format.ok) {
      throw new GatewayError("malformed_api_key", `This is not a Composite API key (bad ${format.reason}). Copy the key again from the dashboard.`);
    }
  }
  const maxBytes = maxBodyBytes(c.env.MAX_BODY_BYTES);
  checkDeclaredLength(request, maxBytes);

  const facts = cached !== undefined ? cached : await lookupKey(c.env, key, (p) => c.executionCtx.waitUntil(p));
  if (facts === null) {
    throw await recordFailedAttempt(c.env, clientIp, new GatewayError("invalid_api_key", "This API key does not exist. Check that you copied it whole and that it is for this environment."));
  }
  c.set("keyId", facts.keyId);
  c.set("projectId", facts.projectId);
  return { url, route, facts, clientIp, maxBytes };
}

async function admitCaller(c: Context<AppEnv>, { route, facts, clientIp }: Caller, deadline: Deadline): Promise<Admission> {
  const decision = await admit(c, facts, route, c.req.header("origin") ?? null, deadline);
  if (!decision.ok) throw await refusal(c.env, clientIp, decision);
  return { route, facts, scopes: decision.scopes, rate: decision.rate };
}

function routeNotFound(method: string, pathname: string): GatewayError {
  return new GatewayError("route_not_found", `${method} ${redactKeys(pathname)} is not an API route. See the API reference for the routes.`);
}

type Admitted = { ok: true; scopes: readonly string[]; rate: RateSnapshot | null };

/**
 * The one Durable Object round trip — skipped while this isolate remembers the key's 429 and the
 * object would repeat it (refusal-memory.ts). When the key's limiter cannot be reached, routes of
 * a fail-open class (LIMITER_FAIL_OPEN, event ingestion by default) go through and are counted
 * once the limiter is back; all others answer 503.
 */
async function admit(
  c: Context<AppEnv>,
  facts: KeyFacts,
  route: RouteRule,
  origin: string | null,
  deadline: Deadline,
): Promise<Admitted | Extract<AdmitDecision, { ok: false }>> {
  const slot = refusalSlot(facts.keyId, route.permission, origin);
  const repeated = recallRefusal(slot, facts.keyId, Date.now());
  if (repeated !== undefined) {
    if (claimReport(facts.keyId)) c.executionCtx.waitUntil(reportRefusedLater(c.env, facts.keyId, rememberedUntil(slot) ?? Date.now()));
    return repeated;
  }
  const refusedMeanwhile = takeRefused(facts.keyId);
  try {
    const answer = await within(deadline, askLimiter(c.env, facts.keyId, route, origin, refusedMeanwhile));
    if (answer !== TIMED_OUT) {
      const decision = readDecision(answer);
      if (isLimitRefusal(decision)) rememberRefusal(slot, decision);
      else if (decision.ok) admittedAfterRefusal(slot, decision.rate);
      else settleRefusal(slot);
      return decision;
    }
  } catch {
    // Unreachable or overloaded: the failure policy below, as for one that did not answer in time.
  }
  settleRefusal(slot);
  returnRefused(facts.keyId, refusedMeanwhile);
  if (!failsOpen(c.env, route)) {
    throw new GatewayError("limiter_unavailable", "Rate limiting is briefly unavailable for this key. Retry in a second.", {
      headers: { "Retry-After": "1" },
    });
  }
  c.executionCtx.waitUntil(countLater(c.env, facts.keyId, Date.now()));
  // What the key may do is unknown without its limiter: the origin is told no more than the route needed.
  const scopes = facts.type === "public" ? PUBLIC_KEY_SCOPES : [route.permission];
  return { ok: true, scopes, rate: null };
}

/** The KeyLimiter's answer, to be read with readDecision. */
function askLimiter(env: Env, keyId: string, route: RouteRule, origin: string | null, refusedMeanwhile: number): Promise<string> {
  return keyLimiter(env, keyId).admit({
    keyId,
    need: { permission: route.permission, publicKey: route.publicKey, action: route.action },
    origin,
    refusedMeanwhile,
  });
}

/**
 * Requests refused by this isolate's memory reach the key's count with its next admit; if none
 * comes once the memory is over, this reports them.
 */
async function reportRefusedLater(env: Env, keyId: string, until: number): Promise<void> {
  try {
    await scheduler.wait(Math.max(0, until - Date.now()) + REPORT_GRACE_MS);
    const count = takeRefused(keyId);
    if (count === 0) return;
    try {
      await keyLimiter(env, keyId).recordRefused(count, Date.now());
    } catch {
      returnRefused(keyId, count); // the key's next admit takes them
    }
  } finally {
    reportDone(keyId);
  }
}

function failsOpen(env: Env, route: RouteRule): boolean {
  return (env.LIMITER_FAIL_OPEN ?? "ingest").split(",").some((name) => name.trim() === route.class);
}

/** Best effort: one retry a second later, so the daily count includes the unmetered request. */
async function countLater(env: Env, keyId: string, at: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 1000));
  try {
    await keyLimiter(env, keyId).recordUnmetered(1, at);
  } catch {
    console.error(JSON.stringify({ level: "error", msg: "unmetered request not counted", key_id: keyId }));
  }
}

async function refusal(env: Env, clientIp: string | null, decision: Extract<AdmitDecision, { ok: false }>): Promise<GatewayError> {
  const headers: Record<string, string> = {};
  if (decision.rate !== undefined) for (const [name, value] of rateLimitHeaders(decision.rate)) headers[name] = value;
  if (decision.retryAfter !== undefined) headers["Retry-After"] = String(decision.retryAfter);
  const members = decision.violated === undefined ? undefined : { "violated-policies": [decision.violated] };
  const error = new GatewayError(decision.code, decision.detail, { headers, members });
  const failedAuth = decision.code === "revoked_api_key" || decision.code === "expired_api_key" || decision.code === "invalid_api_key";
  return failedAuth ? recordFailedAttempt(env, clientIp, error) : error;
}

function withRateHeaders(error: GatewayError, rate: RateSnapshot): GatewayError {
  const headers = { ...error.extra.headers, ...Object.fromEntries(rateLimitHeaders(rate)) };
  return new GatewayError(error.code, error.detail, { ...error.extra, headers });
}

/** Keys must not cross the network in the clear; local development is the one exception. */
export function requireHttps(url: URL): void {
  if (url.protocol === "http:" && !isLoopback(url.hostname)) {
    throw new GatewayError("https_required", `Use https://${url.host}${redactKeys(url.pathname)}: API keys must not be sent over plain HTTP.`);
  }
}
