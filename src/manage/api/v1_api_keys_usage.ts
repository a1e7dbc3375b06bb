/** GET /v1/api_keys/{id}/usage?days=30 — the key's requests and refusals per UTC day, and its last use. */
import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../../context";
import { keyUsage, lastDays, readKey } from "../../lifecycle";
import { usageDay } from "../schemas";
import { admissionOf, visibleKey } from "./caller";
import { jsonAnswer, keyIdParam, problems, SECURITY } from "./openapi-parts";

export const MAX_USAGE_DAYS = 90;

export const route = createRoute({
  method: "get",
  path: "/v1/api_keys/{id}/usage",
  summary: "Usage of an API key",
  description: "Needs a secret key with projects:read. Counts reach this answer within seconds of the traffic.",
  security: SECURITY,
  request: {
    params: keyIdParam,
    query: z.object({
      days: z.coerce
        .number({ error: "must be a whole number of days" })
        .int({ error: "must be a whole number of days" })
        .min(1, { error: "must be at least 1" })
        .max(MAX_USAGE_DAYS, { error: `must be at most ${MAX_USAGE_DAYS}` })
        .default(30)
        .openapi({ param: { name: "days", in: "query" }, example: 30 }),
    }),
  },
  responses: {
    200: jsonAnswer(
      z.object({ key_id: z.string(), data: z.array(usageDay), last_used_at: z.string().nullable() }),
      "One entry per UTC day, oldest first, zeros included",
    ),
    ...problems(404),
  },
});

export function register(app: OpenAPIHono<AppEnv>): void {
  app.openapi(route, async (c) => {
    const record = visibleKey(admissionOf(c), await readKey(c.env.DB, c.req.valid("param").id));
    const { from, to } = lastDays(c.req.valid("query").days);
    const data = await keyUsage(c.env.DB, record.id, from, to);
    return c.json({ key_id: record.id, data, last_used_at: record.last_used_at }, 200);
  });
}
