/**
 * Forwarding an admitted request to the origin (API.md §4): method, path, query without
 * `api_key`, and the body as a stream (see body-limit.ts for the one exception). The headers are
 * the client's minus the key, forged identity, forwarding and hop-by-hop headers and the gateway's
 * own cookies (origin-headers.ts), plus the signed identity, so a client can neither leak its key
 * to the origin nor pose as another key or another address.
 */
import { configOf, type Env } from "../config";
import { searchWithoutApiKey } from "../keys/credentials";
import { GatewayError } from "../http/problem";
import { TIMED_OUT, within, type Deadline } from "../http/deadline";
import type { ForwardBody } from "./body-limit";
import { addIdentity, type Identity } from "./identity";
import { originHeaders } from "./origin-headers";

export async function forwardToOrigin(
  request: Request,
  url: URL,
  identity: Identity,
  env: Env,
  { body, rewritten }: ForwardBody,
  deadline: Deadline,
): Promise<Response> {
  const { base, target } = originTarget(url, env);
  const headers = originHeaders(request.headers, { clientIp: request.headers.get("cf-connecting-ip"), proto: url.protocol.slice(0, -1) });
  if (rewritten) {
    // Decompressed, or the key taken out of it: the client's encoding and length describe other bytes.
    headers.delete("content-encoding");
    headers.delete("content-length");
  }
  await addIdentity(headers, identity, { method: request.method, target }, configOf(env).originSigningSecret);

  const init: RequestInit = { method: request.method, headers, body, redirect: "manual" };
  const destination = base + target;
  let answer: Response | typeof TIMED_OUT;
  try {
    answer = await within(deadline, env.ORIGIN !== undefined ? env.ORIGIN.fetch(destination, init) : fetch(destination, init));
  } catch {
    throw new GatewayError("origin_unavailable", "The origin could not be reached. Retry later.");
  }
  if (answer === TIMED_OUT) {
    // The subrequest is abandoned; it ends with this request.
    throw new GatewayError("origin_timeout", `The origin did not answer within ${deadline.ms} ms. Retry later; the request may or may not have been processed.`);
  }
  return answer;
}

/**
 * Where this request goes: the origin's scheme and host, and the path and query the origin will
 * see (ORIGIN_URL's path prefix + path + query without the key) — the `target` the signature covers.
 */
function originTarget(url: URL, env: Env): { base: string; target: string } {
  const search = searchWithoutApiKey(url.search);
  if (env.ORIGIN !== undefined) return { base: "https://origin", target: url.pathname + search };
  const originUrl = configOf(env).originUrl;
  if (originUrl === null) {
    throw new GatewayError("origin_unavailable", "No origin is configured for this gateway (set ORIGIN_URL). Contact the operator.");
  }
  const { origin, prefix } = splitOriginUrl(originUrl);
  return { base: origin, target: prefix + url.pathname + search };
}

let splitCache: { originUrl: string; origin: string; prefix: string } | undefined;

/** ORIGIN_URL (normalised by config.ts, no trailing slash) as scheme://host[:port] and path prefix; parsed once per isolate. */
function splitOriginUrl(originUrl: string): { origin: string; prefix: string } {
  if (splitCache?.originUrl !== originUrl) {
    const origin = new URL(originUrl).origin;
    splitCache = { originUrl, origin, prefix: originUrl.slice(origin.length) };
  }
  return splitCache;
}

/**
 * The origin's answer as the client gets it. The runtime's fetch has already decoded a gzip or
 * brotli body; passing the origin's Content-Encoding on would make the runtime encode it again
 * — with the Worker's CPU, and whatever the client accepted: behind wrangler dev, plain curl got
 * brotli. So the body goes out as it is, and Cloudflare's edge compresses it for the client that
 * asks. Encodings the runtime does not decode are passed through untouched.
 */
export function toClientResponse(upstream: Response): Response {
  const response = new Response(upstream.body, upstream);
  const encoding = response.headers.get("content-encoding")?.trim().toLowerCase();
  if (encoding === "gzip" || encoding === "br") {
    response.headers.delete("content-encoding");
    response.headers.delete("content-length");
  }
  return response;
}
