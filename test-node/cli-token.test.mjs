// Where the keys CLI sends the operator token (API.md §6): never over plain HTTP to a host off this
// machine, and the token of the local .dev.vars only to a loopback gateway. These refusals come
// before any connection, so no gateway runs here; the CLI against a real one is in dev-and-cli.
import { execFile } from "node:child_process";
import { createServer } from "node:http";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createOperatorClient, findOperatorToken, isLoopbackHost } from "../cli/operator-client.mjs";
import { isLoopback } from "../src/http/loopback.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const CLI = path.join(ROOT, "cli", "keys.mjs");
const DEV_TOKEN = "dev-vars-operator-token-0123456789";

let devDir;
beforeAll(() => {
  devDir = mkdtempSync(path.join(os.tmpdir(), "composite-cli-token-"));
  writeFileSync(path.join(devDir, ".dev.vars"), `OPERATOR_TOKEN=${DEV_TOKEN}\n`);
});
afterAll(() => rmSync(devDir, { recursive: true, force: true }));

/** The CLI as a user runs it, with COMPOSITE_DEV_DIR pointing at a .dev.vars that holds a token. */
function keys(args, env = {}) {
  const childEnv = { ...process.env, NO_COLOR: "1", COMPOSITE_DEV_DIR: devDir, ...env };
  if (!("OPERATOR_TOKEN" in env)) delete childEnv.OPERATOR_TOKEN;
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { cwd: ROOT, env: childEnv, timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? error.code : 0, stdout, stderr });
    });
  });
}

describe("keys CLI: where the operator token goes", () => {
  it.each(["http://gateway.example.com", "http://10.0.0.5:8787", "http://[2001:db8::1]:8787", "http://127.0.0.1.example.com"])(
    "refuses plain HTTP to %s with one clear line, exit 2, even with OPERATOR_TOKEN set",
    async (url) => {
      const result = await keys(["project", "list", "--url", url], { OPERATOR_TOKEN: "env-token" });
      expect(result.code, result.stderr).toBe(2);
      expect(result.stdout).toBe("");
      expect(result.stderr).toMatch(/^error: refusing to send the operator token over plain HTTP to .+; use https:\/\/.+\n$/);
      expect(result.stderr).not.toContain("env-token");
    },
  );

  it("does not send the .dev.vars token to a remote https gateway: exit 2 asking for OPERATOR_TOKEN", async () => {
    const result = await keys(["project", "list", "--url", "https://gateway.example.com"]);
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toMatch(/^error: no operator token for https:\/\/gateway\.example\.com: set OPERATOR_TOKEN \(\.dev\.vars is used only for a gateway on this machine\)\.\n$/);
    expect(result.stderr).not.toContain(DEV_TOKEN);
  });

  it("sends the .dev.vars token to a loopback gateway (a stand-in server records it)", async () => {
    const seen = [];
    const server = createServer((req, res) => {
      seen.push(req.headers.authorization);
      res.setHeader("content-type", "application/json");
      res.end('{"data":[]}');
    });
    await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = server.address();
      for (const host of ["127.0.0.1", "localhost"]) {
        const result = await keys(["project", "list", "--url", `http://${host}:${port}`]);
        expect(result.code, result.stderr).toBe(0);
      }
      expect(seen).toEqual([`Bearer ${DEV_TOKEN}`, `Bearer ${DEV_TOKEN}`]);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it("findOperatorToken: OPERATOR_TOKEN for any gateway, .dev.vars only for a loopback one", () => {
    const devVars = path.join(devDir, ".dev.vars");
    expect(findOperatorToken("https://gateway.example.com", { OPERATOR_TOKEN: "t" }, devVars)).toMatchObject({ token: "t", source: "OPERATOR_TOKEN" });
    expect(findOperatorToken("https://gateway.example.com", {}, devVars)).toBeNull();
    expect(findOperatorToken("http://127.0.0.1:8787", {}, devVars)).toMatchObject({ token: DEV_TOKEN, source: ".dev.vars" });
    expect(findOperatorToken("https://localhost", {}, devVars)).toMatchObject({ token: DEV_TOKEN, source: ".dev.vars" });
  });

  it("the operator client itself refuses plain HTTP to a remote host before any request", () => {
    const fetch = () => {
      throw new Error("must not be called");
    };
    expect(() => createOperatorClient({ baseUrl: "http://gateway.example.com", token: "t", fetch })).toThrow(/plain HTTP/);
    expect(() => createOperatorClient({ baseUrl: "http://127.0.0.1:8787", token: "t", fetch })).not.toThrow();
  });

  it("agrees with the gateway's rule (src/http/loopback.ts) on which hosts are this machine", () => {
    const hosts = ["localhost", "a.localhost", "LOCALHOST", "127.0.0.1", "127.255.0.9", "[::1]", "::1", "127.0.0.1.example.com", "localhost.example.com", "10.0.0.1", "[2001:db8::1]", "0.0.0.0", "example.com"];
    for (const host of hosts) expect(isLoopbackHost(host), host).toBe(isLoopback(host));
  });
});
