/**
 * The OpenAPI document of the whole public API, served at /openapi.json: the management
 * endpoints from their own route descriptions, and every forwarded route generated from the
 * route table — so the document cannot drift from what the gateway enforces.
 */
import { z } from "@hono/zod-openapi";
import { ROUTES, type RouteRule } from "../policy/routes";
import { managementApi } from "./api";
import { problems, RATE_LIMIT_HEADERS, SECURITY } from "./api/openapi-parts";

const ANY_METHODS = ["get", "post", "put", "patch", "delete"] as const;
type Method = (typeof ANY_METHODS)[number];

function describe(rule: RouteRule): string {
  const who =
    rule.permission === "admin"
      ? "an unrestricted secret key"
      : `a key with \`${rule.permission}\`${rule.publicKey ? " (public keys included)" : " (secret keys only)"}`;
  const failure = rule.class === "ingest" ? "goes through (fail open)" : "is refused with 503 (fail closed)";
  const lease = rule.leased ? " A busy key's requests here are admitted from a token lease: a change to the key (a revoke, say) reaches them within LEASE_MS (1 s by default, 2 s at most)." : "";
  return `Forwarded to the origin. Needs ${who}. If the key's limiter cannot be reached, the request ${failure}.${lease}`;
}

function registerForwardedRoutes(): void {
  for (const rule of ROUTES) {
    if (rule.gateway) continue;
    const path = rule.path.replace(":id", "{id}").replace("*", "{path}");
    const params: Record<string, z.ZodString> = {};
    if (rule.path.includes(":id")) params.id = z.string().openapi({ param: { name: "id", in: "path" } });
    if (rule.path.endsWith("*")) params.path = z.string().openapi({ param: { name: "path", in: "path" }, description: "One or more path segments" });
    const methods: readonly Method[] = rule.methods === "any" ? ANY_METHODS : rule.methods.map((m) => m.toLowerCase() as Method);
    for (const method of methods) {
      managementApi.openAPIRegistry.registerPath({
        method,
        path,
        summary: `${rule.action[0]!.toUpperCase()}${rule.action.slice(1)}`,
        description: describe(rule),
        tags: ["forwarded"],
        security: SECURITY,
        request: Object.keys(params).length > 0 ? { params: z.object(params) } : undefined,
        responses: {
          200: { description: "The origin's answer, unchanged, plus the rate-limit headers", headers: RATE_LIMIT_HEADERS },
          ...problems(404, 413),
          502: { description: "origin_unavailable" },
          504: { description: "origin_timeout" },
        },
      });
    }
  }
  const registry = managementApi.openAPIRegistry;
  registry.registerComponent("securitySchemes", "bearerAuth", { type: "http", scheme: "bearer", description: "Authorization: Bearer <key> (preferred)" });
  registry.registerComponent("securitySchemes", "basicAuth", { type: "http", scheme: "basic", description: "The key as user name, empty password (curl -u key:)" });
  registry.registerComponent("securitySchemes", "apiKeyQuery", { type: "apiKey", in: "query", name: "api_key", description: "Accepted; query strings end up in logs" });
}

let document: unknown;

export function openApiDocument(): unknown {
  if (document === undefined) {
    registerForwardedRoutes();
    document = managementApi.getOpenAPI31Document({
      openapi: "3.1.0",
      info: {
        title: "Composite Analytics API",
        version: "1",
        description:
          "Every request passes the Composite edge gateway: API key authentication (pk_ public / sk_ secret), permissions, per-key rate limits and daily quotas. Errors are application/problem+json.",
      },
    });
  }
  return document;
}
