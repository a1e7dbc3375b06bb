/**
 * A peer, what a user would pick instead of this gateway: the pass-through (bare-forward.ts)
 * behind Cloudflare's own Rate Limiting binding, one `limit({ key })` per request keyed by the
 * Authorization header (Miniflare's simulation of the binding: a Durable Object per namespace).
 * No key lookup, policy, quota, counts or headers — the binding has none of those.
 */
import { Hono } from "hono";
import { forwardBare, type OriginEnv } from "./bare-forward";

interface PeerEnv extends OriginEnv {
  RATE_LIMITER: { limit(options: { key: string }): Promise<{ success: boolean }> };
}

const app = new Hono<{ Bindings: PeerEnv }>();

app.all("*", async (c) => {
  const request = c.req.raw;
  const { success } = await c.env.RATE_LIMITER.limit({ key: request.headers.get("authorization") ?? "anonymous" });
  if (!success) return new Response("rate limited", { status: 429 });
  return forwardBare(request, c.env);
});

export default app;
