/** Operator API: every bad input gets a clear 4xx problem and changes nothing. */
import { describe, expect, it } from "vitest";
import { env, expectProblem, gateway, newProject, operator, OPERATOR_TOKEN } from "../helpers";

async function keyCount(): Promise<number> {
  return (await env.DB.prepare("SELECT COUNT(*) AS n FROM api_keys").first<{ n: number }>())!.n;
}

describe("operator API errors", () => {
  it.each([
    ["unknown type", { type: "root" }, "type"],
    ["unknown environment", { environment: "prod" }, "environment"],
    ["empty label", { label: " " }, "label"],
    ["unknown scope, with the valid ones listed", { type: "secret", scopes: ["events:write", "admin:all"] }, "valid scopes are events:write"],
    ["scopes on a public key", { scopes: ["events:write"] }, "scopes"],
    ["allowed origins on a secret key", { type: "secret", allowed_origins: ["https://a.example"] }, "allowed_origins"],
    ["an origin with a path", { allowed_origins: ["https://a.example/app"] }, "allowed_origins"],
    ["an origin that is not a URL", { allowed_origins: ["a.example"] }, "allowed_origins"],
    ["expiry in the past", { expires_at: "2020-01-01T00:00:00Z" }, "expires_at"],
    ["expiry not ISO 8601", { expires_at: "tomorrow" }, "expires_at: expected an ISO 8601 date-time"],
    ["a date that does not exist", { expires_at: "2030-02-30" }, "expires_at"],
    ["a date in the past", { expires_at: "2020-01-01" }, "expires_at: must be in the future"],
    ["an unknown field", { colour: "red" }, "colour"],
  ])("create key: %s → 400 invalid_request", async (_name, override, mention) => {
    const project = await newProject();
    const before = await keyCount();
    const res = await operator("POST", "/keys", { project_id: project, type: "public", environment: "test", label: "x", ...override });
    const body = await expectProblem(res, 400, "invalid_request");
    expect(body.detail).toContain(mention);
    expect(await keyCount()).toBe(before);
  });

  it("create key: malformed JSON → 400", async () => {
    const res = await gateway("/_operator/keys", {
      method: "POST",
      headers: { authorization: `Bearer ${OPERATOR_TOKEN}`, "content-type": "application/json" },
      body: "{not json",
    });
    await expectProblem(res, 400, "invalid_request");
  });

  it("create key for an unknown project → 404", async () => {
    const res = await operator("POST", "/keys", { project_id: "proj_nope", type: "public", environment: "test", label: "x" });
    await expectProblem(res, 404, "not_found");
  });

  it("list keys or read the audit log of an unknown project → 404, not an empty list", async () => {
    await expectProblem(await operator("GET", "/keys?project_id=proj_nope"), 404, "not_found");
    await expectProblem(await operator("GET", "/audit?project_id=proj_nope"), 404, "not_found");
  });

  it.each(["text/plain", "application/x-www-form-urlencoded", null])("a body sent as %s → 400 naming the content type, nothing created", async (contentType) => {
    const project = await newProject();
    const before = await keyCount();
    const headers: Record<string, string> = { authorization: `Bearer ${OPERATOR_TOKEN}` };
    if (contentType !== null) headers["content-type"] = contentType;
    const body = JSON.stringify({ project_id: project, type: "public", environment: "test", label: "x" });
    const res = await gateway("/_operator/keys", { method: "POST", headers, body });
    const problem = await expectProblem(res, 400, "invalid_request");
    expect(problem.detail).toContain("content-type: application/json");
    expect(await keyCount()).toBe(before);
  });

  it("create project without a name → 400", async () => {
    await expectProblem(await operator("POST", "/projects", {}), 400, "invalid_request");
  });

  it("list keys without project_id → 400", async () => {
    await expectProblem(await operator("GET", "/keys"), 400, "invalid_request");
  });

  it("get or revoke an unknown key → 404", async () => {
    await expectProblem(await operator("GET", "/keys/key_nope"), 404, "not_found");
    await expectProblem(await operator("DELETE", "/keys/key_nope"), 404, "not_found");
  });
});
