/**
 * Problem details (RFC 9457) for every error the gateway answers, with the codes of API.md §2.
 * Handlers throw a GatewayError; the app's error handler renders it with the request id. The
 * detail text says what to do next and never echoes what the client sent: a presented key must
 * not come back in a response body.
 */

export const PROBLEM_CONTENT_TYPE = "application/problem+json";
const TYPE_BASE = "https://docs.composite.dev/errors/";

/** Status and title of each error code, once. */
export const ERRORS = {
  invalid_request: [400, "Invalid request"],
  ambiguous_credentials: [400, "Ambiguous credentials"],
  missing_api_key: [401, "Missing API key"],
  api_key_whitespace: [401, "Whitespace around API key"],
  malformed_api_key: [401, "Malformed API key"],
  invalid_api_key: [401, "Invalid API key"],
  revoked_api_key: [401, "Revoked API key"],
  expired_api_key: [401, "Expired API key"],
  invalid_operator_token: [401, "Invalid operator token"],
  insufficient_permissions: [403, "Insufficient permissions"],
  origin_not_allowed: [403, "Origin not allowed"],
  secret_key_in_browser: [403, "Secret key in browser"],
  https_required: [403, "HTTPS required"],
  operator_api_disabled: [403, "Operator API disabled"],
  cross_site_request: [403, "Cross-site request refused"],
  not_found: [404, "Not found"],
  route_not_found: [404, "Route not found"],
  method_not_allowed: [405, "Method not allowed"],
  conflict: [409, "Conflict"],
  payload_too_large: [413, "Payload too large"],
  rate_limited: [429, "Rate limited"],
  daily_quota_exceeded: [429, "Daily quota exceeded"],
  too_many_failed_attempts: [429, "Too many failed attempts"],
  internal_error: [500, "Internal error"],
  origin_unavailable: [502, "Origin unavailable"],
  limiter_unavailable: [503, "Limiter unavailable"],
  storage_unavailable: [503, "Storage unavailable"],
  origin_timeout: [504, "Origin timeout"],
} as const satisfies Record<string, readonly [number, string]>;

export type ErrorCode = keyof typeof ERRORS;

/** The 401 challenge of RFC 6750; `error` only once a key was actually presented. */
export const CHALLENGE_NO_KEY = 'Bearer realm="composite"';
export const CHALLENGE_BAD_KEY = 'Bearer realm="composite", error="invalid_token"';

export class GatewayError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    readonly detail: string,
    readonly extra: { headers?: Record<string, string>; members?: Record<string, unknown> } = {},
  ) {
    super(`${code}: ${detail}`);
    this.status = ERRORS[code][0];
  }
}

export function problemResponse(error: GatewayError, requestId: string): Response {
  const [status, title] = ERRORS[error.code];
  const body = {
    type: TYPE_BASE + error.code,
    title,
    status,
    detail: error.detail,
    code: error.code,
    request_id: requestId,
    ...error.extra.members,
  };
  const headers = new Headers(error.extra.headers);
  headers.set("content-type", PROBLEM_CONTENT_TYPE);
  headers.set("x-request-id", requestId);
  if (status === 401 && !headers.has("www-authenticate")) {
    headers.set("www-authenticate", error.code === "missing_api_key" ? CHALLENGE_NO_KEY : CHALLENGE_BAD_KEY);
  }
  return new Response(JSON.stringify(body), { status, headers });
}

/** A body not sent as JSON: the operator API's own check and @hono/zod-openapi's 415 answer alike. */
export function notJsonBody(): GatewayError {
  return new GatewayError("invalid_request", "The body must be JSON, sent with content-type: application/json (curl: -H 'content-type: application/json').");
}
