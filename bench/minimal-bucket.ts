/**
 * The reference point for the limiter's cost: the pass-through (passthrough.ts) plus the least a
 * per-key Durable Object rate limiter can do — one RPC per request to an object keyed by the
 * Authorization header, holding a token bucket in memory (no storage, no policy, no counts, no
 * headers). What the gateway adds beyond this is its own work; what this adds beyond the
 * pass-through is the price of one Durable Object round trip per request on this runtime.
 */
import { DurableObject } from "cloudflare:workers";
import { Hono } from "hono";
import { forwardBare, type OriginEnv } from "./bare-forward";

interface BucketEnv extends OriginEnv {
  BUCKET: DurableObjectNamespace<MinimalBucket>;
}

export class MinimalBucket extends DurableObject {
  private tokens = 1e9;
  private at = Date.now();

  take(): boolean {
    const now = Date.now();
    this.tokens = Math.min(1e9, this.tokens + (now - this.at) * 1e6);
    this.at = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

const app = new Hono<{ Bindings: BucketEnv }>();

app.all("*", async (c) => {
  const request = c.req.raw;
  if (!(await c.env.BUCKET.getByName(request.headers.get("authorization") ?? "anonymous").take())) {
    return new Response("rate limited", { status: 429 });
  }
  return forwardBare(request, c.env);
});

export default app;
