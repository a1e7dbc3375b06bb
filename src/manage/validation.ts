/**
 * Request validation for the management and operator APIs: zod schemas through
 * @hono/zod-validator, with failures answered as 400 `invalid_request` problems that name the
 * fields at fault.
 */
import { zValidator } from "@hono/zod-validator";
import type { ValidationTargets } from "hono";
import { z } from "zod";
import { GatewayError } from "../http/problem";
import { SCOPES } from "../policy/routes";

export function validate<Target extends keyof ValidationTargets, Schema extends z.ZodType>(target: Target, schema: Schema) {
  return zValidator(target, schema, (result) => {
    if (!result.success) {
      const problems = result.error.issues.map((issue) => `${issue.path.join(".") || target}: ${issue.message}`);
      throw new GatewayError("invalid_request", problems.join("; "), {
        members: { errors: result.error.issues.map((issue) => ({ path: issue.path.join("."), message: issue.message })) },
      });
    }
  });
}

export const scopeSchema = z.enum(SCOPES, {
  error: () => `unknown scope; valid scopes are ${SCOPES.join(", ")}`,
});

/** A browser origin as the Origin header carries it: scheme://host[:port], nothing more. */
export const originSchema = z.string().refine(
  (value) => {
    try {
      const url = new URL(value);
      return (url.protocol === "https:" || url.protocol === "http:") && url.origin === value;
    } catch {
      return false;
    }
  },
  { message: "must be an origin like https://app.example.com (scheme and host, no path or trailing slash)" },
);
