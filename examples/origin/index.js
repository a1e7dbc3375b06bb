// Sample origin for the Composite edge gateway.
//
// A tiny Worker that stands in for "your API" during local development and in the test suite
// (the tests load this exact file into Miniflare). It answers every request with 200 JSON that
// echoes what it received, so you can SEE what the gateway forwards: the API key removed, the
// X-Composite-* identity headers added, and that X-Composite-Signature verifies against
// ORIGIN_SIGNING_SECRET. Plain JS, no build step, no dependencies.
//
//   GET /_origin/requests           -> { total, data }: the last 20 requests this isolate received
//                                      (oldest first; refused ones too) and how many in all
//   x-sample-origin-delay-ms: N     -> on /v1/* paths, wait N ms (max 60000) before answering,
//                                      so you can watch the gateway's 504 origin timeout.
//   env.QUIET (any non-empty value) -> no log line per request (the test suite binds QUIET: "1").
//
// Like a real origin, it refuses (401, problem+json) any request whose signature does not verify,
// whose timestamp is older than 300 s or more than 60 s ahead, or whose request id it has seen
// before: verify-signature.js, which your origin can copy. Without ORIGIN_SIGNING_SECRET it
// checks nothing and reports "signature": "not_checked".

import { createSignatureVerifier } from "./verify-signature.js";

const BODY_ECHO_LIMIT = 64 * 1024;
const MAX_DELAY_MS = 60_000;
const HISTORY_SIZE = 20;
const REDACTED = "[present — the gateway should have removed this]";
const history = []; // isolate memory only; resets whenever the Worker restarts
let total = 0; // requests received since the isolate started (data is capped, this is not)
let verifier = null; // one per isolate: it holds the request ids already seen

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (request.method === "GET" && url.pathname === "/_origin/requests") {
      return json({ total, data: history });
    }

    total += 1;
    const signature = await checkSignature(request, env.ORIGIN_SIGNING_SECRET);
    if (signature !== "valid" && signature !== "not_checked") {
      remember({ refused: signature, received: { method: request.method, path: url.pathname } });
      return refuse(signature, env);
    }

    const headers = {};
    for (const [name, value] of request.headers) {
      headers[name] = name === "authorization" ? REDACTED : value;
    }
    const query = {};
    for (const [name, value] of url.searchParams) {
      query[name] = name === "api_key" ? REDACTED : value;
    }
    const { text, bytes } = await readBody(request);

    const delay = Number(request.headers.get("x-sample-origin-delay-ms"));
    if (url.pathname.startsWith("/v1/") && delay > 0 && delay <= MAX_DELAY_MS) {
      await new Promise((resolve) => setTimeout(resolve, delay));
    }

    const answer = {
      origin: "composite-sample-origin",
      received: { method: request.method, path: url.pathname, search: rawSearch(url), query, headers, body: text, body_bytes: bytes },
      signature,
    };
    remember(answer);

    if (!env.QUIET) {
      const composite = [...request.headers.keys()].filter((n) => n.startsWith("x-composite-"));
      console.log(
        `${request.method} ${url.pathname} | x-composite headers: ${composite.join(", ") || "none"}` +
          ` | signature: ${signature} | api key: ${headers.authorization || query.api_key ? "PRESENT (not stripped!)" : "absent"}`,
      );
    }
    return json(answer);
  },
};

function remember(entry) {
  history.push({ received_at: new Date().toISOString(), ...entry });
  if (history.length > HISTORY_SIZE) history.shift();
}

// Reads the whole body, counting every byte, but keeps only the first 64 KiB as text.
async function readBody(request) {
  if (!request.body) return { text: "", bytes: 0 };
  const decoder = new TextDecoder();
  const reader = request.body.getReader();
  let text = "";
  let bytes = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    const keep = Math.max(0, Math.min(value.byteLength, BODY_ECHO_LIMIT - bytes));
    if (keep > 0) text += decoder.decode(value.subarray(0, keep), { stream: true });
    bytes += value.byteLength;
  }
  return { text: text + decoder.decode(), bytes };
}

// "valid", "not_checked" (no secret configured), or why the request is refused.
async function checkSignature(request, secret) {
  if (!secret) return "not_checked";
  verifier ??= createSignatureVerifier({ secret });
  const result = await verifier(request);
  return result.ok ? "valid" : result.reason;
}

function refuse(reason, env) {
  const problem = {
    type: "https://docs.composite.dev/errors/invalid_signature",
    title: "Invalid gateway signature",
    status: 401,
    detail: `Refused: ${reason.replaceAll("_", " ")}. Only requests forwarded by the Composite gateway, signed with ORIGIN_SIGNING_SECRET within the last 300 s and not seen before, are accepted.`,
    code: "invalid_signature",
    reason,
  };
  if (!env.QUIET) console.log(`refused a request: ${reason}`);
  return new Response(JSON.stringify(problem, null, 2) + "\n", {
    status: 401,
    headers: { "content-type": "application/problem+json", "cache-control": "no-store" },
  });
}

function json(value) {
  return new Response(JSON.stringify(value, null, 2) + "\n", {
    headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" },
  });
}

/** The query string exactly as it arrived, so you can see it was not re-encoded — unless it holds an api_key. */
function rawSearch(url) {
  return /api(_|%5f)key/i.test(url.search) ? REDACTED : url.search;
}
