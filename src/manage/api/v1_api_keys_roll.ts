/**
 * POST /v1/api_keys/{id}/roll — Stripe's model: a new key with the same settings, and the old
 * one working `expires_in` seconds more (0 … 7 days), then answering expired_api_key.
 */
import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../../context";
import { readKey, rollKey } from "../../lifecycle";
import { createdKeyView, rollBody, toKeyView } from "../schemas";
import { actorOf, admissionOf, visibleKey } from "./caller";
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

export function register(app: OpenAPIHono<AppEnv>): void {
  app.openapi(route, async (c) => {
    const admission = admissionOf(c);
    const old = visibleKey(admission, await readKey(c.env.DB, c.req.valid("param").id));
    const rolled = await rollKey(c.env, old, c.req.valid("json").expires_in, actorOf(c, admission, "key.roll"));
    c.header("cache-control", "no-store");
    return c.json({ ...toKeyView(rolled.record), key: rolled.key }, 201);
  });
}
