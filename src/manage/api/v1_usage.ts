/** GET /v1/usage?from=&to= — the project's requests and refusals per key per UTC day. */
import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../../context";
import { GatewayError } from "../../http/problem";
import { DAY_MS } from "../../limiter/bucket";
import { lastDays, projectUsage } from "../../lifecycle";
import { usageDay } from "../schemas";
import { admissionOf } from "./caller";
import { MAX_USAGE_DAYS } from "./v1_api_keys_usage";
import { jsonAnswer, problems, SECURITY } from "./openapi-parts";
import { countOf } from "../../http/plural";

export const day = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, { error: "must be a UTC day, YYYY-MM-DD" })
  .refine((value) => !Number.isNaN(Date.parse(value)) && new Date(value).toISOString().startsWith(value), {
    error: "is not a calendar day",
  });

export const route = createRoute({
  method: "get",
  path: "/v1/usage",
  summary: "Usage of the project",
  description: `Needs a secret key with projects:read. Days from \`from\` to \`to\` inclusive (UTC, at most ${MAX_USAGE_DAYS} days); default the last 30. A test key sees its test keys only.`,
  security: SECURITY,
  request: {
    query: z.object({
      from: day.optional().openapi({ param: { name: "from", in: "query" }, example: "2026-11-01" }),
      to: day.optional().openapi({ param: { name: "to", in: "query" }, example: "2026-11-26" }),
    }),
  },
  responses: {
    200: jsonAnswer(
      z.object({ from: z.string(), to: z.string(), data: z.array(usageDay.extend({ key_id: z.string() })) }),
      "Counted days per key, oldest first",
    ),
    ...problems(),
  },
});

export function register(app: OpenAPIHono<AppEnv>): void {
  app.openapi(route, async (c) => {
    const { facts } = admissionOf(c);
    const { from, to } = usageRange(c.req.valid("query"));
    const data = await projectUsage(c.env.DB, facts.projectId, from, to, facts.environment === "test" ? "test" : null);
    return c.json({ from, to, data }, 200);
  });
}

/**
 * The days asked for: `from` to `to` inclusive, 30 days when one or both are left out (ending
 * today when both are), at most MAX_USAGE_DAYS. Shared with the operator API's project usage.
 */
export function usageRange(query: { from?: string; to?: string }): { from: string; to: string } {
  const to = query.to ?? (query.from !== undefined ? addDays(query.from, 29) : lastDays(30).to);
  const from = query.from ?? addDays(to, -29);
  if (from > to) throw new GatewayError("invalid_request", `from (${from}) is after to (${to}). Swap them.`);
  const span = (Date.parse(to) - Date.parse(from)) / DAY_MS + 1;
  if (span > MAX_USAGE_DAYS) {
    throw new GatewayError("invalid_request", `The range covers ${countOf(span, "day")}; ask for at most ${MAX_USAGE_DAYS} at a time.`);
  }
  return { from, to };
}

function addDays(day: string, days: number): string {
  return new Date(Date.parse(day) + days * DAY_MS).toISOString().slice(0, 10);
}
