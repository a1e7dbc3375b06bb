/**
 * The body limit of the gateway's own APIs (key management, operator): 413 payload_too_large past
 * MAX_BODY_BYTES, whether the client declared the length or sent the body chunked. hono's
 * bodyLimit counts a chunked body as it reads it and hands the handler what it read; these bodies
 * are small JSON objects the handler reads whole anyway. (Forwarded bodies have their own limit,
 * proxy/body-limit.ts, which streams a body of declared length to the origin instead.)
 */
import type { MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { configOf } from "../config";
import type { AppEnv } from "../context";
import { GatewayError } from "./problem";
import { countOf } from "./plural";

/** One hono bodyLimit per limit in use (MAX_BODY_BYTES is fixed per deployment; tests vary it). */
const limiters = new Map<number, MiddlewareHandler>();

function limiterFor(maxBytes: number): MiddlewareHandler {
  let limiter = limiters.get(maxBytes);
  if (limiter === undefined) {
    limiter = bodyLimit({
      maxSize: maxBytes,
      onError: () => {
        throw new GatewayError("payload_too_large", `The request body is larger than ${countOf(maxBytes, "byte")}. These calls take a small JSON object: send only its fields.`);
      },
    });
    limiters.set(maxBytes, limiter);
  }
  return limiter;
}

export const limitRequestBody: MiddlewareHandler<AppEnv> = function limitRequestBody(c, next) {
  return limiterFor(configOf(c.env).maxBodyBytes)(c, next);
};
