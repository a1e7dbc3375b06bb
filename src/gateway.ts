/**
 * The hot path, top to bottom (DESIGN.md): every SDK request passes here.
 *
 *   https → route table → credentials → key format → key index → KeyLimiter (one RPC) → origin
 *
 * Everything that can refuse without I/O runs first, so garbage costs nothing: a path outside
 * the route table or a key with a bad checksum never touches KV, D1 or a Durable Object.
 */
import type { Context } from "hono";
import type { AppEnv } from "./env";
import { GatewayError } from "./http/problem";
import { readApiKey } from "./keys/credentials";
import { parseKey } from "./keys/format";
import { lookupKey } from "./keys/key-index";
import { keyLimiter } from "./limiter/key-limiter";
import { matchRoute } from "./policy/routes";
import { bodyToForward, checkDeclaredLength, maxBodyBytes } from "./proxy/body-limit";
import { forwardToOrigin } from "./proxy/forward";

const LOCAL_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]"]);

export async function handleGatewayRequest(c: Context<AppEnv>): Promise<Response> {
  const request = c.req.raw;
  const url = new URL(request.url);
  requireHttps(url);

  const route = matchRoute(request.method, url.pathname);
  if (route === null) {
    throw new GatewayError("route_not_found", `${request.method} ${url.pathname} is not an API route. See the API reference for the routes.`);
  }
  c.set("route", route.path);

  const key = readApiKey(request.headers.get("authorization"), url);
  const format = parseKey(key);
  if (!format.ok) {
    throw new GatewayError("malformed_api_key", `This is not a Composite API key (bad ${format.reason}). Copy the key again from the dashboard.`);
  }
  const maxBytes = maxBodyBytes(c.env.MAX_BODY_BYTES);
  checkDeclaredLength(request, maxBytes);

  const facts = await lookupKey(c.env, key, (p) => c.executionCtx.waitUntil(p));
  if (facts === null) {
    throw new GatewayError("invalid_api_key", "This API key does not exist. Check that you copied it whole and that it is for this environment.");
  }
  c.set("keyId", facts.keyId);
  c.set("projectId", facts.projectId);
  const body = await bodyToForward(request, maxBytes);

  const decision = await keyLimiter(c.env, facts.keyId).admit({
    keyId: facts.keyId,
    need: { permission: route.permission, publicKey: route.publicKey, action: route.action },
    origin: request.headers.get("origin"),
  });
  if (!decision.ok) throw new GatewayError(decision.code, decision.detail);

  const requestId = c.get("requestId");
  const upstream = await forwardToOrigin(
    request,
    url,
    { ...facts, scopes: decision.scopes, requestId, timestamp: Math.floor(Date.now() / 1000) },
    c.env,
    body,
  );
  const response = new Response(upstream.body, upstream);
  response.headers.set("x-request-id", requestId);
  return response;
}

/** Keys must not cross the network in the clear; local development is the one exception. */
function requireHttps(url: URL): void {
  if (url.protocol === "http:" && !LOCAL_HOSTS.has(url.hostname)) {
    throw new GatewayError("https_required", `Use https://${url.host}${url.pathname}: API keys must not be sent over plain HTTP.`);
  }
}
