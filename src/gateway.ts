/**
 * The hot path, top to bottom (DESIGN.md): every SDK request passes here.
 *
 *   https → path check → route table → credentials → key format → key index → limiter client → origin
 *
 * Everything that can refuse without I/O runs first, so garbage costs nothing: a path outside
 * the route table or a key with a bad checksum never touches KV, D1 or a Durable Object.
 */
import type { Context } from "hono";
import { configOf, type Env } from "./config";
import type { Admission, AppEnv } from "./context";
import { recordFailedAttempt, refuseIfBlocked } from "./guard/failed-auth";
import { guardSecretKey } from "./http/browser-access";
import { startDeadline, type Deadline } from "./http/deadline";
import { GatewayError } from "./http/problem";
import { redactKeys } from "./http/redact";
import { requireHttps } from "./http/require-https";
import { bodyKeyMember, refuseKeyInBody, takeBodyKey, type BodyKeyMember } from "./keys/body-credential";
import { readApiKey, refuseKeyElsewhere, requireWellFormed } from "./keys/credentials";
import { cachedKey, lookupKey, type KeyFacts } from "./keys/key-index";
import { admitKey, giveBack, rateLimitHeaders, setRateLimitHeaders, type RateSnapshot, type Refused } from "./limiter/client";
import { pathProblem } from "./policy/path-safety";
import { matchRoute, type RouteRule } from "./policy/routes";
import { bodyBytes, bodyToForward, checkDeclaredLength, type ForwardBody } from "./proxy/body-limit";
import { forwardToOrigin, toClientResponse } from "./proxy/forward";

/** A caller whose key has been found; not yet admitted. */
interface Caller {
  url: URL;
  route: RouteRule;
  facts: KeyFacts;
  clientIp: string | null;
  maxBytes: number;
  /** Read already (a route that takes the key in its body), without the key. */
  body?: ForwardBody;
}

export async function handleGatewayRequest(c: Context<AppEnv>): Promise<Response> {
  const request = c.req.raw;
  const caller = await identifyCaller(c);
  if (caller.route.gateway) throw routeNotFound(request.method, caller.url.pathname); // never forwarded
  const body = caller.body ?? (await bodyToForward(request, caller.maxBytes));
  const deadline = startDeadline(configOf(c.env).originTimeoutMs);
  const admission = await admitCaller(c, caller, deadline);

  const requestId = c.get("requestId");
  const identity = { ...caller.facts, scopes: admission.scopes, requestId, timestamp: Math.floor(Date.now() / 1000) };
  let upstream: Response;
  try {
    // A limiter that timed out on a fail-open route used the time up; the origin gets its own.
    const originDeadline = deadline.passed ? startDeadline(deadline.ms) : deadline;
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
  return admitCaller(c, caller, startDeadline(configOf(c.env).originTimeoutMs));
}

/**
 * An admitted request that its endpoint refused after all (a management call's 403 or 404): the
 * key's object takes the admission back, as a refusal takes nothing (API.md §3). The key's
 * limits after that, for the refusal's headers (the admission's own if its object cannot be reached).
 */
export async function giveBackAdmission(c: Context<AppEnv>, facts: KeyFacts, rate: RateSnapshot): Promise<RateSnapshot> {
  return (await giveBack(c.env, facts.keyId, rate.now)) ?? rate;
}

/** https → route table → credentials → key format → key index. Refusals before I/O where possible. */
async function identifyCaller(c: Context<AppEnv>): Promise<Caller> {
  const request = c.req.raw;
  const url = new URL(request.url);
  requireHttps(url);
  requireUnambiguousPath(url.pathname);

  const route = matchRoute(request.method, url.pathname);
  if (route === null) throw routeNotFound(request.method, url.pathname);
  c.set("route", route.path);

  const clientIp = request.headers.get("cf-connecting-ip");

  const maxBytes = configOf(c.env).maxBodyBytes;
  const authorization = request.headers.get("authorization");
  const member = route.bodyKey === undefined ? null : bodyKeyMember(route.bodyKey, authorization);
  const inBody = member === null ? undefined : await bodyKey(request, maxBytes, member);
  const key = readApiKey(authorization, url, inBody?.key ?? null, request.headers);
  refuseKeyElsewhere(key, request.headers, url);
  if (inBody !== undefined) refuseKeyInBody(key, inBody.body.body);
  guardSecretKey(c, key);
  // A key this isolate has looked up before was well-formed then: no format check to repeat.
  const cached = cachedKey(key);
  if (cached === undefined) requireWellFormed(key);
  checkDeclaredLength(request, maxBytes);

  // A blocked address is refused only where a made-up key would cost a D1 query: its valid keys pass.
  const unlessBlocked = () => refuseIfBlocked(c.env, clientIp, Date.now());
  const facts = cached !== undefined ? cached : await lookupKey(c.env, key, (p) => c.executionCtx.waitUntil(p), unlessBlocked);
  if (facts === null) {
    throw await recordFailedAttempt(c.env, clientIp, new GatewayError("invalid_api_key", "This API key does not exist. Check that you copied it whole and that it is for this environment."));
  }
  c.set("keyId", facts.keyId);
  c.set("projectId", facts.projectId);
  return { url, route, facts, clientIp, maxBytes, body: inBody?.body };
}

/** The key in the body and the body without it (outside SDKs' routes only: keys/body-credential.ts). */
async function bodyKey(request: Request, maxBytes: number, member: BodyKeyMember): Promise<{ key: string | null; body: ForwardBody & { body: Uint8Array } }> {
  checkDeclaredLength(request, maxBytes);
  const read = await bodyBytes(request, maxBytes);
  const { key, body } = takeBodyKey(read.body, member);
  return { key, body: { body, rewritten: read.rewritten || key !== null } };
}

async function admitCaller(c: Context<AppEnv>, { route, facts, clientIp }: Caller, deadline: Deadline): Promise<Admission> {
  const waitUntil = (promise: Promise<unknown>) => c.executionCtx.waitUntil(promise);
  const decision = await admitKey(c.env, waitUntil, facts, route, c.req.header("origin") ?? null, deadline);
  if ("unavailable" in decision) {
    throw new GatewayError("limiter_unavailable", "Rate limiting is briefly unavailable for this key. Retry in a second.", {
      headers: { "Retry-After": "1" },
    });
  }
  if (!decision.ok) throw await refusal(c.env, clientIp, decision);
  return { route, facts, scopes: decision.scopes, rate: decision.rate };
}

function routeNotFound(method: string, pathname: string): GatewayError {
  return new GatewayError("route_not_found", `${method} ${redactKeys(pathname)} is not an API route. See the API reference for the routes.`);
}

async function refusal(env: Env, clientIp: string | null, decision: Refused): Promise<GatewayError> {
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

/** A path the origin could read as another than the route table checked is never forwarded (policy/path-safety.ts). */
function requireUnambiguousPath(pathname: string): void {
  const problem = pathProblem(pathname);
  if (problem !== null) {
    throw new GatewayError(
      "invalid_request",
      `The URL path has ${problem}, which the origin could read as another path than the gateway checked. Send the path without it; put such values in the query string, percent-encoded.`,
    );
  }
}
