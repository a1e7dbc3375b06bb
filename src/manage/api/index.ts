/**
 * The key management API (API.md §5), served by the gateway itself under /v1/api_keys and
 * /v1/usage. Each caller passes the same path as every other request — credentials, key index,
 * route table (projects:read / projects:write), its KeyLimiter — and gets the same rate-limit
 * headers; then the endpoint's own rules (caller.ts) apply. Bodies are limited as on forwarded
 * routes (MAX_BODY_BYTES), chunked ones included. One file per endpoint, each with its
 * OpenAPI description next to the handler.
 */
import { OpenAPIHono } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../../context";
import { admitRequest, giveBackAdmission } from "../../gateway";
import { limitRequestBody } from "../../http/body-limit";
import { setRateLimitHeaders } from "../../limiter/headers";
import { invalidRequest } from "../validation";
import * as createKey from "./v1_api_keys_create";
import * as getKey from "./v1_api_keys_get";
import * as listKeys from "./v1_api_keys_list";
import * as revokeKey from "./v1_api_keys_revoke";
import * as rollKey from "./v1_api_keys_roll";
import * as updateKey from "./v1_api_keys_update";
import * as keyUsage from "./v1_api_keys_usage";
import * as projectUsage from "./v1_usage";

/** The refusals of API.md §3, which take nothing from any bucket or quota: also when an endpoint makes them after admission. */
const REFUSALS = new Set([401, 403, 404, 413, 429]);

const requireApiKey: MiddlewareHandler<AppEnv> = async function requireApiKey(c, next) {
  const admission = await admitRequest(c);
  c.set("admission", admission);
  await next();
  c.res.headers.set("x-request-id", c.get("requestId")); // as on every forwarded answer and error (openapi-parts.ts)
  if (admission.rate === null) return;
  // An id of another project (404), a live key asked of by a test key (403): the endpoint
  // refused what the key's object had admitted, so the object takes its admission back.
  const rate = REFUSALS.has(c.res.status) ? await giveBackAdmission(c, admission.facts, admission.rate) : admission.rate;
  setRateLimitHeaders(c.res.headers, rate);
};

export const managementApi = new OpenAPIHono<AppEnv>({
  defaultHook: (result) => {
    if (!result.success) throw invalidRequest(result.error, result.target);
  },
});

// The body limit comes first: a request refused with 413 takes nothing from the key's bucket.
// "/v1/api_keys/*" matches /v1/api_keys itself too; each call passes requireApiKey once (one admission).
for (const path of ["/v1/api_keys/*", "/v1/usage"]) managementApi.use(path, limitRequestBody, requireApiKey);

for (const endpoint of [listKeys, createKey, getKey, updateKey, revokeKey, rollKey, keyUsage, projectUsage]) {
  endpoint.register(managementApi);
}
