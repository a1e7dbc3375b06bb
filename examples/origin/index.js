// Sample origin for the Composite edge gateway.
//
// A tiny Worker that stands in for "your API" during local development and in the test suite
// (the tests load this exact file into Miniflare). It answers every request with 200 JSON that
// echoes what it received, so you can SEE what the gateway forwards: the API key removed, the
// X-Composite-* identity headers added, and whether X-Composite-Signature verifies against
// ORIGIN_SIGNING_SECRET. Plain JS, no build step, no dependencies.
//
//   GET /_origin/requests           -> { total, data }: the last 20 requests this isolate received
//                                      (oldest first) and how many it received in all
//   x-sample-origin-delay-ms: N     -> on /v1/* paths, wait N ms (max 60000) before answering,
//                                      so you can watch the gateway's 504 origin timeout.
//   env.QUIET (any non-empty value) -> no log line per request (the test suite binds QUIET: "1").
//
// A real origin should also reject stale X-Composite-Timestamp values (e.g. older than 5 minutes)
// to limit replay; this demo only reports whether the signature matches.

const BODY_ECHO_LIMIT = 64 * 1024;
const MAX_DELAY_MS = 60_000;
const HISTORY_SIZE = 20;
const REDACTED = "[present — the gateway should have removed this]";
const history = []; // isolate memory only; resets whenever the Worker restarts
let total = 0; // requests received since the isolate started (data is capped, this is not)

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (request.method === "GET" && url.pathname === "/_origin/requests") {
      return json({ total, data: history });
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
    const signature = await checkSignature(request.headers, env.ORIGIN_SIGNING_SECRET);

    const delay = Number(request.headers.get("x-sample-origin-delay-ms"));
    if (url.pathname.startsWith("/v1/") && delay > 0 && delay <= MAX_DELAY_MS) {
      await new Promise((resolve) => setTimeout(resolve, delay));
    }

    const answer = {
      origin: "composite-sample-origin",
      received: { method: request.method, path: url.pathname, search: rawSearch(url), query, headers, body: text, body_bytes: bytes },
      signature,
    };
    total += 1;
    history.push({ received_at: new Date().toISOString(), ...answer });
    if (history.length > HISTORY_SIZE) history.shift();

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

// X-Composite-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<request id>.<key id>.<project id>")>
async function checkSignature(headers, secret) {
  if (!secret) return "not_checked";
  const header = headers.get("x-composite-signature");
  if (!header) return "missing";
  const match = /^v1=([0-9a-f]{64})$/i.exec(header.trim());
  if (!match) return "invalid";
  const message = ["x-composite-timestamp", "x-request-id", "x-composite-key-id", "x-composite-project-id"]
    .map((name) => headers.get(name) ?? "")
    .join(".");
  const enc = new TextEncoder();
  const key = await crypto.subtle.importKey("raw", enc.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [
    "verify",
  ]);
  const signature = new Uint8Array(match[1].match(/../g).map((byte) => parseInt(byte, 16)));
  // crypto.subtle.verify compares in constant time.
  const ok = await crypto.subtle.verify("HMAC", key, signature, enc.encode(message));
  return ok ? "valid" : "invalid";
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
