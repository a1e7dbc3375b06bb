/** GET /v1/api_keys/{id} — one key of the caller's project. */
import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../../context";
import { readKey } from "../../lifecycle";
import { keyView, toKeyView } from "../schemas";
import { admissionOf, visibleKey } from "./caller";
import { jsonAnswer, keyIdParam, problems, SECURITY } from "./openapi-parts";

export const route = createRoute({
  method: "get",
  path: "/v1/api_keys/{id}",
  summary: "Get an API key",
  description: "Needs a secret key with projects:read.",
  security: SECURITY,
  request: { params: keyIdParam },
  responses: { 200: jsonAnswer(keyView, "The key"), ...problems(404) },
});

export function register(app: OpenAPIHono<AppEnv>): void {
  app.openapi(route, async (c) => {
    const record = visibleKey(admissionOf(c), await readKey(c.env.DB, c.req.valid("param").id));
    return c.json(toKeyView(record), 200);
  });
}
