#!/usr/bin/env node
// `npm run dev`: everything a fresh clone needs to try the gateway locally, no Cloudflare account.
//
//   1. writes .dev.vars with random local secrets (only if it does not exist yet)
//   2. applies the D1 migrations to the local database (.wrangler/state)
//   3. starts the sample origin (examples/origin) unless ORIGIN_URL is set in your environment
//   4. starts the gateway on 127.0.0.1:${PORT:-8787}, pointed at that origin
//   5. creates (once) a demo project with a public and a secret test key, saved in
//      .wrangler/demo-keys.json, and prints them with ready-to-paste curl commands
//
// Ctrl-C stops both servers. If either server exits, the other is stopped too.
//
// Environment:
//   PORT=8790                the gateway's port (default 8787); the sample origin takes PORT+1 when free
//   ORIGIN_URL=http://…      forward to your own origin; no sample origin is started
//   COMPOSITE_DEV_DIR=<dir>  an isolated instance (the tests in test-node/ use it): everything this
//                            script generates lives under <dir> and the project's own .dev.vars,
//                            .wrangler/state and .wrangler/demo-keys.json are neither read nor
//                            written. Under <dir>:
//                              .dev.vars               the secrets (the gateway gets them via --env-file)
//                              state/                  local D1, KV and Durable Objects (--persist-to,
//                                                      for the migrations and the gateway)
//                              origin-state/           the sample origin's (otherwise in examples/origin/.wrangler)
//                              demo-keys.json          the demo keys
//                              sample-origin.dev.vars  the sample origin's secret
//                              registry/               wrangler's dev registry (WRANGLER_REGISTRY_PATH,
//                                                      unless you set it), so this instance's workers
//                                                      do not replace yours in the shared one
//                            Both servers get a free devtools (inspector) port, so two instances can
//                            run side by side. A relative <dir> is taken from the current directory.
//                            The keys CLI reads the operator token from <dir>/.dev.vars when the same
//                            variable is set (or pass OPERATOR_TOKEN):
//                              COMPOSITE_DEV_DIR=<dir> npm run keys -- list --project … --url http://127.0.0.1:$PORT
//                            Without COMPOSITE_DEV_DIR nothing changes: the files above are the
//                            project's .dev.vars, .wrangler/state, .wrangler/demo-keys.json and
//                            .wrangler/sample-origin.dev.vars, and wrangler's defaults apply.

import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { constants as osConstants } from "node:os";
import path from "node:path";
import readline from "node:readline";
import { CONFIG_VARIABLES } from "../src/config.ts";
import { anyFreePort, portIsFree } from "./ports.mjs";
import {
  createOperatorClient,
  devVarsPathFor,
  isolatedDevDir,
  OperatorApiError,
  PROJECT_ROOT,
  readDevVars,
} from "../cli/operator-client.mjs";

const ROOT = PROJECT_ROOT;
const WRANGLER = path.join(ROOT, "node_modules", "wrangler", "bin", "wrangler.js");
// COMPOSITE_DEV_DIR (see the top comment): null for the default layout in the project.
const ISOLATED_DIR = isolatedDevDir();
const STATE_DIR = ISOLATED_DIR ?? path.join(ROOT, ".wrangler");
const VARS_FILE = devVarsPathFor(); // <COMPOSITE_DEV_DIR>/.dev.vars, else the project's .dev.vars
const DEMO_FILE = path.join(STATE_DIR, "demo-keys.json");
const ORIGIN_VARS_FILE = path.join(STATE_DIR, "sample-origin.dev.vars");
// wrangler's --persist-to (local D1/KV/DO); null keeps wrangler's default, .wrangler/state.
const PERSIST_DIR = ISOLATED_DIR ? path.join(ISOLATED_DIR, "state") : null;
const persistArgs = PERSIST_DIR ? ["--persist-to", PERSIST_DIR] : [];
// The sample origin's own (its default is examples/origin/.wrangler/state, next to its config).
const originPersistArgs = ISOLATED_DIR ? ["--persist-to", path.join(ISOLATED_DIR, "origin-state")] : [];
/** How a file is named in messages: relative to the project when inside it. */
const shown = (file) => {
  const relative = path.relative(ROOT, file);
  return relative.startsWith("..") || path.isAbsolute(relative) ? file : relative;
};
const VARS_NAME = shown(VARS_FILE);
const DEMO_NAME = shown(DEMO_FILE);
// Every secret the gateway reads, from the one list of them (src/config.ts).
const SECRETS = CONFIG_VARIABLES.filter((variable) => variable.secret).map((variable) => variable.name);
const READY_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 5_000;

const tty = process.stdout.isTTY;
const paint = (code, text) => (tty ? `\x1b[${code}m${text}\x1b[0m` : text);
const say = (line = "") => process.stdout.write(`${paint("35", "[dev]")} ${line}\n`);
const fail = (message, code = 1) => {
  process.stderr.write(`${paint("31", "[dev] error:")} ${message}\n`);
  process.exit(code);
};

// Local only: no telemetry, no banner twice, no fetch of the request.cf placeholder from the network.
const childEnv = {
  ...process.env,
  WRANGLER_SEND_METRICS: process.env.WRANGLER_SEND_METRICS ?? "false",
  WRANGLER_HIDE_BANNER: process.env.WRANGLER_HIDE_BANNER ?? "true",
  CLOUDFLARE_CF_FETCH_ENABLED: process.env.CLOUDFLARE_CF_FETCH_ENABLED ?? "false",
  ...(tty && !process.env.NO_COLOR ? { FORCE_COLOR: process.env.FORCE_COLOR ?? "1" } : {}),
  ...(ISOLATED_DIR
    ? {
        // The gateway reads its secrets through --env-file, which wrangler ignores when this is "false".
        CLOUDFLARE_LOAD_DEV_VARS_FROM_DOT_ENV: "true",
        WRANGLER_REGISTRY_PATH: process.env.WRANGLER_REGISTRY_PATH || path.join(ISOLATED_DIR, "registry"),
      }
    : {}),
};

// ---------------------------------------------------------------------------------------------
// Child processes

const children = [];
let stopping = false;
let finalCode = 0;

function runWrangler(label, args) {
  // detached: each child leads its own process group, so we can stop wrangler *and* its workerd
  // processes, and a terminal Ctrl-C reaches them only through us (one orderly shutdown).
  const child = spawn(process.execPath, [WRANGLER, ...args], {
    cwd: ROOT,
    env: childEnv,
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  child.label = label;
  const tag = paint("36", `[${label}]`);
  for (const [stream, out] of [
    [child.stdout, process.stdout],
    [child.stderr, process.stderr],
  ]) {
    readline.createInterface({ input: stream, crlfDelay: Infinity }).on("line", (l) => out.write(`${tag} ${l}\n`));
  }
  children.push(child);
  child.done = new Promise((resolve) => {
    const finish = (code) => {
      if (children.includes(child)) children.splice(children.indexOf(child), 1);
      resolve(code);
    };
    child.on("exit", (code, signal) => finish(code ?? 128 + (osConstants.signals[signal] ?? 0)));
    child.on("error", (error) => {
      say(`error: could not start wrangler (${error.message}). Did you run \`npm install\`?`);
      finish(1);
    });
  });
  return child;
}

function signalGroup(child, signal) {
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

/** Stops every child (SIGINT/SIGTERM to wrangler, then SIGKILL to the whole group) and exits. */
async function stopAll(code, signal = "SIGTERM") {
  if (stopping) return;
  stopping = true;
  finalCode = code;
  const running = [...children];
  for (const child of running) {
    try {
      process.kill(child.pid, signal); // wrangler stops its workerd processes itself
    } catch {
      // already gone
    }
  }
  const timer = setTimeout(() => {
    for (const child of running) signalGroup(child, "SIGKILL");
  }, STOP_GRACE_MS);
  await Promise.all(running.map((child) => child.done));
  for (const child of running) signalGroup(child, "SIGKILL"); // stray workerd, if any
  clearTimeout(timer);
  process.exit(finalCode);
}

for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(signal, () => {
    if (stopping) return;
    process.stdout.write("\n");
    say(`${signal}: stopping ${children.map((c) => c.label).join(" and ") || "…"}`);
    stopAll(0, signal === "SIGHUP" ? "SIGTERM" : signal);
  });
}

// `npm run dev` runs us under `sh -c`; a SIGTERM sent to npm kills that shell but never reaches
// us. If our parent goes away, stop the servers instead of leaving them running unsupervised.
const parentPid = process.ppid;
setInterval(() => {
  if (process.ppid !== parentPid && !stopping) {
    say("the parent process exited; stopping.");
    stopAll(1);
  }
}, 1_000).unref();

/** When a server exits on its own, stop the other one and exit with its code. */
function superviseServer(child) {
  child.done.then((code) => {
    if (stopping) return;
    say(`the ${child.label} exited with code ${code}; stopping.`);
    stopAll(code);
  });
}

// ---------------------------------------------------------------------------------------------
// Steps

function ensureDevVars() {
  if (existsSync(VARS_FILE)) {
    const vars = readDevVars(VARS_FILE) ?? {};
    const missing = SECRETS.filter((name) => !vars[name]);
    if (missing.length) {
      say(`warning: ${VARS_NAME} has no ${missing.join(", ")}; add ${missing.length > 1 ? "them" : "it"} or delete ${VARS_NAME} to regenerate it.`);
    }
    return vars;
  }
  const secret = () => randomBytes(32).toString("base64url");
  const values = Object.fromEntries(SECRETS.map((name) => [name, secret()]));
  const text = [
    "# Local development secrets for `npm run dev` (wrangler dev reads this file).",
    `# Generated by scripts/dev.mjs on ${new Date().toISOString()}. LOCAL ONLY: gitignored, never deploy these.`,
    "# In production set each secret on the Worker instead:  npx wrangler secret put NAME",
    "#   (npx wrangler secret put KEY_HASH_SECRET, ... ORIGIN_SIGNING_SECRET, ... OPERATOR_TOKEN)",
    "# Changing KEY_HASH_SECRET invalidates every stored key; `npm run dev` then recreates the demo keys.",
    ...SECRETS.map((name) => `${name}=${values[name]}`),
    "",
  ].join("\n");
  if (ISOLATED_DIR) mkdirSync(ISOLATED_DIR, { recursive: true });
  writeFileSync(VARS_FILE, text, { flag: "wx", mode: 0o600 });
  say(`wrote ${VARS_NAME} with new random local secrets (KEY_HASH_SECRET, ORIGIN_SIGNING_SECRET, OPERATOR_TOKEN)`);
  return values;
}

function gatewayPort() {
  const raw = process.env.PORT ?? "8787";
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65535) fail(`PORT must be a port number (1-65535), got "${raw}"`, 2);
  return port;
}

async function pickOriginPort(gateway) {
  if (gateway < 65535 && (await portIsFree(gateway + 1))) return gateway + 1;
  return anyFreePort();
}

async function applyMigrations() {
  say(`applying D1 migrations to the local database (${PERSIST_DIR ? shown(PERSIST_DIR) : ".wrangler/state"})…`);
  // stdin is not a terminal and CI=true, so wrangler skips its "continue?" prompt.
  const child = spawn(process.execPath, [WRANGLER, "d1", "migrations", "apply", "DB", "--local", ...persistArgs], {
    cwd: ROOT,
    env: { ...childEnv, CI: "true" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output = [];
  for (const stream of [child.stdout, child.stderr]) {
    readline.createInterface({ input: stream, crlfDelay: Infinity }).on("line", (line) => output.push(line));
  }
  const code = await new Promise((resolve) => {
    child.on("error", (error) => fail(`could not start wrangler (${error.message}). Did you run \`npm install\`?`));
    child.on("exit", (c) => resolve(c ?? 1));
  });
  if (stopping) return;
  const tag = paint("36", "[migrate]");
  const interesting = output.filter((l) => /✅|No migrations|executed|error|✘/i.test(l));
  for (const line of code === 0 ? interesting : output) process.stdout.write(`${tag} ${line}\n`);
  if (code !== 0) fail(`applying migrations failed (exit ${code}); see the output above.`, code);
}

/** Polls url until it gives any HTTP answer. */
async function waitForHttp(url, child) {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (stopping || child.exitCode !== null || child.signalCode !== null) return false;
    try {
      await fetch(url, { signal: AbortSignal.timeout(2_000) });
      return true;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
  say(`error: the ${child.label} did not answer at ${url} within ${READY_TIMEOUT_MS / 1000} s; see its output above.`);
  await stopAll(1);
  return false;
}

function readDemoFile() {
  try {
    return JSON.parse(readFileSync(DEMO_FILE, "utf8"));
  } catch {
    return null;
  }
}

/** True when the key still exists and is active; false when it is gone (404) or revoked. */
async function keyStillWorks(client, id) {
  try {
    const key = await client.getKey(id);
    return key?.status === "active";
  } catch (error) {
    if (error instanceof OperatorApiError && error.status === 404) return false;
    throw error;
  }
}

/** The demo project and keys: reused from .wrangler/demo-keys.json, or created. */
async function ensureDemoKeys(client, keyHashSecret) {
  // Keys are stored as HMAC(KEY_HASH_SECRET, key): a new .dev.vars makes old keys unusable.
  const fingerprint = createHash("sha256").update(`composite-demo:${keyHashSecret}`).digest("hex").slice(0, 16);
  const saved = readDemoFile();
  if (
    saved?.key_hash_secret_fingerprint === fingerprint &&
    saved.public?.id &&
    saved.secret?.id &&
    (await keyStillWorks(client, saved.public.id)) &&
    (await keyStillWorks(client, saved.secret.id))
  ) {
    return { ...saved, reused: true };
  }
  if (saved) say("the saved demo keys no longer work; creating new ones…");

  const project = await client.createProject("Demo project (npm run dev)");
  const common = { project_id: project.id, environment: "test" };
  const publicKey = await client.createKey({ ...common, type: "public", label: "demo public key (npm run dev)" });
  const secretKey = await client.createKey({ ...common, type: "secret", label: "demo secret key (npm run dev)" });
  const demo = {
    note: "Demo keys created by `npm run dev` for the LOCAL gateway only. Delete this file to get new ones.",
    created_at: new Date().toISOString(),
    key_hash_secret_fingerprint: fingerprint,
    project: { id: project.id, name: project.name },
    public: { id: publicKey.id, key: publicKey.key },
    secret: { id: secretKey.id, key: secretKey.key },
  };
  mkdirSync(STATE_DIR, { recursive: true });
  writeFileSync(DEMO_FILE, JSON.stringify(demo, null, 2) + "\n", { mode: 0o600 });
  return { ...demo, reused: false };
}

function printSummary({ gatewayUrl, originUrl, userOrigin, demo, port }) {
  const b = (text) => paint("1", text);
  const dim = (text) => paint("2", text);
  const rule = dim("─".repeat(78));
  const lines = [
    "",
    rule,
    `  ${b("Composite gateway")}  ${gatewayUrl}`,
    userOrigin
      ? `  ${b("Origin")}             ${originUrl}  ${dim("(your ORIGIN_URL)")}`
      : `  ${b("Sample origin")}      ${originUrl}  ${dim(`(what it received: ${originUrl}/_origin/requests)`)}`,
  ];
  if (demo) {
    lines.push(
      `  ${b("Demo project")}       ${demo.project.id}${demo.reused ? dim(`  (from ${DEMO_NAME})`) : dim(`  (new; saved in ${DEMO_NAME})`)}`,
      `  ${b("Public test key")}    ${demo.public.key}  ${dim(demo.public.id)}`,
      `  ${b("Secret test key")}    ${demo.secret.key}  ${dim(demo.secret.id)}`,
      "",
      userOrigin
        ? `  Send an event with the public key (your origin gets it without the key, with X-Composite-* headers):`
        : `  Send an event with the public key. The origin echoes what it got: no Authorization header,\n` +
          `  X-Composite-Key-Id / -Project-Id / -Signature added, and "signature": "valid":`,
      `    curl -X POST ${gatewayUrl}/v1/events -H "Authorization: Bearer ${demo.public.key}" -H 'content-type: application/json' -d '{"event":"signup"}'`,
      "",
      `  Read events with the secret key (${userOrigin ? "forwarded the same way" : "the same echo"}; with the public key this is a 403):`,
      `    curl ${gatewayUrl}/v1/events -H "Authorization: Bearer ${demo.secret.key}"`,
      "",
    );
  }
  const url = port === 8787 ? "" : ` --url ${gatewayUrl}`;
  // The CLI finds the operator token in <COMPOSITE_DEV_DIR>/.dev.vars only when told the same dir.
  const dirPrefix = ISOLATED_DIR ? `COMPOSITE_DEV_DIR=${shellQuote(ISOLATED_DIR)} ` : "";
  lines.push(
    `  ${b("Dashboard")}          ${gatewayUrl}/dashboard  ${dim("(sign in with the secret key)")}`,
    `  ${b("Manage keys")}        ${dirPrefix}npm run keys -- list --project ${demo?.project.id ?? "<project id>"}${url}   ${dim("(npm run keys -- --help)")}`,
    `  ${b("Stop")}               Ctrl-C`,
    rule,
    "",
  );
  process.stdout.write(lines.join("\n") + "\n");
}

/** For printed commands: the value as one POSIX shell word. */
function shellQuote(value) {
  return /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replaceAll("'", `'\\''`)}'`;
}

// ---------------------------------------------------------------------------------------------

async function main() {
  if (!existsSync(WRANGLER)) fail("wrangler is not installed here. Run `npm install` first.");
  const port = gatewayPort();
  if (!(await portIsFree(port))) {
    fail(`port ${port} on 127.0.0.1 is already in use. Stop whatever uses it, or pick another port: PORT=8790 npm run dev`, 2);
  }
  const vars = ensureDevVars();
  await applyMigrations();

  const gatewayUrl = `http://127.0.0.1:${port}`;
  const userOrigin = process.env.ORIGIN_URL || null;
  let originUrl = userOrigin;
  let origin = null;
  if (!userOrigin) {
    const originPort = await pickOriginPort(port);
    originUrl = `http://127.0.0.1:${originPort}`;
    const args = ["dev", "-c", "examples/origin/wrangler.jsonc", "--ip", "127.0.0.1", "--port", String(originPort), ...originPersistArgs];
    // Both wranglers would otherwise race for the default devtools port (9229) and one would
    // fail with "Address already in use"; the gateway keeps the default, the origin gets another.
    args.push("--show-interactive-dev-session=false", "--inspector-port", String(await anyFreePort()));
    if (vars.ORIGIN_SIGNING_SECRET) {
      // Only the origin's own secret, through a file (not --var, which shows up in `ps`).
      mkdirSync(STATE_DIR, { recursive: true });
      writeFileSync(ORIGIN_VARS_FILE, `# written by scripts/dev.mjs for the sample origin\nORIGIN_SIGNING_SECRET=${vars.ORIGIN_SIGNING_SECRET}\n`, {
        mode: 0o600,
      });
      args.push("--env-file", ORIGIN_VARS_FILE); // absolute: wrangler resolves relative paths from the config's folder
    }
    say(`starting the sample origin on ${originUrl}…`);
    origin = runWrangler("origin", args);
    superviseServer(origin);
  } else {
    say(`ORIGIN_URL is set: forwarding to ${userOrigin} (no sample origin started)`);
  }

  say(`starting the gateway on ${gatewayUrl}…`);
  const gatewayArgs = [
    "dev",
    "--ip",
    "127.0.0.1",
    "--port",
    String(port),
    "--show-interactive-dev-session=false",
    "--var",
    `ORIGIN_URL:${originUrl}`,
  ];
  if (ISOLATED_DIR) {
    // The same state dir the migrations went to; the secrets from our .dev.vars, not the project's
    // (with --env-file, wrangler does not read ./.dev.vars at all); and a devtools port of its own:
    // wrangler's default (first free of 9229-9239, probed long before it binds) can race with
    // another instance starting at the same moment.
    gatewayArgs.push(...persistArgs, "--env-file", VARS_FILE, "--inspector-port", String(await anyFreePort()));
  }
  const gateway = runWrangler("gateway", gatewayArgs);
  superviseServer(gateway);

  if (!(await waitForHttp(`${gatewayUrl}/_operator/health`, gateway))) return;
  if (origin && !(await waitForHttp(`${originUrl}/_origin/requests`, origin))) return;

  let demo = null;
  if (!vars.OPERATOR_TOKEN || !vars.KEY_HASH_SECRET) {
    say(`warning: ${VARS_NAME} has no OPERATOR_TOKEN / KEY_HASH_SECRET, so no demo keys were created.`);
  } else {
    try {
      demo = await ensureDemoKeys(createOperatorClient({ baseUrl: gatewayUrl, token: vars.OPERATOR_TOKEN }), vars.KEY_HASH_SECRET);
    } catch (error) {
      const detail = error instanceof OperatorApiError ? `HTTP ${error.status} ${error.text.slice(0, 300)}` : error.message;
      say(`warning: could not set up the demo keys through the operator API: ${detail}`);
      say("the servers are running; create keys yourself with `npm run keys -- --help`.");
    }
  }
  if (!stopping) printSummary({ gatewayUrl, originUrl, userOrigin, demo, port });
}

main().catch(async (error) => {
  process.stderr.write(`${paint("31", "[dev] error:")} ${error?.stack ?? error}\n`);
  await stopAll(1);
});
