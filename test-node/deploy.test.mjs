// `npm run deploy` as README "Deploy" promises it.
//
// The dry run is the real thing: wrangler reads the environment, bundles it, and the smoke check
// runs against the environment's configuration served by a local `wrangler dev`.
// The account-bound steps (wrangler secret list, d1 migrations apply --remote, deploy) cannot reach
// Cloudflare here, so a fake `wrangler` first on PATH records each call and answers as wrangler
// does; everything else it is asked (the dry-run bundle) it hands to the real wrangler. The URL the
// fake "deploys" to is the real local gateway (`npm run dev`), so the smoke check after a deploy is
// run against the real gateway — and against a server that answers wrongly, to see it fail.

import { spawn } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cleanEnv, ROOT, startLocalGateway } from "./helpers/local-gateway.mjs";
import { GZIP_BUDGET_BYTES } from "../scripts/bundle-budget.mjs";

const DEPLOY = path.join(ROOT, "scripts", "deploy.mjs");
const REAL_WRANGLER = path.join(ROOT, "node_modules", "wrangler", "bin", "wrangler.js");

/** Runs scripts/deploy.mjs; resolves to { code, stdout, stderr }. */
function deploy(args, env = {}) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [DEPLOY, ...args], { cwd: ROOT, env: cleanEnv(env), stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk) => (stderr += chunk));
    child.on("close", (code) => resolve({ code, stdout, stderr, both: `${stdout}\n${stderr}` }));
  });
}

// The fake: CommonJS (its folder has no package.json), run by the node first on PATH.
const FAKE_WRANGLER = `#!/usr/bin/env node
const fs = require("node:fs");
const { spawnSync } = require("node:child_process");
const args = process.argv.slice(2);
fs.appendFileSync(process.env.FAKE_WRANGLER_LOG, JSON.stringify(args) + "\\n");
const has = (word) => args.includes(word);
if (has("--dry-run") || args[0] === "dev") {
  const real = spawnSync(process.execPath, [${JSON.stringify(REAL_WRANGLER)}, ...args], { stdio: "inherit" });
  process.exit(real.status ?? 1);
}
if (args[0] === "secret" && args[1] === "list") {
  if (process.env.FAKE_SECRET_LIST_FAIL) { console.error("✘ [ERROR] Authentication error [code: 10000]"); process.exit(1); }
  console.log(JSON.stringify(process.env.FAKE_SECRETS.split(",").filter(Boolean).map((name) => ({ name, type: "secret_text" }))));
  process.exit(0);
}
if (args[0] === "d1" && args[1] === "migrations" && args[2] === "apply") {
  if (process.env.FAKE_MIGRATIONS_FAIL) { console.error("✘ [ERROR] Migration 0001_init.sql failed"); process.exit(1); }
  console.log("Migrations to be applied: 0001_init.sql\\n✅ Applied");
  process.exit(0);
}
if (args[0] === "deploy") {
  console.log("Total Upload: 625.61 KiB / gzip: 151.88 KiB\\nUploaded composite-gateway-staging (3.1 sec)\\nDeployed composite-gateway-staging triggers (0.4 sec)\\n  " + process.env.FAKE_DEPLOY_URL + "\\nCurrent Version ID: 5c1e0a2e-0000-0000-0000-000000000000");
  process.exit(0);
}
console.error("fake wrangler: unexpected call " + args.join(" "));
process.exit(3);
`;

describe("npm run deploy", () => {
  let dir;
  let log;
  let bin;
  let config; // wrangler.jsonc with real-looking ids and an origin: what a deployable project has
  let gateway;
  let wrongServer;
  let wrongUrl;

  const calls = () =>
    readFileSync(log, "utf8")
      .trim()
      .split("\n")
      .filter(Boolean)
      .map((line) => JSON.parse(line));
  /** The environment with the fake wrangler first on PATH (node_modules/.bin's wrangler after it). */
  const withFake = (extra) => {
    writeFileSync(log, "");
    return { PATH: `${bin}${path.delimiter}${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH}`, FAKE_WRANGLER_LOG: log, ...extra };
  };
  const ALL_SECRETS = "KEY_HASH_SECRET,ORIGIN_SIGNING_SECRET,OPERATOR_TOKEN";

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "composite-deploy-test-"));
    log = path.join(dir, "calls.jsonl");
    bin = path.join(dir, "bin");
    (await import("node:fs")).mkdirSync(bin);
    writeFileSync(path.join(bin, "wrangler"), FAKE_WRANGLER);
    chmodSync(path.join(bin, "wrangler"), 0o755);

    // The project's wrangler.jsonc with its placeholders filled in, paths made absolute.
    config = path.join(dir, "wrangler.jsonc");
    writeFileSync(
      config,
      readFileSync(path.join(ROOT, "wrangler.jsonc"), "utf8")
        .replace('"$schema": "node_modules/wrangler/config-schema.json",', "")
        .replace('"main": "src/index.ts"', `"main": ${JSON.stringify(path.join(ROOT, "src/index.ts"))}`)
        .replaceAll('"migrations_dir": "migrations"', `"migrations_dir": ${JSON.stringify(path.join(ROOT, "migrations"))}`)
        .replace('"00000000000000000000000000000001"', '"3f2a9c4e5b6d4e8f9a0b1c2d3e4f5a6b"')
        .replace('"00000000-0000-0000-0000-000000000001"', '"9d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6"')
        .replace(/("staging": \{[\s\S]*?"vars": \{\s*)"ORIGIN_URL": ""/, '$1"ORIGIN_URL": "https://api-staging.example.com"'),
    );

    wrongServer = http.createServer((request, response) => response.end("ok")); // answers 200 to everything
    await new Promise((resolve) => wrongServer.listen(0, "127.0.0.1", resolve));
    wrongUrl = `http://127.0.0.1:${wrongServer.address().port}`;

    gateway = await startLocalGateway();
  }, 150_000);

  afterAll(async () => {
    await gateway?.stop();
    wrongServer?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it("--dry-run of production validates, bundles within the budget and smoke-checks it locally", async () => {
    const result = await deploy(["--env", "production", "--dry-run"]);
    expect(result.code, result.both).toBe(0);
    expect(result.stdout).toMatch(/minified/);
    expect(result.stdout).toContain(`(budget ${(GZIP_BUDGET_BYTES / 1024).toFixed(1)} KiB gzip)`);
    expect(result.stdout).toMatch(/worker: [\d.]+ KiB, gzip [\d.]+ KiB \(budget/);
    // The README states the budget the deploy checks.
    expect(readFileSync(path.join(ROOT, "README.md"), "utf8")).toContain(`must stay under **${GZIP_BUDGET_BYTES / 1024} KiB gzipped**`);
    expect(result.stdout).toMatch(/of which the dashboard .*: [\d.]+ KiB, gzip [\d.]+ KiB/);
    expect(result.stdout).toMatch(/ok {3}POST \/v1\/events without a key → 401 missing_api_key/);
    // The placeholders are named, not silently accepted.
    expect(result.stdout).toMatch(/warning env\.production\.kv_namespaces KEYS has the placeholder id/);
    expect(result.stdout).toMatch(/dry run of production passed/);
  }, 120_000);

  it("refuses an environment that does not exist, and a real deploy with placeholder ids", async () => {
    const unknown = await deploy(["--env", "prod", "--dry-run"]);
    expect(unknown.code).toBe(1);
    expect(unknown.both).toMatch(/No environment found in configuration with name "prod"/);

    const placeholders = await deploy(["--env", "production"], withFake({ FAKE_SECRETS: ALL_SECRETS, FAKE_DEPLOY_URL: gateway.url }));
    expect(placeholders.code).toBe(1);
    expect(placeholders.stderr).toMatch(/DEPLOY FAILED: the configuration of production is not deployable/);
    expect(placeholders.stdout).toMatch(/ERROR +env\.production\.d1_databases DB has the placeholder id/);
    expect(calls()).toEqual([]); // nothing reached wrangler
  }, 60_000);

  it("says which secrets are missing and stops before migrating or deploying", async () => {
    const result = await deploy(["--env", "staging", "--config", config], withFake({ FAKE_SECRETS: "KEY_HASH_SECRET", FAKE_DEPLOY_URL: gateway.url }));
    expect(result.code, result.both).toBe(1);
    expect(result.stdout).toMatch(/MISSING ORIGIN_SIGNING_SECRET/);
    expect(result.stderr).toMatch(/missing secret in staging: ORIGIN_SIGNING_SECRET\. Set each with\n {2}openssl rand -base64 32 \| npx wrangler secret put ORIGIN_SIGNING_SECRET --env staging/);
    const made = calls().map((args) => args.slice(0, 3).join(" "));
    expect(made).toEqual(["deploy --dry-run --config", "secret list --env"]);
  }, 60_000);

  it("applies the migrations remotely, deploys, and smoke-checks the deployed URL", async () => {
    const result = await deploy(["--env", "staging", "--config", config], withFake({ FAKE_SECRETS: ALL_SECRETS, FAKE_DEPLOY_URL: gateway.url }));
    expect(result.code, result.both).toBe(0);
    const made = calls();
    expect(made.map((args) => args.filter((arg) => arg !== config))).toEqual([
      expect.arrayContaining(["deploy", "--dry-run", "--env", "staging"]),
      ["secret", "list", "--env", "staging", "--format", "json", "--config"],
      ["d1", "migrations", "apply", "DB", "--remote", "--env", "staging", "--config"],
      ["deploy", "--env", "staging", "--config"],
    ]);
    expect(result.stdout).toContain(`smoke check of ${gateway.url}`);
    expect(result.stdout).toMatch(/ok {3}GET \/_operator\/health/);
    expect(result.stdout).toMatch(/ok {3}POST \/v1\/events with a malformed key → 401 malformed_api_key/);
    expect(result.stdout).toContain(`staging is deployed and answers as API.md says: ${gateway.url}`);
  }, 60_000);

  it("fails loudly when the deployed URL does not answer as API.md says", async () => {
    const result = await deploy(["--env", "staging", "--config", config], withFake({ FAKE_SECRETS: ALL_SECRETS, FAKE_DEPLOY_URL: wrongUrl, SMOKE_TIMEOUT_S: "0" }));
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/FAIL POST \/v1\/events without a key → 401 missing_api_key\n\s+expected 401 missing_api_key, got 200 ok/);
    expect(result.stderr).toMatch(/DEPLOY FAILED: smoke check of http:\/\/127\.0\.0\.1:\d+ failed/);
  }, 60_000);

  it("does not deploy when the migrations fail, nor when the secrets cannot be listed", async () => {
    const migrations = await deploy(["--env", "staging", "--config", config], withFake({ FAKE_SECRETS: ALL_SECRETS, FAKE_DEPLOY_URL: gateway.url, FAKE_MIGRATIONS_FAIL: "1" }));
    expect(migrations.code).toBe(1);
    expect(migrations.stderr).toMatch(/DEPLOY FAILED: the D1 migrations of staging failed/);
    expect(calls().some((args) => args[0] === "deploy" && !args.includes("--dry-run"))).toBe(false);

    const secrets = await deploy(["--env", "staging", "--secrets-only", "--config", config], withFake({ FAKE_SECRET_LIST_FAIL: "1", FAKE_SECRETS: "" }));
    expect(secrets.code).toBe(1);
    expect(secrets.stderr).toMatch(/`wrangler secret list --env staging` failed \(exit 1\); are you logged in/);
  }, 60_000);

  it("npm run smoke checks the real local gateway, and fails on a wrong one", async () => {
    const run = (url) =>
      new Promise((resolve) => {
        const child = spawn(process.execPath, [path.join(ROOT, "scripts", "smoke.mjs"), url], { cwd: ROOT, env: cleanEnv({ SMOKE_TIMEOUT_S: "0" }), stdio: ["ignore", "pipe", "pipe"] });
        let out = "";
        child.stdout.on("data", (chunk) => (out += chunk));
        child.stderr.on("data", (chunk) => (out += chunk));
        child.on("close", (code) => resolve({ code, out }));
      });
    const good = await run(gateway.url);
    expect(good.code, good.out).toBe(0);
    expect(good.out).toMatch(/smoke check passed/);
    const bad = await run(wrongUrl);
    expect(bad.code).toBe(1);
    expect(bad.out).toMatch(/SMOKE CHECK FAILED/);
  }, 60_000);
});
