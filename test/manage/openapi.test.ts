/** /openapi.json describes the whole public API: management endpoints and every forwarded route. */
import { describe, expect, it } from "vitest";
import { ROUTES } from "../../src/policy/routes";
import { gateway } from "../helpers";

interface Operation {
  description?: string;
  security?: Record<string, string[]>[];
  responses: Record<string, { headers?: Record<string, unknown>; content?: Record<string, unknown> }>;
  requestBody?: { content: Record<string, { schema: unknown }> };
}
type Doc = { openapi: string; paths: Record<string, Record<string, Operation>>; components: { schemas: Record<string, unknown>; securitySchemes: Record<string, unknown> } };

describe("/openapi.json", () => {
  it("is served without a key and describes every route of the table", async () => {
    const res = await gateway("/openapi.json");
    expect(res.status).toBe(200);
    const doc = (await res.json()) as Doc;
    expect(doc.openapi).toBe("3.1.0");
    expect(Object.keys(doc.components.securitySchemes).sort()).toEqual(["apiKeyQuery", "basicAuth", "bearerAuth"]);
    for (const rule of ROUTES) {
      const path = rule.path.replace(":id", "{id}").replace("*", "{path}");
      const methods = rule.methods === "any" ? ["get", "post", "put", "patch", "delete"] : rule.methods.map((m) => m.toLowerCase());
      for (const method of methods) {
        const operation = doc.paths[path]?.[method];
        expect(operation, `${method} ${path}`).toBeDefined();
        expect(operation!.security?.length).toBeGreaterThan(0);
        const ok = operation!.responses["200"] ?? operation!.responses["201"];
        expect(ok?.headers, `${method} ${path}`).toHaveProperty("RateLimit");
        expect(ok?.headers).toHaveProperty("X-RateLimit-Remaining");
        expect(operation!.responses["429"]).toBeDefined();
        if (!rule.gateway) expect(operation!.description?.includes("LEASE_MS"), `${method} ${path}: the lease bound where it applies`).toBe(rule.leased === true);
      }
    }
  });

  it("documents the management request bodies from the validating schemas", async () => {
    const doc = (await (await gateway("/openapi.json")).json()) as Doc;
    const create = doc.paths["/v1/api_keys"]!.post!;
    expect(JSON.stringify(create.requestBody)).toContain("NewApiKey");
    expect(doc.components.schemas).toHaveProperty("NewApiKey");
    expect(doc.components.schemas).toHaveProperty("ApiKey");
    expect(doc.components.schemas).toHaveProperty("Problem");
    expect(JSON.stringify(doc.components.schemas.NewApiKey)).toContain("billing:write");
    expect(doc.paths["/v1/api_keys/{id}/roll"]!.post!.responses).toHaveProperty("409");
  });
});
