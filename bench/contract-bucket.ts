/**
 * The minimal bucket (minimal-bucket.ts) that also answers as API.md says: the origin gets the
 * eight identity headers (§4, signed with the gateway's own code) instead of Authorization, and
 * the client gets the eight rate-limit headers (§3, the gateway's own code) and X-Request-Id.
 * The values are constants — no key lookup, policy, quota, counting or log. What it costs beyond
 * the minimal bucket is the price of the contract's headers on this runtime; what the gateway
 * costs beyond it is everything else the gateway does.
 */
import { Hono } from "hono";
import { setRateLimitHeaders, type RateSnapshot } from "../src/limiter/headers";
import { addIdentity, type Identity } from "../src/proxy/identity";
import { forwardBare, type Amend, type OriginEnv } from "./bare-forward";
import type { MinimalBucket } from "./minimal-bucket";

export { MinimalBucket } from "./minimal-bucket";

interface ContractEnv extends OriginEnv {
  BUCKET: DurableObjectNamespace<MinimalBucket>;
  ORIGIN_SIGNING_SECRET: string;
}

const REQUEST_ID = "req_00000000000000000000000000000000";
const IDENTITY = {
  keyId: "key_QkFWJnY6K8lTR6El5Me0",
  projectId: "proj_cR69li5HzVC5Kp6DSgL7",
  type: "public",
  environment: "test",
  scopes: ["events:write", "identify:write"],
  requestId: REQUEST_ID,
} as const satisfies Omit<Identity, "timestamp">;
const LIMITS = { rate: 1_000_000, burst: 10_000_000, daily: 1_000_000_000 };

/** What the gateway signs as the target (API.md §4); a string slice, not a URL parse, to cost what the gateway's does. */
function pathAndQuery(url: string): string {
  return url.slice(url.indexOf("/", url.indexOf("//") + 2));
}

export function amendments(secret: string): Amend {
  return {
    async request(incoming, request) {
      const headers = new Headers(incoming);
      headers.delete("authorization");
      await addIdentity(headers, { ...IDENTITY, timestamp: Math.floor(Date.now() / 1000) }, { method: request.method, target: pathAndQuery(request.url) }, secret);
      return headers;
    },
    response(headers) {
      headers.set("x-request-id", REQUEST_ID);
      const snapshot: RateSnapshot = { ...LIMITS, tokens: LIMITS.burst - 1, dayUsed: 1, now: Date.now() };
      setRateLimitHeaders(headers, snapshot);
    },
  };
}

const app = new Hono<{ Bindings: ContractEnv }>();
let amend: Amend | undefined;

app.all("*", async (c) => {
  const request = c.req.raw;
  if (!(await c.env.BUCKET.getByName(request.headers.get("authorization") ?? "anonymous").take())) {
    return new Response("rate limited", { status: 429 });
  }
  amend ??= amendments(c.env.ORIGIN_SIGNING_SECRET);
  return forwardBare(request, c.env, amend);
});

export default app;
