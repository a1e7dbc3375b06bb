// The README's promise, as a user runs it: `npm run dev` prints demo keys that work against a real
// `wrangler dev` (gateway + sample origin), and `npm run keys` manages keys on that gateway.
//
// One `node scripts/dev.mjs` for the whole file, isolated with COMPOSITE_DEV_DIR=<fresh temp dir>
// (its .dev.vars, local D1/KV/DO state and demo keys live there; the developer's own .dev.vars,
// .wrangler/state and demo keys are not touched), on a free PORT, in its own process group.
// The CLI finds the operator token the same way a user's shell would: COMPOSITE_DEV_DIR.

import { execFile, execFileSync, spawn, spawnSync } from "node:child_process";
import { createHash, createHmac } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { anyFreePort, portIsFree } from "../scripts/ports.mjs";
import { stopProcessGroup } from "../scripts/process-group.mjs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HAVE_BROWSER, launchBrowser, NO_BROWSER_NOTE } from "./helpers/browser.mjs";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const DEV_SCRIPT = path.join(ROOT, "scripts", "dev.mjs");
const CLI = path.join(ROOT, "cli", "keys.mjs");
const READY_TIMEOUT_MS = 90_000;
const STOP_TIMEOUT_MS = 20_000;

// The developer's own files, which an isolated run must leave exactly as they are.
const PROTECTED_FILES = [".dev.vars", ".wrangler/demo-keys.json", ".wrangler/sample-origin.dev.vars"];

// ---------------------------------------------------------------------------------------------
// Helpers

/** The environment for our children: nothing of the developer's that would change their behaviour. */
function cleanEnv(extra = {}) {
  const env = { ...process.env, NO_COLOR: "1", WRANGLER_SEND_METRICS: "false", ...extra };
  for (const name of ["ORIGIN_URL", "OPERATOR_TOKEN", "FORCE_COLOR", "WRANGLER_REGISTRY_PATH", "CLOUDFLARE_INCLUDE_PROCESS_ENV"]) {
    if (!(name in extra)) delete env[name];
  }
  return env;
}

function fingerprint(file) {
  const full = path.join(ROOT, file);
  return existsSync(full) ? createHash("sha256").update(readFileSync(full)).digest("hex") : "absent";
}

/** Resolves to true when nothing listens on 127.0.0.1:port. */
/** A free port whose successor is free too (dev.mjs gives PORT+1 to the sample origin when it can). */
async function freePortPair() {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await anyFreePort();
    if (port < 65535 && (await portIsFree(port + 1))) return port;
  }
  return anyFreePort();
}

/** Every process below pid (children, grandchildren: wrangler and its workerd), from `ps`. */
function descendantsOf(pid) {
  let table;
  try {
    table = execFileSync("ps", ["-A", "-o", "pid=,ppid="], { encoding: "utf8" });
  } catch {
    return []; // no ps: the port checks still catch a server left running
  }
  const children = new Map();
  for (const line of table.split("\n")) {
    const [child, parent] = line.trim().split(/\s+/).map(Number);
    if (!child) continue;
    if (!children.has(parent)) children.set(parent, []);
    children.get(parent).push(child);
  }
  const found = [];
  const queue = [pid];
  while (queue.length) {
    for (const child of children.get(queue.shift()) ?? []) {
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}

/** A process's command line ("" when it is gone or there is no ps). */
function commandOf(pid) {
  try {
    return execFileSync("ps", ["-o", "args=", "-p", String(pid)], { encoding: "utf8" }).trim();
  } catch {
    return "";
  }
}

const alive = (pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error.code === "EPERM";
  }
};
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitUntil(condition, ms) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await condition()) return true;
    await sleep(100);
  }
  return condition();
}

/** The project ids in a local D1 database file, read-only (node:sqlite, in a child to keep its warning out). */
function projectsInD1(file) {
  const script = `
    const { DatabaseSync } = require("node:sqlite");
    const db = new DatabaseSync(process.argv[1], { readOnly: true });
    console.log(JSON.stringify(db.prepare("SELECT id FROM projects").all().map((row) => row.id)));
    db.close();`;
  return JSON.parse(execFileSync(process.execPath, ["--no-warnings", "-e", script, file], { encoding: "utf8", timeout: 20_000 }));
}

/** One HTTP request to the gateway; the body parsed as JSON when it is JSON. */
async function call(method, url, { key, body, headers = {} } = {}) {
  const init = { method, headers: { ...headers }, signal: AbortSignal.timeout(15_000) };
  if (key) init.headers.authorization = `Bearer ${key}`;
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(url, init);
  const text = await response.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON; the assertions say so
  }
  return { status: response.status, headers: response.headers, text, json };
}

function expectProblem(result, status, code) {
  expect(result.status, result.text).toBe(status);
  expect(result.headers.get("content-type")).toMatch(/^application\/problem\+json/);
  expect(result.json, result.text).toMatchObject({ status, code, type: expect.stringMatching(new RegExp(`/${code}$`)) });
  expect(result.json.request_id).toBe(result.headers.get("x-request-id"));
}

// ---------------------------------------------------------------------------------------------

describe("npm run dev + npm run keys against a real wrangler dev", () => {
  let devDir;
  let port;
  let gatewayUrl;
  let dev; // the `node scripts/dev.mjs` child
  let devExit; // resolves with [code, signal]
  const output = []; // every line dev.mjs printed, stdout and stderr
  const protectedBefore = Object.fromEntries(PROTECTED_FILES.map((file) => [file, fingerprint(file)]));
  let printed; // what the summary showed
  let treeWhenReady = []; // the pids below dev.mjs once the servers were up

  const lastLines = (n = 40) => output.slice(-n).join("\n");

  /** The CLI as a user runs it; the operator token comes from <COMPOSITE_DEV_DIR>/.dev.vars. */
  function keys(args, { url = gatewayUrl, env = {} } = {}) {
    return new Promise((resolve) => {
      execFile(
        process.execPath,
        [CLI, ...args, "--url", url],
        { cwd: ROOT, env: cleanEnv({ COMPOSITE_DEV_DIR: devDir, ...env }), timeout: 30_000 },
        (error, stdout, stderr) => {
          const code = error ? (typeof error.code === "number" ? error.code : `${error.code ?? error.signal}`) : 0;
          let json = null;
          try {
            json = JSON.parse(stdout);
          } catch {
            // not JSON
          }
          resolve({ code, stdout, stderr, json, args: args.join(" ") });
        },
      );
    });
  }

  /** The CLI's answer, or a failed expectation that shows what it printed. */
  async function keysOk(args) {
    const result = await keys(args);
    expect(result.code, `keys ${result.args}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`).toBe(0);
    expect(result.json, result.stdout).not.toBeNull();
    return result.json;
  }

  beforeAll(async () => {
    devDir = mkdtempSync(path.join(os.tmpdir(), "composite-dev-e2e-"));
    port = await freePortPair();
    gatewayUrl = `http://127.0.0.1:${port}`;

    // TMPDIR inside it too: miniflare leaves empty /tmp/miniflare-*/email-store dirs behind.
    const tmp = path.join(devDir, "tmp");
    mkdirSync(tmp);
    dev = spawn(process.execPath, [DEV_SCRIPT], {
      cwd: ROOT,
      env: cleanEnv({ PORT: String(port), COMPOSITE_DEV_DIR: devDir, TMPDIR: tmp }),
      stdio: ["ignore", "pipe", "pipe"],
      detached: true, // its own process group, like a terminal session's foreground job
    });
    devExit = new Promise((resolve) => dev.once("exit", (code, signal) => resolve([code, signal])));

    let stdoutText = "";
    let readyTimer;
    const summary = new Promise((resolve, reject) => {
      for (const stream of [dev.stdout, dev.stderr]) {
        let partial = "";
        stream.setEncoding("utf8");
        stream.on("data", (chunk) => {
          if (stream === dev.stdout) stdoutText += chunk;
          const lines = (partial + chunk).split("\n");
          partial = lines.pop();
          output.push(...lines);
          if (output.length > 400) output.splice(0, output.length - 400);
          // The summary ends with the "Stop  Ctrl-C" line (with or without demo keys above it).
          if (stream === dev.stdout && /\n\s*Stop\s+Ctrl-C/.test(stdoutText)) resolve(stdoutText);
        });
      }
      dev.once("error", reject);
      devExit.then(([code, signal]) =>
        reject(new Error(`scripts/dev.mjs exited (code ${code}, signal ${signal}) before printing the demo keys. Last output:\n${lastLines()}`)),
      );
      readyTimer = setTimeout(
        () => reject(new Error(`scripts/dev.mjs printed no demo keys within ${READY_TIMEOUT_MS / 1000} s. Last output:\n${lastLines()}`)),
        READY_TIMEOUT_MS,
      );
    }).finally(() => clearTimeout(readyTimer));
    const text = await summary;
    treeWhenReady = descendantsOf(dev.pid);

    const grab = (regex, what) => {
      const match = regex.exec(text);
      if (!match) throw new Error(`the dev summary has no ${what}. Output:\n${lastLines()}`);
      return match;
    };
    const [, publicKey, publicId] = grab(/Public test key\s+(pk_test_\w+)\s+(key_\w+)/, "public test key");
    const [, secretKey, secretId] = grab(/Secret test key\s+(sk_test_\w+)\s+(key_\w+)/, "secret test key");
    printed = {
      gateway: grab(/Composite gateway\s+(http:\S+)/, "gateway URL")[1],
      origin: grab(/Sample origin\s+(http:\S+)/, "sample origin URL")[1],
      project: grab(/Demo project\s+(proj_\w+)/, "demo project")[1],
      publicKey,
      publicId,
      secretKey,
      secretId,
      curls: [...text.matchAll(/^\s*(curl .+)$/gm)].map((match) => match[1]),
      manageKeys: grab(/Manage keys\s+(.+)$/m, "keys CLI hint")[1],
      dashboard: grab(/Dashboard\s+(http:\S+)/, "dashboard URL")[1],
    };
  }, READY_TIMEOUT_MS + 15_000);

  afterAll(async () => {
    const problems = [];
    if (dev?.pid !== undefined) {
      // The servers' processes: as seen once ready (if dev.mjs died, they were reparented) and now.
      const tree = [...new Set([...treeWhenReady, ...descendantsOf(dev.pid)])];
      if (dev.exitCode !== null || dev.signalCode !== null) {
        problems.push(`scripts/dev.mjs exited on its own during the tests (code ${dev.exitCode}, signal ${dev.signalCode})`);
      } else {
        // What Ctrl-C in the terminal does: SIGINT to the foreground process group.
        const stopped = await stopProcessGroup(dev, devExit, { signal: "SIGINT", graceMs: STOP_TIMEOUT_MS });
        if (!stopped) {
          problems.push(`scripts/dev.mjs did not exit within ${STOP_TIMEOUT_MS / 1000} s of SIGINT; killed it`);
          await devExit;
        } else {
          const [code, signal] = await devExit;
          if (code !== 0) problems.push(`scripts/dev.mjs exited with code ${code} (signal ${signal}) after SIGINT`);
        }
      }
      // dev.mjs stops wrangler and workerd itself; whatever it left behind is a bug (and is killed here).
      const ours = (pid) => alive(pid) && /wrangler|workerd|esbuild/.test(commandOf(pid));
      if (!(await waitUntil(() => !tree.some(ours), 5_000))) {
        const left = tree.filter(ours);
        problems.push(`processes left running after scripts/dev.mjs exited: ${left.map((pid) => `${pid} ${commandOf(pid)}`).join("; ")}`);
        for (const pid of left) {
          try {
            process.kill(pid, "SIGKILL");
          } catch {
            // gone meanwhile
          }
        }
      }
      const ports = [port, printed && Number(new URL(printed.origin).port)].filter(Boolean);
      for (const p of ports) {
        if (!(await waitUntil(() => portIsFree(p), 5_000))) problems.push(`port ${p} is still in use after the stop`);
      }
    }
    if (devDir) rmSync(devDir, { recursive: true, force: true });
    expect(problems, lastLines(20)).toEqual([]);
  }, STOP_TIMEOUT_MS + 30_000);

  it("prints the gateway, the sample origin and a demo project with keys", () => {
    expect(printed.gateway).toBe(gatewayUrl);
    expect(printed.origin).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(printed.curls).toHaveLength(2);
    expect(printed.curls[0]).toContain(printed.publicKey);
    expect(printed.curls[1]).toContain(printed.secretKey);
    // The CLI hint must name the isolated dir, or the token would not be found.
    expect(printed.manageKeys).toContain(`COMPOSITE_DEV_DIR=${devDir}`);
    expect(printed.manageKeys).toContain(`--url ${gatewayUrl}`);
  });

  it("keeps everything it generates in COMPOSITE_DEV_DIR and leaves the project's own files alone", async () => {
    const vars = readFileSync(path.join(devDir, ".dev.vars"), "utf8");
    for (const name of ["KEY_HASH_SECRET", "ORIGIN_SIGNING_SECRET", "OPERATOR_TOKEN"]) expect(vars).toMatch(new RegExp(`^${name}=\\S{20,}$`, "m"));
    const demo = JSON.parse(readFileSync(path.join(devDir, "demo-keys.json"), "utf8"));
    expect(demo).toMatchObject({
      project: { id: printed.project },
      public: { id: printed.publicId, key: printed.publicKey },
      secret: { id: printed.secretId, key: printed.secretKey },
    });
    expect(readFileSync(path.join(devDir, "sample-origin.dev.vars"), "utf8")).toMatch(/^ORIGIN_SIGNING_SECRET=\S+$/m);

    // The migrations and the running gateway share one state dir: the demo project the gateway
    // wrote through the operator API is in the D1 database under COMPOSITE_DEV_DIR/state.
    const d1Dir = path.join(devDir, "state", "v3", "d1", "miniflare-D1DatabaseObject");
    const databases = readdirSync(d1Dir).filter((name) => /^[0-9a-f]{64}\.sqlite$/.test(name));
    expect(databases, `D1 files in ${d1Dir}`).toHaveLength(1);
    expect(projectsInD1(path.join(d1Dir, databases[0]))).toContain(printed.project);

    for (const file of PROTECTED_FILES) expect(fingerprint(file), `${file} changed`).toBe(protectedBefore[file]);
  });

  it("a public key sends an event: the origin gets no key, a signed identity, and the answer has rate-limit headers", async () => {
    const result = await call("POST", `${gatewayUrl}/v1/events`, {
      key: printed.publicKey,
      body: { event: "signup" },
      // A client cannot pose as another key: incoming X-Composite-* headers are replaced.
      headers: { "x-composite-key-id": "key_spoofed" },
    });
    expect(result.status, result.text).toBe(200);
    expect(result.headers.get("content-type")).toMatch(/^application\/json/);
    const echo = result.json;
    expect(echo?.origin, result.text).toBe("composite-sample-origin");
    expect(echo.received).toMatchObject({ method: "POST", path: "/v1/events", body: '{"event":"signup"}' });
    expect(echo.received.headers).not.toHaveProperty("authorization");
    expect(echo.received.query).toEqual({});
    expect(result.text).not.toContain(printed.publicKey);
    expect(result.text).not.toContain(printed.publicKey.slice(8)); // not even without its prefix

    const headers = echo.received.headers;
    expect(headers).toMatchObject({
      "x-composite-key-id": printed.publicId,
      "x-composite-project-id": printed.project,
      "x-composite-key-type": "public",
      "x-composite-environment": "test",
      "x-request-id": result.headers.get("x-request-id"),
    });
    expect(headers["x-composite-scopes"].split(",")).toContain("events:write");
    expect(headers["x-composite-timestamp"]).toMatch(/^\d{10}$/);
    expect(Math.abs(Number(headers["x-composite-timestamp"]) - Date.now() / 1000)).toBeLessThan(300);
    expect(echo.signature).toBe("valid");
    // ...and it verifies with the secret in COMPOSITE_DEV_DIR/.dev.vars, as a real origin would check it.
    const secret = /^ORIGIN_SIGNING_SECRET=(\S+)$/m.exec(readFileSync(path.join(devDir, ".dev.vars"), "utf8"))[1];
    const payload = [
      "v2",
      headers["x-composite-timestamp"],
      headers["x-request-id"],
      echo.received.method,
      echo.received.path + echo.received.search,
      ...["x-composite-key-id", "x-composite-project-id", "x-composite-key-type", "x-composite-environment", "x-composite-scopes"].map((n) => headers[n]),
    ].join("\n");
    expect(headers["x-composite-signature"]).toBe(`v2=${createHmac("sha256", secret).update(payload).digest("hex")}`);

    expect(result.headers.get("ratelimit")).toMatch(/^"(burst|daily)";r=\d+;t=\d+$/);
    const remaining = Number(result.headers.get("x-ratelimit-remaining"));
    expect(Number.isInteger(remaining)).toBe(true);
    expect(remaining).toBeLessThan(Number(result.headers.get("x-ratelimit-limit")));
  });

  it("the public key may not export data: 403 insufficient_permissions as problem+json", async () => {
    const result = await call("GET", `${gatewayUrl}/v1/export`, { key: printed.publicKey });
    expectProblem(result, 403, "insufficient_permissions");
    expect(result.text).not.toContain(printed.publicKey);
    expect(result.headers.get("x-ratelimit-remaining")).toMatch(/^\d+$/);
  });

  it("the secret key reads events", async () => {
    const result = await call("GET", `${gatewayUrl}/v1/events`, { key: printed.secretKey });
    expect(result.status, result.text).toBe(200);
    expect(result.json?.received).toMatchObject({ method: "GET", path: "/v1/events" });
    expect(result.json.received.headers).toMatchObject({ "x-composite-key-id": printed.secretId, "x-composite-key-type": "secret" });
    expect(result.json.received.headers).not.toHaveProperty("authorization");
    expect(result.json.signature).toBe("valid");
    expect(result.text).not.toContain(printed.secretKey);
  });

  const curlFound = spawnSync("curl", ["--version"], { stdio: "ignore" }).status === 0;
  it("the printed curl command works as pasted and prints readable JSON", async (ctx) => {
    ctx.skip(!curlFound, "curl is not installed on this machine: the pasted-curl check is skipped");
    const command = printed.curls[0]; // POST /v1/events with the public key
    const { stdout } = await new Promise((resolve, reject) =>
      execFile("sh", ["-c", `${command} --silent --show-error`], { timeout: 20_000 }, (error, out, err) =>
        error ? reject(new Error(`${command}\nfailed: ${error.message}\n${err}\n${out}`)) : resolve({ stdout: out }),
      ),
    );
    let echo;
    expect(() => (echo = JSON.parse(stdout)), `not JSON (compressed?): ${JSON.stringify(stdout.slice(0, 120))}`).not.toThrow();
    expect(echo).toMatchObject({ origin: "composite-sample-origin", signature: "valid", received: { path: "/v1/events" } });
    expect(stdout).not.toContain(printed.publicKey);
  });

  it("the SDK example sends events with the printed public key (npm run example:sdk), and prints no key", async () => {
    const run = (key) =>
      new Promise((resolve) =>
        execFile(
          process.execPath,
          [path.join(ROOT, "examples/sdk/track.ts")],
          { cwd: ROOT, env: cleanEnv({ COMPOSITE_API_KEY: key, COMPOSITE_API_URL: gatewayUrl }), timeout: 30_000 },
          (error, stdout, stderr) => resolve({ code: error ? error.code : 0, output: stdout + stderr }),
        ),
      );
    const sent = await run(printed.publicKey);
    expect(sent, sent.output).toMatchObject({ code: 0, output: "sent 3 events with a public test key\n" });
    const typo = await run(printed.publicKey.slice(0, 12) + (printed.publicKey[12] === "A" ? "B" : "A") + printed.publicKey.slice(13));
    expect(typo.code).toBe(1);
    expect(typo.output).toContain("malformed_api_key");
    expect(typo.output).not.toContain(printed.publicKey.slice(8, 30));
  });

  describe("in a real browser (Debian chromium, playwright-core): the dashboard and the SDK", () => {
    let browser;

    beforeAll(async () => {
      browser = await launchBrowser();
    }, 60_000);

    afterAll(async () => {
      await browser?.close();
    });

    it("sign in with the secret key, create a public key, copy it, use it, revoke it, sign out", async (ctx) => {
      ctx.skip(!HAVE_BROWSER, NO_BROWSER_NOTE);
      expect(printed.dashboard).toBe(`${gatewayUrl}/dashboard`);
      const context = await browser.newContext();
      await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: gatewayUrl });
      const page = await context.newPage();
      const problems = [];
      page.on("console", (message) => message.type() === "error" && problems.push(message.text()));
      page.on("pageerror", (error) => problems.push(String(error)));

      await page.goto(printed.dashboard);
      expect(new URL(page.url()).pathname).toBe("/dashboard/login");
      await page.fill("#api_key", printed.secretKey);
      await page.click("button[type=submit]");
      await page.waitForURL(`${gatewayUrl}/dashboard/keys`);
      expect(await page.locator("h1").textContent()).toBe("API Keys");
      expect(await page.locator(`tr[data-key-id="${printed.publicId}"]`).count()).toBe(1);

      await page.click("text=Create New Key");
      await page.check('input[name="type"][value="public"]');
      await page.fill("#label", "Browser-made key");
      await page.click("text=Create key");
      const shown = (await page.locator("#new-key").textContent()).trim();
      expect(shown).toMatch(/^pk_test_/);
      await page.click("#copy-key");
      await expect.poll(() => page.locator("#copy-key").textContent()).toBe("Copied");
      expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(shown);

      const sent = await call("POST", `${gatewayUrl}/v1/events`, { key: shown, body: { event: "from the dashboard's key" } });
      expect(sent.status).toBe(200);

      await page.click("text=Browser-made key");
      await page.check('input[name="confirm"]');
      await page.click("text=Revoke key");
      await page.waitForURL(/\?done=revoked$/);
      expect(await page.locator("[role=status]").textContent()).toContain("Revoked.");
      const refused = await call("POST", `${gatewayUrl}/v1/events`, { key: shown, body: {} });
      expect(refused.status).toBe(401);
      expect(refused.json.code).toBe("revoked_api_key");

      await page.click("text=Sign out");
      await page.waitForURL(`${gatewayUrl}/dashboard/login`);
      await page.goto(`${gatewayUrl}/dashboard/keys`);
      expect(new URL(page.url()).pathname).toBe("/dashboard/login");
      expect(problems, "console errors (a CSP violation would show here)").toEqual([]);
      await context.close();
    }, 60_000);

    it("the SDK (npm run build:sdk) in a page of another origin: a public key sends through CORS, errors are readable, a secret key never leaves", async (ctx) => {
      ctx.skip(!HAVE_BROWSER, NO_BROWSER_NOTE);
      const { buildSdk } = await import("../scripts/build-sdk.mjs");
      const sdk = await buildSdk({ globalName: "CompositeSDK" });
      const context = await browser.newContext();
      const page = await context.newPage();
      await page.goto(`${printed.origin}/_origin/requests`); // any page of another origin than the gateway
      await page.addScriptTag({ content: sdk });
      const outcome = await page.evaluate(
        async ({ gateway, publicKey, secretKey }) => {
          const { Composite, CompositeError } = globalThis.CompositeSDK;
          const composite = new Composite({ apiKey: publicKey, baseUrl: gateway, retry: { maxRetries: 0 } });
          composite.track("from_a_browser", { page: location.href });
          await composite.flush();
          let refused;
          try {
            await composite.request("GET", "/v1/export");
          } catch (error) {
            refused = error instanceof CompositeError ? { code: error.code, status: error.status, requestId: error.requestId } : String(error);
          }
          let secret;
          try {
            new Composite({ apiKey: secretKey, baseUrl: gateway });
          } catch (error) {
            secret = error.code;
          }
          return { refused, secret, page: location.origin };
        },
        { gateway: gatewayUrl, publicKey: printed.publicKey, secretKey: printed.secretKey },
      );
      expect(outcome.page).toBe(printed.origin);
      expect(outcome.refused).toMatchObject({ code: "insufficient_permissions", status: 403, requestId: expect.stringMatching(/^req_/) });
      expect(outcome.secret).toBe("secret_key_in_browser");
      const seen = await call("GET", `${printed.origin}/_origin/requests`);
      const last = seen.json.data.at(-1);
      expect(last.received).toMatchObject({ method: "POST", path: "/v1/batch", headers: { origin: printed.origin } });
      expect(JSON.parse(last.received.body).batch).toMatchObject([{ type: "track", event: "from_a_browser" }]);
      await context.close();
    }, 60_000);
  });

  describe("the keys CLI (node cli/keys.mjs --url …, token from COMPOSITE_DEV_DIR/.dev.vars)", () => {
    let projectId;
    let keyId;
    let key;

    it("project create --name e2e", async () => {
      const project = await keysOk(["project", "create", "--name", "e2e"]);
      expect(project).toMatchObject({ id: expect.stringMatching(/^proj_\w+$/), name: "e2e" });
      projectId = project.id;
    });

    it("create a secret test key with events:read; it exports data and may not send events", async () => {
      expect(projectId, "needs the project of the previous test").toBeDefined();
      const created = await keysOk(["create", "--project", projectId, "--type", "secret", "--env", "test", "--label", "e2e", "--scopes", "events:read"]);
      expect(created).toMatchObject({
        id: expect.stringMatching(/^key_\w+$/),
        key: expect.stringMatching(/^sk_test_\w{38}$/),
        project_id: projectId,
        type: "secret",
        environment: "test",
        label: "e2e",
        scopes: ["events:read"],
        status: "active",
      });
      ({ id: keyId, key } = created);

      const exported = await call("GET", `${gatewayUrl}/v1/export`, { key });
      expect(exported.status, exported.text).toBe(200);
      expect(exported.json?.received.headers).toMatchObject({ "x-composite-key-id": keyId, "x-composite-scopes": "events:read" });
      expectProblem(await call("POST", `${gatewayUrl}/v1/events`, { key, body: { event: "x" } }), 403, "insufficient_permissions");
    });

    it("list --project shows the key without its plaintext", async () => {
      expect(keyId, "needs the key of the previous test").toBeDefined();
      const result = await keys(["list", "--project", projectId]);
      expect(result.code, result.stderr).toBe(0);
      expect(result.json?.data, result.stdout).toEqual([expect.objectContaining({ id: keyId, label: "e2e", status: "active" })]);
      expect(result.json.data[0]).not.toHaveProperty("key");
      expect(result.stdout).not.toContain(key);
      expect(result.stdout).not.toContain(key.slice(8, -4)); // the random part, not even partly
    });

    it("limits --daily 2: the key's third request today is 429 daily_quota_exceeded", async () => {
      expect(keyId, "needs the key of the previous tests").toBeDefined();
      const updated = await keysOk(["limits", keyId, "--daily", "2"]);
      expect(updated).toMatchObject({ id: keyId, limit_overrides: { daily: 2 }, limits: { daily: 2 } });

      // The key was admitted once so far (the export above; the refused POST took nothing).
      const second = await call("GET", `${gatewayUrl}/v1/export`, { key });
      expect(second.status, second.text).toBe(200);
      expect(second.headers.get("x-ratelimit-limit-day")).toBe("2");
      expect(second.headers.get("x-ratelimit-remaining-day")).toBe("0");
      const third = await call("GET", `${gatewayUrl}/v1/export`, { key });
      expectProblem(third, 429, "daily_quota_exceeded");
      expect(third.json["violated-policies"]).toEqual(["daily"]);
      expect(Number(third.headers.get("retry-after"))).toBeGreaterThan(0);
    });

    it("revoke: the very next request is 401 revoked_api_key", async () => {
      expect(keyId, "needs the key of the previous tests").toBeDefined();
      const revoked = await keysOk(["revoke", keyId]);
      expect(revoked).toMatchObject({ id: keyId, status: "revoked" });
      const after = await call("GET", `${gatewayUrl}/v1/export`, { key });
      expectProblem(after, 401, "revoked_api_key");
      expect(after.headers.get("www-authenticate")).toMatch(/^Bearer /);
    });

    it("a wrong operator token: exit 1, the problem+json on stderr", async () => {
      const result = await keys(["project", "list"], { env: { OPERATOR_TOKEN: "not-the-token" } });
      expect(result.code, result.stderr).toBe(1);
      expect(result.stdout).toBe("");
      expect(JSON.parse(result.stderr)).toMatchObject({ status: 401, code: "invalid_operator_token" });
    });

    it("an unknown command: exit 2, one line naming the commands (cli-commands.test.mjs has the rest)", async () => {
      const result = await keys(["frobnicate"]);
      expect(result.code, result.stderr).toBe(2);
      expect(result.stdout).toBe("");
      expect(result.stderr).toMatch(/^error: unknown command "frobnicate"\. Commands: .+\. Run npm run keys -- --help\n$/);
    });

    it("project without a subcommand: exit 2 naming the two", async () => {
      const result = await keys(["project"]);
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toContain('"project" needs a subcommand: project create --name <name>, or project list');
    });

    it("list of a mistyped project: exit 1 with 404 not_found, not an empty list", async () => {
      const result = await keys(["list", "--project", "proj_typo"]);
      expect(result.code, result.stderr).toBe(1);
      expect(result.stdout).toBe("");
      expect(JSON.parse(result.stderr)).toMatchObject({ status: 404, code: "not_found" });
    });

    it("a gateway that is not there: exit 1 with the hint", async () => {
      const result = await keys(["project", "list"], { url: "http://127.0.0.1:1" });
      expect(result.code, result.stderr).toBe(1);
      expect(result.stdout).toBe("");
      expect(result.stderr).toMatch(/^error: cannot reach the gateway at http:\/\/127\.0\.0\.1:1\b/);
      expect(result.stderr).toContain("Is `npm run dev` running? Or pass --url <gateway url>.");
    });
  });

  // Under wrangler dev the Worker always sees "Accept-Encoding: br, gzip" (miniflare normalizes
  // it as Cloudflare's edge does) and the origin answers brotli; the gateway must still hand
  // plain curl, which asked for no compression, readable JSON (README "Try it with curl").
  it("plain curl without --compressed (as in the README) gets readable JSON", async (ctx) => {
    ctx.skip(!curlFound, "curl is not installed on this machine");
    const stdout = execFileSync(
      "curl",
      ["--silent", "-X", "POST", `${gatewayUrl}/v1/events`, "-H", `Authorization: Bearer ${printed.publicKey}`, "-d", "{}"],
      { timeout: 20_000 },
    );
    expect(() => JSON.parse(stdout.toString("utf8"))).not.toThrow();
  });
});
