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
import { admitRequest } from "../../gateway";
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

const requireApiKey: MiddlewareHandler<AppEnv> = async function requireApiKey(c, next) {
  const admission = await admitRequest(c);
  c.set("admission", admission);
  await next();
  if (admission.rate !== null) setRateLimitHeaders(c.res.headers, admission.rate);
};

export const managementApi = new OpenAPIHono<AppEnv>({
  defaultHook: (result) => {
    if (!result.success) throw invalidRequest(result.error, result.target);
  },
});

// The body limit comes first: a request refused with 413 takes nothing from the key's bucket.
for (const path of ["/v1/api_keys", "/v1/api_keys/*", "/v1/usage"]) managementApi.use(path, limitRequestBody, requireApiKey);

for (const endpoint of [listKeys, createKey, getKey, updateKey, revokeKey, rollKey, keyUsage, projectUsage]) {
  endpoint.register(managementApi);
}
