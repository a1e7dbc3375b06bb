/**
 * Request validation failures as 400 `invalid_request` problems that name the fields at fault —
 * the one shape for @hono/zod-validator (operator API) and @hono/zod-openapi (management API).
 */
import { zValidator } from "@hono/zod-validator";
import type { MiddlewareHandler, ValidationTargets } from "hono";
import type { z } from "zod";
import { GatewayError, notJsonBody } from "../http/problem";

interface Issues {
  issues: readonly { path: readonly PropertyKey[]; message: string }[];
}

export function invalidRequest(error: Issues, target: string): GatewayError {
  const problems = error.issues.map((issue) => `${issue.path.map(String).join(".") || target}: ${issue.message}`);
  return new GatewayError("invalid_request", problems.join("; "), {
    members: { errors: error.issues.map((issue) => ({ path: issue.path.map(String).join("."), message: issue.message })) },
  });
}

const BODY_METHODS = new Set(["POST", "PUT", "PATCH"]);
const JSON_CONTENT_TYPE = /^application\/([a-z0-9.+-]*\+)?json\s*(;|$)/i;

/**
 * @hono/zod-validator reads a body without a JSON content type as `{}` and would answer with
 * field errors that miss the point; this says what is wrong instead.
 */
export const requireJsonBody: MiddlewareHandler = async function requireJsonBody(c, next) {
  if (BODY_METHODS.has(c.req.method) && !JSON_CONTENT_TYPE.test(c.req.header("content-type") ?? "")) throw notJsonBody();
  await next();
};

export function validate<Target extends keyof ValidationTargets, Schema extends z.ZodType>(target: Target, schema: Schema) {
  return zValidator(target, schema, (result) => {
    if (!result.success) throw invalidRequest(result.error, target);
  });
}
