/** Operator API: deny by default, constant-time token check, no secrets in answers. */
import { createExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import worker from "../../src/index";
import { env, expectProblem, gateway, newProject, OPERATOR_TOKEN, sendWith } from "../helpers";

describe("operator API security", () => {
  it.each([
    ["no token", {}],
    ["a wrong token", { authorization: "Bearer not-the-token" }],
    ["the token with a suffix", { authorization: `Bearer ${OPERATOR_TOKEN}x` }],
    ["a prefix of the token", { authorization: `Bearer ${OPERATOR_TOKEN.slice(0, -1)}` }],
    ["the token as Basic", { authorization: `Basic ${btoa(`${OPERATOR_TOKEN}:`)}` }],
  ])("refuses %s with 401", async (_name, headers) => {
    for (const [method, path] of [["GET", "/projects"], ["POST", "/projects"], ["GET", "/keys?project_id=x"], ["DELETE", "/keys/key_x"]] as const) {
      const res = await gateway(`/_operator${path}`, { method, headers: { ...headers, "content-type": "application/json" }, body: method === "POST" ? '{"name":"x"}' : undefined });
      const body = await expectProblem(res, 401, "invalid_operator_token", OPERATOR_TOKEN);
      expect(res.headers.get("www-authenticate")).toBe('Bearer realm="composite-operator"');
      expect(JSON.stringify(body)).not.toContain(OPERATOR_TOKEN);
    }
    expect(await env.DB.prepare("SELECT COUNT(*) AS n FROM projects WHERE name = 'x'").first("n")).toBe(0);
  });

  it("is off entirely when no OPERATOR_TOKEN is configured, whatever is sent", async () => {
    for (const authorization of ["Bearer ", "Bearer undefined", `Bearer ${OPERATOR_TOKEN}`]) {
      const res = await worker.fetch(
        new Request("https://gateway.test/_operator/projects", { headers: { authorization } }),
        { ...env, OPERATOR_TOKEN: "" },
        createExecutionContext(),
      );
      await expectProblem(res, 403, "operator_api_disabled");
    }
  });

  it("an API key, even an unrestricted secret one, is not an operator token", async () => {
    const project = await newProject();
    const res = await gateway("/_operator/keys", {
      method: "POST",
      headers: { authorization: "Bearer sk_test_Composite0Gateway0Test0Vector0120FBRzN" },
      body: JSON.stringify({ project_id: project, type: "secret", environment: "live", label: "x" }),
    });
    await expectProblem(res, 401, "invalid_operator_token");
  });

  describe("plain HTTP (API.md §6: 403 https_required, as on the API)", () => {
    const call = (url: string, init: RequestInit = {}) =>
      sendWith(env, new Request(url, { ...init, headers: { authorization: `Bearer ${OPERATOR_TOKEN}`, "content-type": "application/json", ...init.headers } }));

    it.each([
      ["GET", "/_operator/projects"],
      ["POST", "/_operator/projects"],
      ["GET", "/_operator/keys/key_x"],
      ["GET", "/_operator/health"],
    ])("%s %s to a non-local host is refused before the token is looked at, and nothing changes", async (method, path) => {
      const before = await env.DB.prepare("SELECT COUNT(*) AS n FROM projects").first("n");
      const res = await call(`http://gateway.example.com${path}`, { method, body: method === "POST" ? '{"name":"over http"}' : undefined });
      const problem = await expectProblem(res, 403, "https_required", OPERATOR_TOKEN);
      expect(problem.detail).toContain(`https://gateway.example.com${path}`);
      expect(problem.detail).toContain("operator token");
      expect(await env.DB.prepare("SELECT COUNT(*) AS n FROM projects").first("n")).toBe(before);
    });

    it("a wrong token over plain HTTP gets the same 403: nothing about the token is answered", async () => {
      const res = await sendWith(env, new Request("http://gateway.example.com/_operator/projects", { headers: { authorization: "Bearer wrong" } }));
      await expectProblem(res, 403, "https_required");
    });

    it.each(["http://127.0.0.1:8787", "http://localhost:8787", "http://[::1]:8787"])("local development over %s works", async (base) => {
      expect((await call(`${base}/_operator/projects`)).status).toBe(200);
    });
  });
});
