/** Pieces every management route's OpenAPI description shares: security, errors, limit headers. */
import { z } from "@hono/zod-openapi";

export const SECURITY: Record<string, string[]>[] = [{ bearerAuth: [] }, { basicAuth: [] }, { apiKeyQuery: [] }];

export const problemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    code: z.string().openapi({ example: "insufficient_permissions" }),
    request_id: z.string().openapi({ example: "req_6d85ef1a61f34d188761b296728ec30b" }),
  })
  .openapi("Problem");

const integerHeader = (description: string) => ({ description, schema: { type: "integer" as const } });

/** The rate-limit headers of API.md §3, on every answer to a valid key. */
export const RATE_LIMIT_HEADERS = {
  "RateLimit-Policy": { description: 'draft-ietf-httpapi-ratelimit-headers: `"burst";q=<burst>;w=<s>, "daily";q=<quota>;w=86400`', schema: { type: "string" as const } },
  RateLimit: { description: 'The policy closest to exhaustion: `"<policy>";r=<remaining>;t=<seconds>`', schema: { type: "string" as const } },
  "X-RateLimit-Limit": integerHeader("Bucket size (burst)"),
  "X-RateLimit-Remaining": integerHeader("Whole tokens left in the bucket"),
  "X-RateLimit-Reset": integerHeader("Epoch seconds when the bucket is full again"),
  "X-RateLimit-Limit-Day": integerHeader("Daily quota"),
  "X-RateLimit-Remaining-Day": integerHeader("Requests left today (UTC)"),
  "X-RateLimit-Reset-Day": integerHeader("Epoch seconds of the next 00:00 UTC"),
  "X-Request-Id": { description: "The request's id, also in logs and error bodies", schema: { type: "string" as const } },
};

const ERROR_DESCRIPTIONS: Record<number, string> = {
  400: "invalid_request, ambiguous_credentials",
  401: "missing_api_key, api_key_whitespace, malformed_api_key, invalid_api_key, revoked_api_key, expired_api_key",
  403: "insufficient_permissions, origin_not_allowed, secret_key_in_browser, https_required",
  404: "not_found, route_not_found",
  409: "conflict",
  413: "payload_too_large",
  429: "rate_limited, daily_quota_exceeded, too_many_failed_attempts (with Retry-After)",
  503: "limiter_unavailable, storage_unavailable (with Retry-After)",
};

export function problems(...statuses: number[]) {
  return Object.fromEntries(
    [400, 401, 403, 429, 503, ...statuses].map((status) => [
      status,
      { description: ERROR_DESCRIPTIONS[status] ?? "error", content: { "application/problem+json": { schema: problemSchema } } },
    ]),
  );
}

export function jsonAnswer<T extends z.ZodType>(schema: T, description: string) {
  return { description, headers: RATE_LIMIT_HEADERS, content: { "application/json": { schema } } };
}

export const keyIdParam = z.object({ id: z.string().min(1).openapi({ param: { name: "id", in: "path" }, example: "key_3kq0ZyXbW1mT8vR2nL5p" }) });
