/** GET /v1/api_keys — the caller's project's keys (a test key sees test keys only); never a plaintext or hash. */
import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../../context";
import { listKeys } from "../../lifecycle";
import { keyView, toKeyView } from "../schemas";
import { admissionOf, visibleEnvironment } from "./caller";
import { jsonAnswer, problems, SECURITY } from "./openapi-parts";

export const route = createRoute({
  method: "get",
  path: "/v1/api_keys",
  summary: "List API keys",
  description: "Needs a secret key with projects:read.",
  security: SECURITY,
  responses: { 200: jsonAnswer(z.object({ data: z.array(keyView) }), "The project's keys, oldest first"), ...problems() },
});

export function register(app: OpenAPIHono<AppEnv>): void {
  app.openapi(route, async (c) => {
    const admission = admissionOf(c);
    const keys = await listKeys(c.env.DB, admission.facts.projectId, visibleEnvironment(admission));
    return c.json({ data: keys.map(toKeyView) }, 200);
  });
}
