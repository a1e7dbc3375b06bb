/**
 * CORS, for public keys used in browsers: preflights are answered here (no key needed, never
 * forwarded) and the gateway's headers are readable by scripts. No cookies are involved, so any
 * origin may ask; a key's allowed-origins list is enforced on the real request.
 *
 * Only requests that carry an Origin header — browsers — pay anything for it: SDKs on servers
 * and devices send none, and this sits on every request's path.
 */
import type { MiddlewareHandler } from "hono";

const EXPOSED_HEADERS = [
  "X-Request-Id",
  "Retry-After",
  "RateLimit",
  "RateLimit-Policy",
  "X-RateLimit-Limit",
  "X-RateLimit-Remaining",
  "X-RateLimit-Reset",
  "X-RateLimit-Limit-Day",
  "X-RateLimit-Remaining-Day",
  "X-RateLimit-Reset-Day",
].join(",");
const ALLOWED_METHODS = "GET,HEAD,PUT,POST,DELETE,PATCH";
const PREFLIGHT_MAX_AGE = "86400";

export const browserAccess: MiddlewareHandler = async function browserAccess(c, next) {
  if (c.req.header("origin") === undefined) return next();
  if (c.req.method === "OPTIONS" && c.req.header("access-control-request-method") !== undefined) {
    const headers = new Headers({
      "Access-Control-Allow-Origin": "*",
      "Access-Control-Allow-Methods": ALLOWED_METHODS,
      "Access-Control-Max-Age": PREFLIGHT_MAX_AGE,
      "Access-Control-Expose-Headers": EXPOSED_HEADERS,
    });
    const requested = c.req.header("access-control-request-headers");
    if (requested !== undefined) {
      headers.set("Access-Control-Allow-Headers", requested.split(",").map((name) => name.trim()).join(","));
    }
    c.res = new Response(null, { status: 204, headers });
    return;
  }
  await next();
  c.res.headers.set("Access-Control-Allow-Origin", "*");
  c.res.headers.set("Access-Control-Expose-Headers", EXPOSED_HEADERS);
};
