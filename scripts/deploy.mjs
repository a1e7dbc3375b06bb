#!/usr/bin/env node
// `npm run deploy -- --env staging|production [--dry-run] [--url <gateway url>] [--config <wrangler.jsonc>]`
//
// Every step stops the deploy with a message that says what to do; nothing is half-done silently:
//   1. config    wrangler.jsonc's environment as wrangler reads it; its vars through src/config.ts
//                (the one parser of configuration); the bindings the gateway needs; no placeholder
//                ids and an ORIGIN_URL (a dry run only warns about those two)
//   2. bundle    `wrangler deploy --dry-run --env <name> --outdir …`, gzipped against the budget
//                (scripts/bundle-budget.mjs); production also reports the dashboard's share
//   3. secrets   `wrangler secret list --env <name>`: every secret src/config.ts requires is set
//   4. migrate   `wrangler d1 migrations apply DB --remote --env <name>`
//   5. deploy    `wrangler deploy --env <name>`
//   6. smoke     scripts/smoke.mjs against the deployed URL (printed by wrangler, or --url)
// --dry-run does 1, 2 and a smoke check against the environment's own configuration served locally
// (`wrangler dev --env <name>` with throwaway secrets and state): no account needed.
// --secrets-only does 3 alone (the GitHub workflow runs it before cloudflare/wrangler-action).
//
// wrangler is the one on PATH (npm puts node_modules/.bin there), else node_modules/.bin's.

import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { unstable_readConfig } from "wrangler";
import { CONFIG_VARIABLES, ConfigError, configOf, MIN_SECRET_LENGTH } from "../src/config.ts";
import { GZIP_BUDGET_BYTES, kib, measureDashboardCost, measureWorkerBundle, removeOutdir, ROOT } from "./bundle-budget.mjs";
import { anyFreePort } from "./ports.mjs";
import { stopProcessGroup } from "./process-group.mjs";
import { smokeCheck } from "./smoke.mjs";

const REQUIRED_BINDINGS = { kv: ["KEYS"], d1: ["DB"], durableObjects: ["KEY_LIMITER", "FAILED_AUTH"] };
const PLACEHOLDER_ID = /^[0-]+[0-9]?$/; // the all-zero ids of wrangler.jsonc (…0001, …0002)

/** Secrets the gateway cannot start without (src/config.ts: secret, no default). */
export const REQUIRED_SECRETS = CONFIG_VARIABLES.filter((v) => v.secret && v.default === null).map((v) => v.name);
/** Secrets with a default that turns something off (OPERATOR_TOKEN: the operator API). */
export const OPTIONAL_SECRETS = CONFIG_VARIABLES.filter((v) => v.secret && v.default !== null).map((v) => v.name);

class DeployError extends Error {}

const say = (line = "") => process.stdout.write(`${line}\n`);
const step = (name) => say(`\n== ${name}`);

// Local runs must not phone home (TOOLCHAIN.md); a real deploy talks to Cloudflare anyway.
const spawnEnv = {
  ...process.env,
  PATH: [path.dirname(process.execPath), process.env.PATH, path.join(ROOT, "node_modules", ".bin")].filter(Boolean).join(path.delimiter),
  WRANGLER_SEND_METRICS: process.env.WRANGLER_SEND_METRICS ?? "false",
  WRANGLER_HIDE_BANNER: process.env.WRANGLER_HIDE_BANNER ?? "true",
};
const WRANGLER = { command: "wrangler", args: [] };
/** The wrangler configuration (--config; the project's wrangler.jsonc by default). */
let configPath = path.join(ROOT, "wrangler.jsonc");

/** Runs wrangler; resolves to { status, stdout, stderr }, echoing its output as it comes when asked. */
function wrangler(args, { echo = false } = {}) {
  return new Promise((resolve) => {
    const child = spawn(WRANGLER.command, [...WRANGLER.args, ...args, "--config", configPath], { cwd: ROOT, env: spawnEnv, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk) => {
      stdout += chunk;
      if (echo) process.stdout.write(chunk);
    });
    child.stderr.setEncoding("utf8").on("data", (chunk) => {
      stderr += chunk;
      if (echo) process.stderr.write(chunk);
    });
    child.on("error", (error) => resolve({ status: 127, stdout, stderr: `could not run wrangler: ${error.message}` }));
    child.on("close", (status) => resolve({ status, stdout, stderr }));
  });
}

// ---------------------------------------------------------------------------------------------
// 1. config

/** Problems with the environment's configuration: { errors, warnings } (warnings block a real deploy). */
export function checkEnvironmentConfig(envName) {
  let config;
  try {
    config = unstable_readConfig({ config: configPath, env: envName }, { hideWarnings: true });
  } catch (error) {
    return { errors: [String(error.message).trim()], accountBound: [], config: null };
  }
  const errors = [];
  const accountBound = []; // only a real deploy needs these right
  const kv = config.kv_namespaces.find((ns) => ns.binding === "KEYS");
  const d1 = config.d1_databases.find((db) => db.binding === "DB");
  for (const name of REQUIRED_BINDINGS.kv) if (!config.kv_namespaces.some((ns) => ns.binding === name)) errors.push(`env.${envName}.kv_namespaces has no binding ${name}`);
  for (const name of REQUIRED_BINDINGS.d1) if (!config.d1_databases.some((db) => db.binding === name)) errors.push(`env.${envName}.d1_databases has no binding ${name}`);
  for (const name of REQUIRED_BINDINGS.durableObjects) {
    if (!config.durable_objects.bindings.some((b) => b.name === name)) errors.push(`env.${envName}.durable_objects has no binding ${name}`);
  }
  if (kv && PLACEHOLDER_ID.test(kv.id ?? "")) accountBound.push(`env.${envName}.kv_namespaces KEYS has the placeholder id ${kv.id}: run \`npx wrangler kv namespace create KEYS --env ${envName}\` and put its id there`);
  if (d1 && PLACEHOLDER_ID.test(d1.database_id ?? "")) {
    accountBound.push(`env.${envName}.d1_databases DB has the placeholder id ${d1.database_id}: run \`npx wrangler d1 create ${d1.database_name}\` and put its database_id there`);
  }

  // The vars through the gateway's own parser; the secrets stand in with throwaway values, so only
  // the vars can be wrong here (the real secrets are checked by name in step 3).
  const stand = "x".repeat(MIN_SECRET_LENGTH);
  try {
    const parsed = configOf({ ...config.vars, KEY_HASH_SECRET: stand, ORIGIN_SIGNING_SECRET: stand, OPERATOR_TOKEN: stand });
    if (parsed.originUrl === null && !config.services?.some((service) => service.binding === "ORIGIN")) {
      accountBound.push(`env.${envName}.vars.ORIGIN_URL is "" and there is no ORIGIN service binding: every forwarded route would answer 502 origin_unavailable`);
    }
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    errors.push(`env.${envName}.vars: ${error.message}`);
  }
  for (const secret of [...REQUIRED_SECRETS, ...OPTIONAL_SECRETS]) {
    if (secret in (config.vars ?? {})) errors.push(`env.${envName}.vars.${secret}: a secret must not be a var (it would be committed); use \`npx wrangler secret put ${secret} --env ${envName}\``);
  }
  return { errors, accountBound, config };
}

// ---------------------------------------------------------------------------------------------
// 2. bundle

async function checkBundle(envName) {
  const { bytes, gzipBytes, outdir } = measureWorkerBundle({ env: envName, wrangler: WRANGLER, config: configPath, spawnEnv: { ...spawnEnv, CLOUDFLARE_CF_FETCH_ENABLED: "false" } });
  removeOutdir(outdir);
  say(`worker: ${kib(bytes)}, gzip ${kib(gzipBytes)} (budget ${kib(GZIP_BUDGET_BYTES)} gzip)`);
  if (envName === "production") {
    const dashboard = await measureDashboardCost();
    say(`  of which the dashboard (src/dashboard and hono/jsx): ${kib(dashboard.bytes)}, gzip ${kib(dashboard.gzipBytes)}`);
  }
  if (gzipBytes > GZIP_BUDGET_BYTES) {
    throw new DeployError(`the Worker is ${kib(gzipBytes)} gzipped, over the budget of ${kib(GZIP_BUDGET_BYTES)} (README "Deploy"): find what grew, or raise GZIP_BUDGET_BYTES in scripts/bundle-budget.mjs and the README together`);
  }
}

// ---------------------------------------------------------------------------------------------
// 3. secrets

/** The names `wrangler secret list --env <name>` reports, or a DeployError saying why not. */
async function secretNames(envName) {
  const listed = await wrangler(["secret", "list", "--env", envName, "--format", "json"]);
  if (listed.status !== 0) {
    throw new DeployError(`\`wrangler secret list --env ${envName}\` failed (exit ${listed.status}); are you logged in (CLOUDFLARE_API_TOKEN or \`npx wrangler login\`)?\n${listed.stderr.trim() || listed.stdout.trim()}`);
  }
  let entries;
  try {
    entries = JSON.parse(listed.stdout.slice(listed.stdout.indexOf("[")));
  } catch {
    throw new DeployError(`\`wrangler secret list --env ${envName}\` did not print a JSON list:\n${listed.stdout.trim()}`);
  }
  return new Set(entries.map((entry) => entry.name));
}

async function checkSecrets(envName) {
  const present = await secretNames(envName);
  const missing = REQUIRED_SECRETS.filter((name) => !present.has(name));
  for (const name of [...REQUIRED_SECRETS, ...OPTIONAL_SECRETS]) say(`  ${present.has(name) ? "set    " : REQUIRED_SECRETS.includes(name) ? "MISSING" : "unset  "} ${name}`);
  for (const name of OPTIONAL_SECRETS.filter((n) => !present.has(n))) {
    say(`  note: ${name} is not set: ${CONFIG_VARIABLES.find((v) => v.name === name).description}`);
  }
  if (missing.length > 0) {
    throw new DeployError(
      `missing secret${missing.length > 1 ? "s" : ""} in ${envName}: ${missing.join(", ")}. Set each with\n` +
        missing.map((name) => `  openssl rand -base64 32 | npx wrangler secret put ${name} --env ${envName}`).join("\n"),
    );
  }
}

// ---------------------------------------------------------------------------------------------
// 6. smoke (also against a local `wrangler dev --env <name>` in a dry run)

async function smoke(url) {
  const { ok, results } = await smokeCheck(url, { log: say });
  if (!ok) throw new DeployError(`smoke check of ${url} failed: ${results.filter((r) => !r.ok).map((r) => r.name).join("; ")}`);
}

/** Serves the environment's configuration locally with throwaway secrets and state, smoke-checks it. */
async function localSmoke(envName) {
  const dir = mkdtempSync(path.join(os.tmpdir(), `composite-deploy-${envName}-`));
  const varsFile = path.join(dir, ".dev.vars");
  // Random, never printed: the local instance is gone when this returns.
  writeFileSync(varsFile, [...REQUIRED_SECRETS, ...OPTIONAL_SECRETS].map((name) => `${name}=${randomBytes(24).toString("base64")}`).join("\n") + "\n");
  const port = await anyFreePort();
  const child = spawn(
    WRANGLER.command,
    [...WRANGLER.args, "dev", "--config", configPath, "--env", envName, "--ip", "127.0.0.1", "--port", String(port), "--persist-to", path.join(dir, "state"), "--env-file", varsFile,
      "--inspector-port", String(await anyFreePort()), "--show-interactive-dev-session=false"],
    {
      cwd: ROOT,
      env: { ...spawnEnv, CLOUDFLARE_CF_FETCH_ENABLED: "false", CLOUDFLARE_LOAD_DEV_VARS_FROM_DOT_ENV: "true", WRANGLER_REGISTRY_PATH: path.join(dir, "registry"), TMPDIR: dir },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true, // its own process group: wrangler and its workerd stop together
    },
  );
  let output = "";
  child.stdout.setEncoding("utf8").on("data", (chunk) => (output += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk) => (output += chunk));
  const exited = new Promise((resolve) => child.once("exit", resolve));
  try {
    const ready = await Promise.race([waitForReady(`http://127.0.0.1:${port}`, 60_000), exited.then(() => false)]);
    if (!ready) throw new DeployError(`\`wrangler dev --env ${envName}\` did not start:\n${output.slice(-3000)}`);
    await smoke(`http://127.0.0.1:${port}`);
  } finally {
    await stopProcessGroup(child, exited);
    rmSync(dir, { recursive: true, force: true });
  }
}

async function waitForReady(url, ms) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    try {
      const response = await fetch(new URL("/_operator/health", url), { signal: AbortSignal.timeout(2_000) });
      await response.arrayBuffer();
      return true;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
  }
  return false;
}

// ---------------------------------------------------------------------------------------------

/** The URL wrangler deploy printed under "Deployed … triggers", e.g. https://x.y.workers.dev. */
export function deployedUrlFrom(output) {
  const after = output.slice(Math.max(0, output.search(/^Deployed /m)));
  return /https?:\/\/[^\s"'<>]+/.exec(after)?.[0] ?? null;
}

const USAGE = "usage: npm run deploy -- --env staging|production [--dry-run | --secrets-only] [--url <gateway url for the smoke check>] [--config <wrangler.jsonc>]";

async function main() {
  let options;
  try {
    ({ values: options } = parseArgs({
      options: { env: { type: "string" }, "dry-run": { type: "boolean" }, "secrets-only": { type: "boolean" }, url: { type: "string" }, config: { type: "string" }, help: { type: "boolean" } },
      strict: true,
    }));
  } catch (error) {
    console.error(`${error.message}\n${USAGE}`);
    return 2;
  }
  if (options.help) {
    say(USAGE);
    return 0;
  }
  if (!options.env) {
    console.error(`error: --env is required (the local environment is \`npm run dev\`)\n${USAGE}`);
    return 2;
  }
  const envName = options.env;
  if (options.config) configPath = path.resolve(options.config);
  const dryRun = options["dry-run"] === true;

  if (options["secrets-only"]) {
    step(`secrets of ${envName} (wrangler secret list)`);
    await checkSecrets(envName);
    say("\nall required secrets are set");
    return 0;
  }

  step(`config of ${envName} (wrangler.jsonc, src/config.ts)`);
  const { errors, accountBound, config } = checkEnvironmentConfig(envName);
  for (const error of errors) say(`  ERROR   ${error}`);
  for (const problem of accountBound) say(`  ${dryRun ? "warning" : "ERROR  "} ${problem}`);
  if (errors.length > 0 || (!dryRun && accountBound.length > 0)) throw new DeployError(`the configuration of ${envName} is not deployable (above)`);
  say(`  ok: ${config.name}, vars parsed by src/config.ts, bindings KEYS, DB, KEY_LIMITER, FAILED_AUTH${config.minify ? ", minified" : ""}`);

  step(`bundle of ${envName} (wrangler deploy --dry-run)`);
  await checkBundle(envName);

  if (dryRun) {
    step(`smoke check of ${envName}'s configuration, served locally (wrangler dev --env ${envName})`);
    await localSmoke(envName);
    say(`\ndry run of ${envName} passed; nothing was uploaded. Without --dry-run it also checks the secrets, applies the migrations, deploys and smoke-checks the deployed URL.`);
    return 0;
  }

  step(`secrets of ${envName} (wrangler secret list)`);
  await checkSecrets(envName);

  step(`D1 migrations of ${envName} (wrangler d1 migrations apply DB --remote)`);
  const migrated = await wrangler(["d1", "migrations", "apply", "DB", "--remote", "--env", envName], { echo: true });
  if (migrated.status !== 0) throw new DeployError(`the D1 migrations of ${envName} failed (exit ${migrated.status}); nothing was deployed`);

  step(`deploy ${envName} (wrangler deploy)`);
  const deployed = await wrangler(["deploy", "--env", envName], { echo: true });
  if (deployed.status !== 0) throw new DeployError(`wrangler deploy --env ${envName} failed (exit ${deployed.status})`);

  const url = options.url ?? deployedUrlFrom(deployed.stdout);
  if (!url) throw new DeployError(`deployed, but wrangler printed no https:// URL to smoke-check (custom domain only?): run \`npm run smoke -- https://<your gateway>\` or pass --url`);
  step(`smoke check of ${url}`);
  await smoke(url);
  say(`\n${envName} is deployed and answers as API.md says: ${url}`);
  return 0;
}

try {
  process.exitCode = await main();
} catch (error) {
  if (!(error instanceof DeployError)) throw error;
  console.error(`\nDEPLOY FAILED: ${error.message}`);
  process.exitCode = 1;
}
