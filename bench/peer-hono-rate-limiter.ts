/**
 * A peer, what a user would pick instead of this gateway: the pass-through (bare-forward.ts)
 * behind hono-rate-limiter with its Durable Object store (@hono-rate-limiter/cloudflare), set up
 * as that package's README shows, keyed by the Authorization header: one object per key, one
 * RPC per request (a read and a write of the object's storage), draft-7 `RateLimit` headers.
 * No key lookup, policy, quota or counts.
 */
import { DurableObjectRateLimiter, DurableObjectStore } from "@hono-rate-limiter/cloudflare";
import { Hono } from "hono";
import { rateLimiter } from "hono-rate-limiter";
import { forwardBare, type OriginEnv } from "./bare-forward";

interface PeerEnv extends OriginEnv {
  LIMITER: DurableObjectNamespace<DurableObjectRateLimiter>;
}

const app = new Hono<{ Bindings: PeerEnv }>();

app.use((c, next) =>
  rateLimiter<{ Bindings: PeerEnv }>({
    windowMs: 60_000,
    // Far above what the bench sends: the peer admits everything, as the gateway's keys do.
    limit: 1_000_000_000,
    standardHeaders: "draft-7",
    keyGenerator: (c) => c.req.header("authorization") ?? "anonymous",
    store: new DurableObjectStore({ namespace: c.env.LIMITER }),
  })(c, next),
);

app.all("*", (c) => forwardBare(c.req.raw, c.env));

export { DurableObjectRateLimiter };
export default app;
