/**
 * Forwarding an admitted request to the origin (API.md §4): method, path, query without
 * `api_key`, and the body as a stream (see body-limit.ts for the one exception). Authorization and every incoming
 * X-Composite-* header are removed before the signed identity is added, so a client can neither
 * leak its key to the origin nor pose as another key.
 */
import { configOf, type Env } from "../config";
import { searchWithoutApiKey } from "../keys/credentials";
import { GatewayError } from "../http/problem";
import { TIMED_OUT, within, type Deadline } from "../http/deadline";
import { addIdentity, IDENTITY_HEADER_PREFIX, type Identity } from "./identity";

export async function forwardToOrigin(
  request: Request,
  url: URL,
  identity: Identity,
  env: Env,
  body: ReadableStream | Uint8Array | null,
  deadline: Deadline,
): Promise<Response> {
  const target = originUrl(url, env);
  const headers = new Headers(request.headers);
  headers.delete("authorization");
  for (const name of request.headers.keys()) {
    if (name.startsWith(IDENTITY_HEADER_PREFIX)) headers.delete(name);
  }
  await addIdentity(headers, identity, configOf(env).originSigningSecret);

  const init: RequestInit = { method: request.method, headers, body, redirect: "manual" };
  let answer: Response | typeof TIMED_OUT;
  try {
    answer = await within(deadline, env.ORIGIN !== undefined ? env.ORIGIN.fetch(target, init) : fetch(target, init));
  } catch {
    throw new GatewayError("origin_unavailable", "The origin could not be reached. Retry later.");
  }
  if (answer === TIMED_OUT) {
    // The subrequest is abandoned; it ends with this request.
    throw new GatewayError("origin_timeout", `The origin did not answer within ${deadline.ms} ms. Retry later; the request may or may not have been processed.`);
  }
  return answer;
}

/** The origin URL for this request: base + path + query without the key. */
function originUrl(url: URL, env: Env): string {
  const search = searchWithoutApiKey(url.search);
  if (env.ORIGIN !== undefined) return `https://origin${url.pathname}${search}`;
  const base = configOf(env).originUrl;
  if (base === null) {
    throw new GatewayError("origin_unavailable", "No origin is configured for this gateway (set ORIGIN_URL). Contact the operator.");
  }
  return base + url.pathname + search;
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
