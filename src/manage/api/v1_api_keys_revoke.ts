/** DELETE /v1/api_keys/{id} — revoke: refused from the very next request, in every location (a leased key's events: within LEASE_MS). Idempotent. */
import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../../context";
import { readKey, revokeKey } from "../../lifecycle";
import { keyView, toKeyView } from "../schemas";
import { actorOf, admissionOf, visibleKey } from "./caller";
import { jsonAnswer, keyIdParam, problems, SECURITY } from "./openapi-parts";

export const route = createRoute({
  method: "delete",
  path: "/v1/api_keys/{id}",
  summary: "Revoke an API key",
  description: "Needs a secret key with projects:write. The key's limiter refuses it from the next request on — the events of a key busy enough to be admitted from a token lease within LEASE_MS (1 s by default, 2 s at most); revoking twice changes nothing.",
  security: SECURITY,
  request: { params: keyIdParam },
  responses: { 200: jsonAnswer(keyView, "The revoked key"), ...problems(404) },
});

export function register(app: OpenAPIHono<AppEnv>): void {
  app.openapi(route, async (c) => {
    const admission = admissionOf(c);
    const record = visibleKey(admission, await readKey(c.env.DB, c.req.valid("param").id));
    return c.json(toKeyView(await revokeKey(c.env, record, actorOf(c, admission, "key.revoke"))), 200);
  });
}
