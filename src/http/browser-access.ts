/**
 * CORS, for public keys used in browsers: preflights are answered here (no key needed, never
 * forwarded) and the gateway's headers are readable by scripts. No cookies are involved, so any
 * origin may ask; a key's allowed-origins list is enforced on the real request, and its answer
 * follows it (API.md §2): readable by the page's origin once the key is known and that origin is
 * not refused (Access-Control-Allow-Origin: that origin, Vary: Origin); not readable at all when
 * the key refuses the origin (403 `origin_not_allowed`: the detail shows in the developer tools);
 * `*` while no key is known (a malformed or unknown key's error, which no key's list governs).
 *
 * Secret keys are for servers (API.md §2): a request that presents one with an Origin header —
 * a browser — is refused, 403 `secret_key_in_browser`, and no answer to a secret key carries
 * CORS headers, so a page cannot read what a secret key fetched. Both unless the request opts in
 * with `Composite-Browser-Access: true` (an internal tool that knowingly holds a secret key).
 * A preflight carries no key, so it is answered the same for every request; what the page may
 * read is decided on the real answer, which for a secret key has no Access-Control-Allow-Origin.
 * The 403's detail is then visible in the browser's developer tools, not to the page's script.
 *
 * Only requests that carry an Origin header — browsers — pay anything for it: SDKs on servers
 * and devices send none, and this sits on every request's path.
 */
import type { Context, MiddlewareHandler } from "hono";
import type { AppEnv } from "../context";
import { GatewayError } from "./problem";

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
const SECRET_KEY_PREFIX = "sk_";
export const BROWSER_ACCESS_HEADER = "composite-browser-access";

export const browserAccess: MiddlewareHandler<AppEnv> = async function browserAccess(c, next) {
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
  if (c.get("secretKey") === true && !optedIn(c)) return;
  if (c.get("errorCode") === "origin_not_allowed") return;
  const origin = c.req.header("origin")!;
  if (c.get("keyId") !== undefined && origin !== "null") {
    c.res.headers.set("Access-Control-Allow-Origin", origin);
    c.res.headers.append("Vary", "Origin");
  } else {
    c.res.headers.set("Access-Control-Allow-Origin", "*");
  }
  c.res.headers.set("Access-Control-Expose-Headers", EXPOSED_HEADERS);
};

/**
 * For the presented key, before any lookup: a secret key marks the answer as not for pages, and
 * from a browser (an Origin header) it is refused unless the request opted in. Decided by the
 * prefix alone, so a mistyped or unknown secret key is treated as one too.
 */
export function guardSecretKey(c: Context<AppEnv>, key: string): void {
  if (!key.startsWith(SECRET_KEY_PREFIX)) return;
  c.set("secretKey", true);
  if (c.req.header("origin") !== undefined && !optedIn(c)) {
    throw new GatewayError(
      "secret_key_in_browser",
      "Secret keys (sk_) must not be used in a browser: anyone who loads the page can read them. Use a public key (pk_) in client-side code, or call from your server. An internal tool that knowingly holds a secret key sends `Composite-Browser-Access: true`.",
    );
  }
}

function optedIn(c: Context<AppEnv>): boolean {
  return c.req.header(BROWSER_ACCESS_HEADER)?.trim().toLowerCase() === "true";
}
