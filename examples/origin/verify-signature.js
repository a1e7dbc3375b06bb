// Verifies the identity the Composite gateway signs onto every request it forwards (API.md §4).
//
// Copy this file into your origin. It imports nothing and uses only WebCrypto, so it runs as is
// in Node.js ≥ 22, Cloudflare Workers, Deno and Bun. An origin should accept a request only when
//
//   - X-Composite-Signature (v2) verifies with ORIGIN_SIGNING_SECRET (compared in constant time),
//   - X-Composite-Timestamp is at most 300 s old and at most 60 s ahead of this machine's clock,
//   - its X-Request-Id was not accepted before within those 300 s (a replayed request).
//
//   import { createSignatureVerifier } from "./verify-signature.js";
//   const verify = createSignatureVerifier({ secret: process.env.ORIGIN_SIGNING_SECRET });
//
//   // Workers, Deno, Bun, Node's fetch-style servers: a Request
//   const result = await verify(request);
//   // Node's http module: the IncomingMessage (its url is the path and query as received)
//   const result = await verify(req);
//
//   if (!result.ok) return new Response(`unauthorized: ${result.reason}`, { status: 401 });
//   result.identity; // { keyId, projectId, keyType, environment, scopes, requestId, timestamp }
//
// The signed payload is these lines joined by "\n" (HMAC-SHA256, hex):
//   v2, timestamp, request id, METHOD, path and query as received, key id, project id,
//   key type, environment, scopes (as in X-Composite-Scopes)
//
// Replays are remembered in this process's memory. An origin served by several processes or
// isolates sees each request id in one of them only, so the in-memory set is a per-process
// guard; pass `seen` to share one (e.g. a Redis SET NX with a 300 s expiry).

const VERSION = "v2";
const SIGNATURE = /^v2=([0-9a-f]{64})$/;
const TIMESTAMP = /^[0-9]{1,12}$/;
const DEFAULT_MAX_AGE_S = 300;
const DEFAULT_MAX_AHEAD_S = 60;
const DEFAULT_REPLAY_CAPACITY = 100_000;

const encoder = new TextEncoder();

/**
 * @param {object} options
 * @param {string} options.secret ORIGIN_SIGNING_SECRET, the same as the gateway's
 * @param {number} [options.maxAgeSeconds] oldest timestamp accepted (300)
 * @param {number} [options.maxAheadSeconds] how far ahead of this clock a timestamp may be (60)
 * @param {number} [options.replayCapacity] request ids remembered at most (100,000)
 * @param {() => number} [options.now] the clock, epoch milliseconds (tests)
 * @param {(requestId: string, timestamp: number) => boolean | Promise<boolean>} [options.seen]
 *   true when the id was accepted before; must remember it otherwise. Default: in memory.
 */
export function createSignatureVerifier(options) {
  const secret = options?.secret;
  if (typeof secret !== "string" || secret === "") throw new TypeError("createSignatureVerifier: secret is required");
  const maxAge = options.maxAgeSeconds ?? DEFAULT_MAX_AGE_S;
  const maxAhead = options.maxAheadSeconds ?? DEFAULT_MAX_AHEAD_S;
  const now = options.now ?? Date.now;
  const seen = options.seen ?? memoryReplayGuard(options.replayCapacity ?? DEFAULT_REPLAY_CAPACITY, maxAge, now);
  const key = crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);

  return async function verifyCompositeRequest(request) {
    const header = (name) => headerOf(request.headers, name);
    const signature = SIGNATURE.exec(header("x-composite-signature") ?? "");
    if (signature === null) return refused(header("x-composite-signature") === null ? "missing_signature" : "malformed_signature");
    const rawTimestamp = header("x-composite-timestamp") ?? "";
    if (!TIMESTAMP.test(rawTimestamp)) return refused("malformed_timestamp");

    const identity = {
      keyId: header("x-composite-key-id") ?? "",
      projectId: header("x-composite-project-id") ?? "",
      keyType: header("x-composite-key-type") ?? "",
      environment: header("x-composite-environment") ?? "",
      scopes: header("x-composite-scopes") ?? "",
      requestId: header("x-request-id") ?? "",
      timestamp: Number(rawTimestamp),
    };
    const payload = [
      VERSION,
      rawTimestamp,
      identity.requestId,
      String(request.method).toUpperCase(),
      pathAndQuery(request.url),
      identity.keyId,
      identity.projectId,
      identity.keyType,
      identity.environment,
      identity.scopes,
    ].join("\n");
    // crypto.subtle.verify compares the MACs in constant time.
    const valid = await crypto.subtle.verify("HMAC", await key, hexToBytes(signature[1]), encoder.encode(payload));
    if (!valid) return refused("bad_signature");

    // Only signed values from here on: an attacker cannot fill the replay set with made-up ids.
    const nowSeconds = Math.floor(now() / 1000);
    if (identity.timestamp < nowSeconds - maxAge) return refused("expired_timestamp");
    if (identity.timestamp > nowSeconds + maxAhead) return refused("future_timestamp");
    if (await seen(identity.requestId, identity.timestamp)) return refused("replayed_request");
    return { ok: true, identity: { ...identity, scopes: identity.scopes === "" ? [] : identity.scopes.split(",") } };
  };
}

/**
 * Request ids accepted in the last maxAge seconds, in insertion order, at most `capacity`.
 * When full, the oldest id is forgotten and every timestamp up to its own is refused from then
 * on (`floor`): a forgotten id can then never be replayed, at the price of refusing late
 * requests while the origin takes more than `capacity` requests per maxAge seconds.
 */
export function memoryReplayGuard(capacity, maxAge, now = Date.now) {
  const ids = new Map(); // request id → signed timestamp
  let floor = -Infinity;
  return function seen(requestId, timestamp) {
    const oldest = Math.floor(now() / 1000) - maxAge;
    for (const [id, at] of ids) {
      if (at >= oldest) break;
      ids.delete(id);
    }
    if (timestamp <= floor || ids.has(requestId)) return true;
    ids.set(requestId, timestamp);
    if (ids.size > capacity) {
      const [id, at] = ids.entries().next().value;
      ids.delete(id);
      floor = Math.max(floor, at);
    }
    return false;
  };
}

function refused(reason) {
  return { ok: false, reason };
}

/** A Headers object (fetch) or Node's lower-cased header object; one value, or null. */
function headerOf(headers, name) {
  if (typeof headers?.get === "function") return headers.get(name);
  const value = headers?.[name];
  if (Array.isArray(value)) return value.length === 1 ? value[0] : null; // a repeated header is not ours
  return typeof value === "string" ? value : null;
}

/** Path and query as received: from an absolute URL (fetch) or a request target (Node's req.url). */
function pathAndQuery(url) {
  if (typeof url !== "string") return "";
  if (url.startsWith("/")) return url;
  const parsed = new URL(url);
  return parsed.pathname + parsed.search;
}

function hexToBytes(hex) {
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return bytes;
}
