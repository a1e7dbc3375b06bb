/** GET /v1/api_keys — the caller's project's keys (a test key sees test keys only); never a plaintext or hash. */
import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../../env";
import { listKeys } from "../../keys/key-records";
import { keyView, toKeyView } from "../schemas";
import { admissionOf } from "./caller";
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
    const { facts } = admissionOf(c);
    const keys = await listKeys(c.env.DB, facts.projectId, facts.environment === "test" ? "test" : undefined);
    return c.json({ data: keys.map(toKeyView) }, 200);
  });
}
