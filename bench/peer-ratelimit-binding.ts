/**
 * A peer, what a user would pick instead of this gateway: the pass-through (bare-forward.ts)
 * behind Cloudflare's own Rate Limiting binding through @hono-rate-limiter/cloudflare's
 * `cloudflareRateLimiter`, one `limit({ key })` per request keyed by the Authorization header
 * (Miniflare's simulation of the binding). No key lookup, policy, quota, counts or headers —
 * the binding has none of those.
 */
import { cloudflareRateLimiter } from "@hono-rate-limiter/cloudflare";
import { Hono } from "hono";
import { forwardBare, type OriginEnv } from "./bare-forward";

interface PeerEnv extends OriginEnv {
  RATE_LIMITER: RateLimit;
}

const app = new Hono<{ Bindings: PeerEnv }>();

app.use(
  cloudflareRateLimiter<{ Bindings: PeerEnv }>({
    rateLimitBinding: (c) => c.env.RATE_LIMITER,
    keyGenerator: (c) => c.req.header("authorization") ?? "anonymous",
  }),
);

app.all("*", (c) => forwardBare(c.req.raw, c.env));

export default app;
