/** POST /v1/api_keys — create a key in the caller's project; the plaintext is in this answer only. */
import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../../context";
import { createKey } from "../../lifecycle";
import { createdKeyView, newKeyBody, toKeyView, toNewKey } from "../schemas";
import { actorOf, admissionOf, requireEnvironment } from "./caller";
import { jsonAnswer, problems, SECURITY } from "./openapi-parts";

export const route = createRoute({
  method: "post",
  path: "/v1/api_keys",
  summary: "Create an API key",
  description: "Needs a secret key with projects:write. A test key creates only test keys; no key creates one that can do more than itself.",
  security: SECURITY,
  request: { body: { required: true, content: { "application/json": { schema: newKeyBody } } } },
  responses: { 201: jsonAnswer(createdKeyView, "The new key, with `key` shown this once"), ...problems() },
});

export function register(app: OpenAPIHono<AppEnv>): void {
  app.openapi(route, async (c) => {
    const admission = admissionOf(c);
    const input = toNewKey(admission.facts.projectId, c.req.valid("json"));
    requireEnvironment(admission, input.environment);
    const { record, key } = await createKey(c.env, input, actorOf(c, admission, "key.create"));
    c.header("cache-control", "no-store");
    return c.json({ ...toKeyView(record), key }, 201);
  });
}
