/**
 * The headers the origin receives (API.md §4), built from the client's in one pass. Pure.
 *
 * Dropped, because the origin would take them as the gateway's word or act on them:
 *  - Authorization and every X-Composite-* (the key; a forged identity — identity.ts adds ours);
 *  - the gateway's own cookies (the dashboard session: an origin log must not be able to replay it);
 *  - client-set X-Forwarded-*, Forwarded, X-Real-IP (a forged client address, host or scheme);
 *  - hop-by-hop headers (RFC 9110 §7.6.1): Connection and every header it names, Keep-Alive,
 *    Proxy-Authorization, Proxy-Authenticate, TE, Trailer, Upgrade — they belong to the client's
 *    connection to us, not ours to the origin;
 *  - method and URL overrides (X-HTTP-Method-Override, X-HTTP-Method, X-Method-Override,
 *    X-Original-URL, X-Rewrite-URL): frameworks that honour them would run another method or
 *    path than the route table admitted. API.md does not list them; deny by default.
 * Set: X-Forwarded-For from CF-Connecting-IP (Cloudflare sets it; a client cannot), when there is
 * one, and X-Forwarded-Proto from the scheme the request came in on.
 */
import { GATEWAY_COOKIES } from "../http/gateway-cookies";
import { IDENTITY_HEADER_PREFIX } from "./identity";

const DROPPED = new Set([
  "authorization",
  "forwarded",
  "x-real-ip",
  "connection",
  "keep-alive",
  "proxy-authorization",
  "proxy-authenticate",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "x-http-method-override",
  "x-http-method",
  "x-method-override",
  "x-original-url",
  "x-rewrite-url",
]);
const FORWARDED_PREFIX = "x-forwarded-";

export interface ClientConnection {
  /** CF-Connecting-IP, or null when the request did not come through Cloudflare's edge (local runs). */
  clientIp: string | null;
  /** "https" or "http", from the request URL. */
  proto: string;
}

export function originHeaders(incoming: Headers, connection: ClientConnection): Headers {
  const headers = new Headers(incoming);
  const named = connectionNamed(incoming.get("connection"));
  for (const name of incoming.keys()) {
    if (DROPPED.has(name) || name.startsWith(FORWARDED_PREFIX) || name.startsWith(IDENTITY_HEADER_PREFIX) || named.has(name)) {
      headers.delete(name);
    }
  }
  const cookie = incoming.get("cookie");
  if (cookie !== null) {
    const kept = withoutCookies(cookie, GATEWAY_COOKIES);
    if (kept === "") headers.delete("cookie");
    else if (kept !== cookie) headers.set("cookie", kept);
  }
  if (connection.clientIp !== null) headers.set("x-forwarded-for", connection.clientIp);
  headers.set("x-forwarded-proto", connection.proto);
  return headers;
}

/** The header names a Connection header lists (lower case); they end at this hop too. */
function connectionNamed(connection: string | null): ReadonlySet<string> {
  if (connection === null) return EMPTY;
  return new Set(connection.split(",").map((token) => token.trim().toLowerCase()).filter((token) => token !== ""));
}
const EMPTY: ReadonlySet<string> = new Set();

/**
 * A Cookie header without the named cookies, every other pair as sent. Pairs are split on `;`
 * and, since a runtime may join two Cookie headers with `, `, on `,` too (cookie values may not
 * hold a comma, RFC 6265 §4.1.1; a non-conforming one is put back together as it was).
 */
export function withoutCookies(cookie: string, names: ReadonlySet<string>): string {
  let changed = false;
  const kept: string[] = [];
  for (const pair of cookie.split(";")) {
    const pieces = pair.split(",");
    const keptPieces = pieces.filter((piece) => !names.has(cookieName(piece)));
    if (keptPieces.length !== pieces.length) changed = true;
    const rest = keptPieces.join(",").trim();
    if (rest !== "") kept.push(rest);
  }
  return changed ? kept.join("; ") : cookie;
}

function cookieName(pair: string): string {
  const eq = pair.indexOf("=");
  return (eq === -1 ? pair : pair.slice(0, eq)).trim();
}
