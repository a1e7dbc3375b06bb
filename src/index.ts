/**
 * The Composite edge gateway Worker: the operator API under /_operator, the key management API
 * (/v1/api_keys, /v1/usage) and its OpenAPI document, and every other request through the
 * gateway's hot path (src/gateway.ts) to the origin. Exports the Durable Object classes.
 */
import { Hono } from "hono";
import { cors } from "hono/cors";
import type { AppEnv } from "./env";
import { handleGatewayRequest } from "./gateway";
import { renderError, requestContext } from "./http/request-context";
import { managementApi } from "./manage/api";
import { openApiDocument } from "./manage/openapi";
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
app.get("/openapi.json", (c) => c.json(openApiDocument() as object, 200, { "cache-control": "public, max-age=300" }));
app.route("/", managementApi);
app.all("*", handleGatewayRequest);

export default app;
