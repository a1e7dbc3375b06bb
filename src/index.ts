/**
 * The Composite edge gateway Worker: the operator API under /_operator, and every other request
 * through the gateway's hot path (src/gateway.ts). Exports the KeyLimiter Durable Object class.
 */
import { Hono } from "hono";
import type { AppEnv } from "./env";
import { handleGatewayRequest } from "./gateway";
import { renderError, requestContext } from "./http/request-context";
import { operatorApi } from "./manage/operator";

export { KeyLimiter } from "./limiter/key-limiter";

const app = new Hono<AppEnv>();
app.use(requestContext);
app.onError(renderError);
app.route("/_operator", operatorApi);
app.all("*", handleGatewayRequest);

export default app;
