/**
 * Forwarding with nothing around it, shared by the pass-through, the minimal-bucket and the
 * contract Workers so that the bucket is exactly "the pass-through plus one RPC" and the contract
 * "the bucket plus API.md's headers": the same mechanism as the gateway (src/proxy/forward.ts) —
 * the ORIGIN service binding when bound, else ORIGIN_URL; method, headers (amended, for the
 * contract) and body as received (the body as a stream), redirect "manual", and the answer
 * re-wrapped with `new Response(res.body, res)`.
 */
export interface OriginEnv {
  ORIGIN?: Fetcher;
  ORIGIN_URL?: string;
}

/** Headers to send the origin in place of the client's; the origin's answer's headers, amended. */
export interface Amend {
  request(headers: Headers, request: Request): Promise<Headers>;
  response(headers: Headers): void;
}

export async function forwardBare(request: Request, env: OriginEnv, amend?: Amend): Promise<Response> {
  const url = new URL(request.url);
  const headers = amend === undefined ? request.headers : await amend.request(request.headers, request);
  const init: RequestInit = { method: request.method, headers, body: request.body, redirect: "manual" };
  const upstream =
    env.ORIGIN !== undefined
      ? await env.ORIGIN.fetch(`https://origin${url.pathname}${url.search}`, init)
      : await fetch((env.ORIGIN_URL ?? "").replace(/\/+$/, "") + url.pathname + url.search, init);
  const response = new Response(upstream.body, upstream);
  amend?.response(response.headers);
  return response;
}
