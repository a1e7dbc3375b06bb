/** PATCH /v1/api_keys/{id} — label, scopes, allowed origins; in force on the very next request (a leased key's events: within LEASE_MS). */
import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../../context";
import { readKey, updateKey } from "../../lifecycle";
import { keyChangesBody, keyView, toKeyChanges, toKeyView } from "../schemas";
import { actorOf, admissionOf, visibleKey } from "./caller";
import { jsonAnswer, keyIdParam, problems, SECURITY } from "./openapi-parts";

export const route = createRoute({
  method: "patch",
  path: "/v1/api_keys/{id}",
  summary: "Update an API key",
  description: "Needs a secret key with projects:write. Changes reach the key's limiter at once: the next request sees them, in every location — except the events of a key busy enough to be admitted from a token lease, which see them within LEASE_MS (1 s by default, 2 s at most). A revoked key cannot be changed (409).",
  security: SECURITY,
  request: { params: keyIdParam, body: { required: true, content: { "application/json": { schema: keyChangesBody } } } },
  responses: { 200: jsonAnswer(keyView, "The key as changed"), ...problems(404, 409) },
});

export function register(app: OpenAPIHono<AppEnv>): void {
  app.openapi(route, async (c) => {
    const admission = admissionOf(c);
    const record = visibleKey(admission, await readKey(c.env.DB, c.req.valid("param").id));
    const changes = toKeyChanges(record, c.req.valid("json"));
    return c.json(toKeyView(await updateKey(c.env, record, changes, actorOf(c, admission, "key.update"))), 200);
  });
}
