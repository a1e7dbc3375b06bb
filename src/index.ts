/**
 * The Composite edge gateway Worker: the operator API under /_operator, the Analytics Dashboard
 * under /dashboard, the key management API (/v1/api_keys, /v1/usage) and its OpenAPI document,
 * and every other request through the gateway's hot path (src/gateway.ts) to the origin.
 * Exports the Durable Object classes.
 */
import { Hono } from "hono";
import { dashboard } from "./dashboard";
import type { AppEnv } from "./context";
import { handleGatewayRequest } from "./gateway";
import { browserAccess } from "./http/browser-access";
import { renderError, requestContext } from "./http/request-context";
import { managementApi } from "./manage/api";
import { openApiDocument } from "./manage/openapi";
import { operatorApi } from "./manage/operator";

export { KeyLimiter } from "./limiter/key-limiter";
export { FailedAuthGuard } from "./guard/failed-auth";

const app = new Hono<AppEnv>();
app.use(requestContext);
app.onError(renderError);
app.use("/v1/*", browserAccess);
app.route("/_operator", operatorApi);
app.route("/dashboard", dashboard);
app.get("/openapi.json", (c) => c.json(openApiDocument() as object, 200, { "cache-control": "public, max-age=300" }));
app.route("/", managementApi);
app.all("*", handleGatewayRequest);

export default app;
