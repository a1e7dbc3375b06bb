/**
 * The Composite edge gateway Worker: the operator API under /_operator, and every other request
 * through the gateway's hot path (src/gateway.ts). Exports the KeyLimiter Durable Object class.
 */
import { Hono } from "hono";
import { cors } from "hono/cors";
import type { AppEnv } from "./env";
import { handleGatewayRequest } from "./gateway";
import { renderError, requestContext } from "./http/request-context";
import { operatorApi } from "./manage/operator";

export { KeyLimiter } from "./limiter/key-limiter";
export { FailedAuthGuard } from "./limiter/failed-auth";

const app = new Hono<AppEnv>();
app.use(requestContext);
app.onError(renderError);
// Public keys are made for browsers: preflights are answered here (never forwarded) and the
// gateway's headers are readable by scripts. No cookies are involved, so any origin may ask;
// a key's allowed-origins list is enforced on the real request.
app.use(
  "/v1/*",
  cors({
    origin: "*",
    maxAge: 86_400,
    exposeHeaders: [
      "X-Request-Id",
      "Retry-After",
      "RateLimit",
      "RateLimit-Policy",
      "X-RateLimit-Limit",
      "X-RateLimit-Remaining",
      "X-RateLimit-Reset",
      "X-RateLimit-Limit-Day",
      "X-RateLimit-Remaining-Day",
      "X-RateLimit-Reset-Day",
    ],
  }),
);
app.route("/_operator", operatorApi);
app.all("*", handleGatewayRequest);

export default app;
