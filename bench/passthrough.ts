/**
 * The baseline: a bare Hono app that forwards every request to the origin with the same
 * mechanism as the gateway (src/proxy/forward.ts): the ORIGIN service binding when bound, else
 * ORIGIN_URL; method, headers and body as received (the body as a stream), redirect "manual",
 * and the answer re-wrapped with `new Response(res.body, res)`. No auth, no limiter, no log.
 */
import { Hono } from "hono";

interface PassthroughEnv {
  ORIGIN?: Fetcher;
  ORIGIN_URL?: string;
}

const app = new Hono<{ Bindings: PassthroughEnv }>();

app.all("*", async (c) => {
  const request = c.req.raw;
  const url = new URL(request.url);
  const init: RequestInit = { method: request.method, headers: request.headers, body: request.body, redirect: "manual" };
  const upstream =
    c.env.ORIGIN !== undefined
      ? await c.env.ORIGIN.fetch(`https://origin${url.pathname}${url.search}`, init)
      : await fetch((c.env.ORIGIN_URL ?? "").replace(/\/+$/, "") + url.pathname + url.search, init);
  return new Response(upstream.body, upstream);
});

export default app;
