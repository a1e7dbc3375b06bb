// docs/ cannot drift from the product: every code block in docs/*.md is a file of docs/samples/,
// included word for word, and every sample runs here against the real local gateway (`npm run dev`,
// its sample origin, its keys CLI) — as a reader would run it, with bash, node and curl. The
// troubleshooting page's `detail` quotes are compared with what the gateway really answers.
//
// Samples may hold the placeholders a reader replaces (`pk_test_…`, `sk_test_…`, the local or an
// example URL); the test replaces them with a real key and the gateway's URL, and runs the rest as is.
// The one sample that cannot run here, the GitHub Actions workflow, is validated against GitHub's
// schema instead (npm run lint:workflows, and workflow.test.mjs for the project's own).

import { execFile, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cleanEnv, ROOT, startLocalGateway } from "./helpers/local-gateway.mjs";

const DOCS = path.join(ROOT, "docs");
const SAMPLES = path.join(DOCS, "samples");
const PACKAGE = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8"));

const pages = Object.fromEntries(
  readdirSync(DOCS)
    .filter((name) => name.endsWith(".md"))
    .map((name) => [name, readFileSync(path.join(DOCS, name), "utf8")]),
);
const samples = Object.fromEntries(readdirSync(SAMPLES).map((name) => [name, readFileSync(path.join(SAMPLES, name), "utf8")]));

/** Fenced code blocks of a Markdown text: { info, body }. */
function fencedBlocks(markdown) {
  return [...markdown.matchAll(/^```([^\n]*)\n([\s\S]*?)^```$/gm)].map(([, info, body]) => ({ info: info.trim(), body }));
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens. */
function anchorsOf(markdown) {
  return new Set(
    [...markdown.matchAll(/^#{1,6} (.+)$/gm)].map(([, title]) =>
      title
        .toLowerCase()
        .replace(/[^\p{L}\p{N} _-]/gu, "")
        .replace(/ /g, "-"),
    ),
  );
}

// ---------------------------------------------------------------------------------------------

describe("docs/: what is written", () => {
  it("includes every sample word for word, and holds no code block that is not a sample", () => {
    const blocks = Object.values(pages).flatMap(fencedBlocks);
    const bodies = new Set(blocks.map((block) => block.body));
    for (const [name, text] of Object.entries(samples)) expect(bodies.has(text), `docs/samples/${name} is not included verbatim in docs/*.md`).toBe(true);
    const sampleTexts = new Set(Object.values(samples));
    for (const block of blocks) {
      // `text` blocks show an answer, not code; rate-limits.md's is compared with a real answer below.
      if (block.info === "text") continue;
      expect(sampleTexts.has(block.body), `a code block in docs/ is not a file of docs/samples/:\n${block.body}`).toBe(true);
    }
  });

  it("links only to pages, files and headings that exist", () => {
    for (const [name, markdown] of Object.entries(pages)) {
      for (const [, target] of markdown.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^https?:/.test(target)) continue;
        const [file, anchor] = target.split("#");
        const resolved = path.join(DOCS, file || name);
        expect(existsSync(resolved), `${name} links to ${target}`).toBe(true);
        if (anchor) expect(anchorsOf(readFileSync(resolved, "utf8")).has(anchor), `${name} links to missing heading ${target}`).toBe(true);
      }
    }
  });

  it("names only npm scripts and keys CLI commands that exist", () => {
    const help = spawnSync(process.execPath, [path.join(ROOT, "cli", "keys.mjs"), "--help"], { encoding: "utf8" }).stdout;
    const text = [...Object.values(pages), ...Object.values(samples)].join("\n");
    for (const [, script] of text.matchAll(/npm run (?:--silent )?([\w:-]+)/g)) expect(Object.keys(PACKAGE.scripts)).toContain(script);
    for (const [, command] of text.matchAll(/npm run (?:--silent )?keys -- (\w+(?: \w+)?)/g)) {
      const [first, second] = command.split(" ");
      const usage = first === "project" ? `project ${second}` : first;
      expect(help, `npm run keys -- ${command}`).toMatch(new RegExp(`^\\s+${usage}\\b`, "m"));
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe("docs/ samples against the real local gateway", () => {
  let gateway;
  let dir;
  const details = []; // { code, detail } of every refusal seen, for the troubleshooting page

  /** Runs a command as a reader would, in the project, against the local gateway. */
  function run(command, args, env = {}) {
    return new Promise((resolve) => {
      const started = Date.now();
      execFile(
        command,
        args,
        {
          cwd: ROOT,
          timeout: 60_000,
          env: cleanEnv({ COMPOSITE_API_URL: gateway.url, PORT: new URL(gateway.url).port, COMPOSITE_DEV_DIR: gateway.devDir, ...env }),
        },
        (error, stdout, stderr) => resolve({ code: error ? (error.code ?? 1) : 0, stdout, stderr, ms: Date.now() - started, all: `${stdout}\n${stderr}` }),
      );
    });
  }
  const bash = (sample, env) => run("bash", ["-e", path.join(SAMPLES, sample)], env);
  const node = (sample, env, nodeArgs = []) => run(process.execPath, [...nodeArgs, path.join(SAMPLES, sample)], env);

  /** A sample with the reader's placeholders filled in, as a file of its own. */
  function filledIn(sample, values) {
    let text = samples[sample];
    for (const [placeholder, value] of Object.entries(values)) text = text.replaceAll(placeholder, value);
    expect(text).not.toMatch(/_test_…/);
    const file = path.join(dir, sample);
    writeFileSync(file, text);
    return file;
  }

  /** Every JSON value printed one after another (curl and the CLI print them back to back). */
  function jsonValues(text) {
    const values = [];
    let depth = 0;
    let start = -1;
    let inString = false;
    for (let i = 0; i < text.length; i++) {
      const ch = text[i];
      if (inString) {
        if (ch === "\\") i++;
        else if (ch === '"') inString = false;
      } else if (ch === '"') inString = depth > 0;
      else if (ch === "{") {
        if (depth++ === 0) start = i;
      } else if (ch === "}" && --depth === 0) values.push(JSON.parse(text.slice(start, i + 1)));
    }
    return values;
  }

  /** The keys CLI, as the operator; its JSON answer. */
  async function keys(...args) {
    const result = await run(process.execPath, [path.join(ROOT, "cli", "keys.mjs"), ...args]);
    expect(result.code, result.all).toBe(0);
    return JSON.parse(result.stdout);
  }
  const newKey = (type, env, extra = []) => keys("create", "--project", gateway.project, "--type", type, "--env", env, "--label", `docs ${type} ${env}`, ...extra);

  /** One request to the gateway; a problem answer's detail is kept for the troubleshooting check. */
  async function call(method, pathAndQuery, { key, headers = {}, body } = {}) {
    const init = { method, headers: { ...headers } };
    if (key) init.headers.authorization = `Bearer ${key}`;
    if (body !== undefined) {
      init.headers["content-type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(new URL(pathAndQuery, gateway.url), init);
    const text = await response.text();
    const json = /json/.test(response.headers.get("content-type") ?? "") ? JSON.parse(text) : null;
    if (json?.detail && json.code) details.push({ status: response.status, code: json.code, detail: json.detail });
    return { status: response.status, json, headers: response.headers };
  }
  const event = (key, extra = {}) => call("POST", "/v1/events", { key, body: { event: "docs_check" }, ...extra });

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "composite-docs-"));
    gateway = await startLocalGateway();
  }, 150_000);

  afterAll(async () => {
    await gateway?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it("README: a key in the environment, then the first event with the SDK and with curl", async () => {
    const env = filledIn("env-local.sh", { "pk_test_…": gateway.publicKey, "http://127.0.0.1:8787": gateway.url });
    const sdk = await run("bash", ["-c", `source "$1" && node docs/samples/send-event.ts`, "sh", env]);
    expect(sdk.code, sdk.all).toBe(0);
    expect(sdk.stdout.trim()).toBe("event sent with a public test key");

    const curl = await bash("curl-header.sh", { COMPOSITE_API_KEY: gateway.publicKey });
    expect(curl.code, curl.all).toBe(0);
    const [echo] = jsonValues(curl.stdout);
    expect(echo.received).toMatchObject({ method: "POST", path: "/v1/events", body: '{"event": "signup", "properties": {"plan": "pro"}}' });
    expect(echo.received.headers.authorization).toBeUndefined();
    expect(echo.received.headers).toMatchObject({ "x-composite-key-type": "public", "x-composite-environment": "test", "x-composite-key-id": gateway.publicId });
    expect(echo.signature).toBe("valid");
  }, 60_000);

  it("authentication.md: Basic, the query parameter, an env file, and the SDK's refusal", async () => {
    const basic = await bash("curl-basic.sh", { COMPOSITE_API_KEY: gateway.publicKey });
    expect(jsonValues(basic.stdout)[0].received).toMatchObject({ method: "GET", path: "/v1/project" });

    const query = await bash("curl-query.sh", { COMPOSITE_API_KEY: gateway.publicKey });
    const [echo] = jsonValues(query.stdout);
    expect(echo.received).toMatchObject({ method: "POST", path: "/v1/events", search: "" }); // the key is cut out of the URL
    expect(query.stdout).not.toContain(gateway.publicKey);

    const envFile = filledIn("composite.env", { "sk_test_…": gateway.secretKey, "https://api.composite.example": gateway.url });
    const sdk = await node("send-event.ts", {}, [`--env-file=${envFile}`]);
    expect(sdk.code, sdk.all).toBe(0);
    expect(sdk.stdout.trim()).toBe("event sent with a secret test key");

    // A trailing newline, as a pasted secret often has: the SDK refuses it before sending.
    const pasted = await node("send-event.ts", { COMPOSITE_API_KEY: `${gateway.publicKey}\n` });
    expect(pasted.code).toBe(1);
    expect(pasted.stderr).toMatch(/^api_key_whitespace: /);
    expect(pasted.stderr).not.toContain(gateway.publicKey);
  }, 60_000);

  it("keys.md: creating keys with the CLI and the management API", async () => {
    const cli = await bash("create-keys.sh");
    expect(cli.code, cli.all).toBe(0);
    const created = jsonValues(cli.stdout);
    expect(created.map((k) => k.key?.slice(0, 8))).toEqual(["sk_test_", "pk_test_", "sk_live_", "pk_live_"]);
    expect(created[2].scopes).toEqual(["events:write", "events:read"]);
    expect(created[3].allowed_origins).toEqual(["https://app.example.com"]);
    expect((await event(created[1].key)).status).toBe(200);

    const api = await bash("create-key-api.sh", { COMPOSITE_MANAGEMENT_KEY: gateway.secretKey });
    expect(api.code, api.all).toBe(0);
    const [key] = jsonValues(api.stdout);
    expect(key).toMatchObject({ type: "public", environment: "test", label: "web (dev)" });
    expect((await event(key.key)).status).toBe(200);
  }, 90_000);

  it("keys.md: rotating with the management API, step by step", async () => {
    const old = await newKey("public", "test");
    const env = { COMPOSITE_MANAGEMENT_KEY: gateway.secretKey, OLD_KEY_ID: old.id };

    const rolled = await bash("rotate-1-roll.sh", env);
    const [replacement] = jsonValues(rolled.stdout);
    expect(replacement.key, rolled.all).toMatch(/^pk_test_/);
    expect(replacement.id).not.toBe(old.id);
    expect((await event(old.key)).status).toBe(200); // still working during the grace time

    const verified = await bash("rotate-3-verify.sh", { ...env, NEW_KEY: replacement.key });
    const [echo, usage] = jsonValues(verified.stdout);
    expect(echo.received).toMatchObject({ path: "/v1/events", body: '{"event": "rotation_check"}' });
    expect(echo.received.headers["x-composite-key-id"]).toBe(replacement.id);
    expect(usage.data).toHaveLength(1);
    expect(usage).toHaveProperty("last_used_at");

    const revoked = await bash("rotate-4-revoke.sh", env);
    expect(jsonValues(revoked.stdout)[0]).toMatchObject({ id: old.id, status: "revoked" });
    expect((await event(old.key)).json.code).toBe("revoked_api_key");
    expect((await event(replacement.key)).status).toBe(200);
  }, 90_000);

  it("keys.md: rotating with the CLI, and revoking", async () => {
    const old = await newKey("public", "live", ["--allowed-origins", "https://app.example.com"]);
    const rotated = await bash("rotate-with-cli.sh", { PROJECT_ID: gateway.project, OLD_KEY_ID: old.id });
    expect(rotated.code, rotated.all).toBe(0);
    const [replacement, usage, revoked] = jsonValues(rotated.stdout);
    expect(replacement).toMatchObject({ type: "public", environment: "live", allowed_origins: ["https://app.example.com"], rolled_from: old.id });
    expect(replacement.key).toMatch(/^pk_live_/);
    expect(JSON.stringify(usage)).toContain(old.id);
    expect(revoked).toMatchObject({ id: old.id, status: "revoked", rolled_to: replacement.id });
    const origin = { origin: "https://app.example.com" };
    expect((await event(old.key, { headers: origin })).json.code).toBe("revoked_api_key");
    expect((await event(replacement.key, { headers: origin })).status).toBe(200);

    const victim = await newKey("public", "test");
    const revoke = await bash("revoke.sh", { KEY_ID: victim.id, COMPOSITE_MANAGEMENT_KEY: gateway.secretKey });
    expect(revoke.code, revoke.all).toBe(0);
    expect(jsonValues(revoke.stdout).map((k) => k.status)).toEqual(["revoked", "revoked"]);
    expect((await event(victim.key)).json.code).toBe("revoked_api_key");

    // The SDK sample with the revoked key: the gateway's refusal reaches onError, never "event sent".
    const refused = await node("send-event.ts", { COMPOSITE_API_KEY: victim.key });
    expect(refused.code, refused.all).toBe(1);
    expect(refused.stdout).not.toContain("event sent");
    expect(refused.stderr).toMatch(/^revoked_api_key: .*\(request req_[0-9a-f]{32}\)$/m);
    expect(refused.all).not.toContain(victim.key);
  }, 90_000);

  it("rate-limits.md: the headers shown are the headers sent, and the backoff sample gets through a 429", async () => {
    const key = await newKey("public", "test");
    const result = await bash("rate-limit-headers.sh", { COMPOSITE_API_KEY: key.key });
    expect(result.code, result.all).toBe(0);
    const shown = fencedBlocks(pages["rate-limits.md"]).find((block) => block.info === "text").body;
    for (const line of shown.trim().split("\n")) {
      const name = line.slice(0, line.indexOf(":"));
      expect(result.stdout.toLowerCase(), `header ${name}`).toContain(`${name.toLowerCase()}: `);
    }
    // A fresh public key: the policy line is exactly the one shown.
    expect(result.stdout).toContain(shown.split("\n")[0]);

    const slow = await newKey("public", "test");
    await keys("limits", slow.id, "--rate", "1", "--burst", "1");
    expect((await event(slow.key)).status).toBe(200);
    const refused = await event(slow.key);
    expect(refused.status).toBe(429);
    expect(refused.headers.get("retry-after")).toBe("1");
    const backoff = await node("backoff.mjs", { COMPOSITE_API_KEY: slow.key });
    expect(backoff.code, backoff.all).toBe(0);
    expect(backoff.stdout).toMatch(/^200 0 requests left in the bucket$/m);
    expect(backoff.ms).toBeGreaterThan(500); // it waited for Retry-After
  }, 60_000);

  it("ci-cd.md: the build inlines a public key and refuses a secret one", async () => {
    const out = path.join(dir, "app.js");
    const built = await node("build-browser.mjs", { COMPOSITE_PUBLIC_KEY: gateway.publicKey, OUT_FILE: out });
    expect(built.code, built.all).toBe(0);
    expect(built.stdout).not.toContain(gateway.publicKey);
    const bundle = readFileSync(out, "utf8");
    expect(bundle).toContain(JSON.stringify(gateway.publicKey));
    expect(bundle).not.toContain("process.env");

    rmSync(out);
    const refused = await node("build-browser.mjs", { COMPOSITE_PUBLIC_KEY: gateway.secretKey, OUT_FILE: out });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/must be a public key/);
    expect(refused.all).not.toContain(gateway.secretKey);
    expect(existsSync(out)).toBe(false);

    const workflow = spawnSync(process.execPath, [path.join(ROOT, "node_modules/@action-validator/cli/cli.mjs"), path.join(SAMPLES, "github-actions.yml")], { encoding: "utf8" });
    expect(workflow.status, workflow.stdout + workflow.stderr).toBe(0);
  }, 60_000);

  it("troubleshooting.md quotes every 401, 403 and 429 detail the gateway sends, word for word", async () => {
    // Provoke each refusal the page lists.
    const pk = gateway.publicKey;
    await call("POST", "/v1/events");
    await call("POST", "/v1/events", { headers: { authorization: "Bearer" } });
    await call("POST", `/v1/events?api_key=${pk}%0A`);
    await event(`${pk.slice(0, -1)}${pk.endsWith("A") ? "B" : "A"}`);
    await call("POST", "/v1/events", { headers: { authorization: `Token ${pk}` } });
    await call("POST", "/v1/events", { headers: { authorization: "Basic not*base64" } });
    await event("sk_test_Composite0Gateway0Test0Vector0120FBRzN"); // API.md's test vector: valid, unknown
    const revoked = await newKey("public", "test");
    await keys("revoke", revoked.id);
    await event(revoked.key);
    const expiring = await newKey("public", "test");
    await call("POST", `/v1/api_keys/${expiring.id}/roll`, { key: gateway.secretKey, body: { expires_in: 0 } });
    await event(expiring.key);
    await call("GET", "/v1/events", { key: pk });
    const scoped = await newKey("secret", "test", ["--scopes", "events:write"]);
    await call("GET", "/v1/users", { key: scoped.key });
    await call("GET", "/v1/admin/stats", { key: scoped.key });
    const web = await newKey("public", "test", ["--allowed-origins", "https://app.example.com"]);
    await event(web.key, { headers: { origin: "https://elsewhere.example" } });
    await event(gateway.secretKey, { headers: { origin: "https://app.example.com" } });
    // Plain HTTP to a host that is not this machine (fetch cannot set Host; node:http can).
    await new Promise((resolve, reject) => {
      const request = http.request(new URL("/v1/events", gateway.url), { method: "POST", headers: { host: "api.example.com", authorization: `Bearer ${pk}` } }, (response) => {
        let text = "";
        response.on("data", (chunk) => (text += chunk));
        response.on("end", () => {
          const json = JSON.parse(text);
          details.push({ status: response.statusCode, code: json.code, detail: json.detail });
          resolve();
        });
      });
      request.on("error", reject);
      request.end();
    });
    const limited = await newKey("public", "test");
    await keys("limits", limited.id, "--rate", "1", "--burst", "1");
    await event(limited.key);
    await event(limited.key);
    const quota = await newKey("public", "test");
    await keys("limits", quota.id, "--daily", "1");
    await event(quota.key);
    await event(quota.key);
    // The same two refusals from a plan's limits rather than the key's own: a project of its own on a custom plan.
    const planned = await keys("project", "create", "--name", "docs plan limits");
    await keys("plan", planned.id, "custom", "--public-rate", "1", "--public-burst", "1", "--public-daily", "2");
    const onPlan = await keys("create", "--project", planned.id, "--type", "public", "--env", "test", "--label", "docs plan key");
    await event(onPlan.key);
    await event(onPlan.key); // burst 1: rate_limited
    await new Promise((resolve) => setTimeout(resolve, 1100));
    await event(onPlan.key);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    await event(onPlan.key); // 2 a day: daily_quota_exceeded
    // A key sent only as X-API-Key, which the gateway does not read.
    await call("POST", "/v1/events", { headers: { "x-api-key": pk } });
    // Last: from here on this address is blocked for unknown keys for a minute.
    for (let i = 0; i < 40; i++) if ((await event("sk_test_Composite0Gateway0Test0Vector0120FBRzN")).status === 429) break;

    // The page: "### <status> `<code>`" headings, each followed by its quoted details.
    const page = pages["troubleshooting.md"];
    const documented = [...page.matchAll(/^### (\d{3}) `(\w+)`\n((?:>.*\n)+)/gm)].map(([, status, code, quote]) => ({
      status: Number(status),
      code,
      variants: quote
        .split("\n")
        .filter((line) => line.startsWith("> "))
        .map((line) => {
          const text = line.slice(2);
          const pattern = text.split(/<[a-z ]+>/).map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join(".+?");
          return { text, regex: new RegExp(`^${pattern}$`), seen: false };
        }),
    }));
    expect(documented.length).toBe(13); // 6 × 401, 4 × 403, 3 × 429
    const seen = details.filter((d) => [401, 403, 429].includes(d.status));
    for (const { status, code, detail } of seen) {
      const entry = documented.find((d) => d.code === code);
      expect(entry, `troubleshooting.md has no heading for ${status} ${code} (detail: ${detail})`).toBeDefined();
      expect(entry.status).toBe(status);
      const variant = entry.variants.find((v) => v.regex.test(detail));
      expect(variant, `troubleshooting.md does not quote the ${code} detail the gateway sent:\n${detail}`).toBeDefined();
      variant.seen = true;
    }
    for (const entry of documented) {
      for (const variant of entry.variants) expect(variant.seen, `troubleshooting.md quotes a ${entry.code} detail the gateway did not send here:\n${variant.text}`).toBe(true);
    }
  }, 120_000);
});
