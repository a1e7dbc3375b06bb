/**
 * Request id and the one structured log line per request.
 *
 * The log line is built from an allow-list of fields: method, path (never the query string,
 * which may carry `?api_key=`; key-shaped path segments redacted), route pattern, status, error code, key id, project id, latency.
 * Nothing from the request's headers or body is logged, so a key, its hash or an Authorization
 * header cannot reach the logs by accident.
 */
import type { Context, ErrorHandler, MiddlewareHandler } from "hono";
import { HTTPException } from "hono/http-exception";
import { ConfigError, configOf } from "../config";
import type { AppEnv } from "../context";
import { GatewayError, notJsonBody, problemResponse } from "./problem";
import { redactKeys } from "./redact";

export function newRequestId(): string {
  return "req_" + crypto.randomUUID().replaceAll("-", "");
}

export const requestContext: MiddlewareHandler<AppEnv> = async function requestContext(c, next) {
  const started = Date.now();
  c.set("requestId", newRequestId());
  configOf(c.env); // a bad variable fails every request alike, loudly, before any of them does anything
  await next();
  logRequest(c, Date.now() - started);
};

function logRequest(c: Context<AppEnv>, latencyMs: number): void {
  const status = c.res.status;
  console.log(
    JSON.stringify({
      level: status >= 500 ? "error" : status >= 400 ? "warn" : "info",
      msg: "request",
      time: new Date().toISOString(),
      request_id: c.get("requestId"),
      method: c.req.method,
      path: redactKeys(c.req.path),
      route: c.get("route") ?? null,
      status,
      code: c.get("errorCode") ?? null,
      key_id: c.get("keyId") ?? null,
      project_id: c.get("projectId") ?? null,
      latency_ms: latencyMs,
    }),
  );
}

/** Renders thrown GatewayErrors as problem+json; anything else is a 500 that reveals nothing. */
export const renderError: ErrorHandler<AppEnv> = function renderError(err, c) {
  const requestId = c.get("requestId") ?? newRequestId();
  if (err instanceof HTTPException && err.status === 400) {
    // Hono's validator says so for a body that is not JSON; its message quotes no input.
    err = new GatewayError("invalid_request", `${err.message}. Send a JSON object with content-type: application/json.`);
  } else if (err instanceof HTTPException && err.status === 415) {
    // @hono/zod-openapi, for a body sent without a JSON content type (curl -d sends a form type).
    err = notJsonBody();
  }
  if (err instanceof GatewayError) {
    c.set("errorCode", err.code);
    return problemResponse(err, requestId);
  }
  if (err instanceof ConfigError) {
    // Names the variables at fault and what they should be, never a secret's value (config.ts).
    console.error(JSON.stringify({ level: "error", msg: "bad configuration", request_id: requestId, problems: err.problems }));
    c.set("errorCode", "internal_error");
    return problemResponse(
      new GatewayError("internal_error", `The gateway is misconfigured and cannot serve requests; its operator has been told in the logs (request id ${requestId}).`),
      requestId,
    );
  }
  // The message of an unexpected error may quote input; log only its class and stack position.
  console.error(JSON.stringify({ level: "error", msg: "unhandled", request_id: requestId, error: err.name }));
  c.set("errorCode", "internal_error");
  return problemResponse(
    new GatewayError("internal_error", `Something went wrong on our side. Retry later; quote request id ${requestId} if it persists.`),
    requestId,
  );
};
