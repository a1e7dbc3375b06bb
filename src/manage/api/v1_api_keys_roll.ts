/**
 * POST /v1/api_keys/{id}/roll — Stripe's model: a new key with the same settings, and the old
 * one working `expires_in` seconds more (0 … 7 days), then answering expired_api_key.
 */
import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../../env";
import { GatewayError } from "../../http/problem";
import { getKey, rollKey, type RollRefusal } from "../../keys/key-records";
import { createdKeyView, rollBody, toKeyView } from "../schemas";
import { admissionOf, auditBy, requireNoEscalation, visibleKey } from "./caller";
import { jsonAnswer, keyIdParam, problems, SECURITY } from "./openapi-parts";

export const route = createRoute({
  method: "post",
  path: "/v1/api_keys/{id}/roll",
  summary: "Roll an API key",
  description:
    "Needs a secret key with projects:write. Answers the new key (shown this once); the old key expires after `expires_in` seconds, or sooner if it was already expiring sooner. A key is rolled once: roll its replacement next time. Revoked and expired keys cannot be rolled (409).",
  security: SECURITY,
  request: { params: keyIdParam, body: { required: true, content: { "application/json": { schema: rollBody } } } },
  responses: { 201: jsonAnswer(createdKeyView, "The replacement key, with `key` shown this once"), ...problems(404, 409) },
});

export const ROLL_REFUSALS: Record<RollRefusal, string> = {
  revoked: "This key is revoked and cannot be rolled. Create a new key instead.",
  expired: "This key has expired and cannot be rolled. Create a new key instead.",
  already_rolled: "This key was already rolled. Roll its replacement (rolled_to) instead.",
};

export function register(app: OpenAPIHono<AppEnv>): void {
  app.openapi(route, async (c) => {
    const admission = admissionOf(c);
    const old = visibleKey(admission, await getKey(c.env.DB, c.req.valid("param").id));
    requireNoEscalation(admission, old);
    const rolled = await rollKey(c.env, old, c.req.valid("json").expires_in, auditBy(c, "key.roll"));
    if (typeof rolled === "string") {
      const current = rolled === "already_rolled" ? await getKey(c.env.DB, old.id) : old;
      throw new GatewayError("conflict", ROLL_REFUSALS[rolled], { members: { rolled_to: current?.rolled_to ?? null } });
    }
    c.header("cache-control", "no-store");
    return c.json({ ...toKeyView(rolled.record), key: rolled.key }, 201);
  });
}
