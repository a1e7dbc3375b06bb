// The keys CLI as a user runs it (node cli/keys.mjs), issue 16: one-line usage errors that say what
// is wrong and the right form, `--help` per command, and each command — roll, update, usage, plan
// among them — against a real gateway: the Worker bundled as `wrangler deploy` bundles it, in one
// Miniflare (workerd with real KV, D1 and Durable Objects) on 127.0.0.1, as bench/ and soak/ run it.
// Lighter than `npm run dev` (dev-and-cli.test.mjs), which starts wrangler dev and a sample origin.
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { applyMigrations, convertV4MiniflareOptions, esbuild, Miniflare, readWranglerConfig, workerBuildOptions } from "../bench/harness.mjs";
import { COMMANDS, formOf, parseDuration } from "../cli/commands.mjs";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const CLI = path.join(ROOT, "cli", "keys.mjs");
const OPERATOR_TOKEN = "cli-commands-operator-token-0123456789";

/** The CLI as a user runs it; the token from OPERATOR_TOKEN unless `env` says otherwise. */
function keys(args, env = {}) {
  const childEnv = { ...process.env, NO_COLOR: "1", OPERATOR_TOKEN, ...env };
  delete childEnv.COMPOSITE_DEV_DIR;
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { cwd: ROOT, env: childEnv, timeout: 30_000 }, (error, stdout, stderr) => {
      let json = null;
      try {
        json = JSON.parse(stdout);
      } catch {
        // not JSON
      }
      resolve({ code: error ? error.code : 0, stdout, stderr, json });
    });
  });
}

/** A usage error: exit 2, nothing on stdout, exactly one line on stderr, which is returned. */
async function usageError(args) {
  const result = await keys(args);
  expect(result.code, `${args.join(" ")}\n${result.stderr}`).toBe(2);
  expect(result.stdout).toBe("");
  expect(result.stderr).toMatch(/^error: [^\n]+\n$/);
  expect(result.stderr).not.toMatch(/Commands:\n|Global options|ERR_PARSE_ARGS|TypeError/);
  return result.stderr.trim();
}

describe("keys CLI: usage errors are one line with the right form (no gateway needed)", () => {
  it.each([
    [["frobnicate"], /^error: unknown command "frobnicate"\. Commands: project create, .*roll.*plan\. Run npm run keys -- --help$/],
    [[], /^error: no command given\. Commands: /],
    [["project"], /^error: "project" needs a subcommand: project create --name <name>, or project list$/],
    [["project", "delete"], /^error: unknown command "project delete": project create --name <name>, or project list$/],
    [["create", "--bogus"], /^error: unknown option --bogus \("create" takes --project, .*\)\. Usage: npm run keys -- create --project <project id> --type public\|secret/],
    [["create", "--project"], /^error: --project needs a value\. Usage: npm run keys -- create /],
    [["create", "--project", "proj_1", "--type", "secret", "--env", "test"], /^error: --label is required\. Usage: /],
    [["create", "--project", "p", "--type", "privat", "--env", "test", "--label", "x"], /^error: --type must be public or secret, got "privat"\. Usage: /],
    [["create", "--project", "p", "--type", "secret", "--env", "test", "--label", "x", "--expires-at", "soon"], /^error: --expires-at must be an ISO 8601 date-time or date/],
    [["list", "--project", "a", "--project", "b"], /^error: --project is given twice\. Usage: npm run keys -- list --project <project id>$/],
    [["get"], /^error: "get" needs <key id>\. Usage: npm run keys -- get <key id>$/],
    [["get", "key_a", "key_b"], /^error: "get" takes only <key id>, got: key_a key_b\. Usage: /],
    [["revoke", "key_a", "--rate", "5"], /^error: unknown option --rate \("revoke" takes no options\)\. Usage: npm run keys -- revoke <key id>$/],
    [["-x", "list"], /^error: unknown option -x \("list" takes --project\)/],
    [["update", "key_a"], /^error: give at least one of --label, --scopes, --allowed-origins\. Usage: npm run keys -- update <key id> /],
    [["roll", "key_a"], /^error: --expires-in is required\. Usage: npm run keys -- roll <key id> --expires-in <duration>$/],
    [["roll", "key_a", "--expires-in", "8d"], /^error: --expires-in must be a duration from 0 to 7d \(0, 90s, 30m, 1h, 24h, 7d\), got "8d"/],
    [["roll", "key_a", "--expires-in", "1 week"], /^error: --expires-in must be a duration/],
    [["limits", "key_a"], /^error: give at least one of --rate, --burst, --daily\. Usage: /],
    [["limits", "key_a", "--rate", "0"], /^error: --rate must be a whole number from 1 or "default", got "0"/],
    [["limits", "key_a", "--daily", "1e3"], /^error: --daily must be a whole number from 1 or "default", got "1e3"/],
    [["usage", "key_a", "--days", "91"], /^error: --days must be a whole number from 1 to 90, got "91"/],
    [["usage", "key_a", "--days", "0"], /^error: --days must be a whole number from 1 to 90, got "0"/],
    [["usage"], /^error: "usage" needs a <key id>, or --project <project id>\. Usage: npm run keys -- usage <key id> \[--days <n>\]  or  npm run keys -- usage --project /],
    [["usage", "key_a", "--project", "proj_1"], /^error: give a <key id> or --project, not both/],
    [["usage", "key_a", "--from", "2026-11-01"], /^error: --from applies with --project; for a key, use --days/],
    [["usage", "--project", "proj_1", "--days", "3"], /^error: --days applies to a key; for a project, use --from and --to/],
    [["usage", "--project", "proj_1", "--to", "30.11.2026"], /^error: --to must be a UTC day, YYYY-MM-DD, got "30\.11\.2026"/],
    [["plan"], /^error: "plan" needs <project id>\. Usage: npm run keys -- plan <project id> \[free\|pro\|enterprise\|custom\]/],
    [["plan", "proj_1", "gold"], /^error: the plan must be free, pro, enterprise or custom, got "gold"/],
    [["plan", "proj_1", "pro", "--secret-rate", "5"], /^error: --secret-rate applies to the custom plan only \(the pro plan's limits are fixed\)/],
    [["plan", "proj_1", "custom"], /^error: a custom plan needs at least one of --public-rate, /],
    [["plan", "proj_1", "custom", "--public-daily", "default"], /^error: --public-daily must be a whole number from 1, got "default"/],
    [["plan", "proj_1", "--secret-rate", "5"], /^error: --secret-rate sets a custom plan's limit: name the plan custom/],
  ])("%j", async (args, expected) => {
    expect(await usageError(args)).toMatch(expected);
  });

  it("a bad --url, a refused URL and a missing token are one line too", async () => {
    expect(await usageError(["project", "list", "--url", "not a url"])).toBe("error: --url is not a valid URL: not a url");
    expect(await usageError(["project", "list", "--url", "http://gateway.example.com"])).toMatch(/^error: refusing to send the operator token over plain HTTP/);
    expect(await usageError(["project", "list", "--url"])).toMatch(/^error: --url needs a value/);
  });

  it("--help per command: that command's form and options only, on stdout, exit 0", async () => {
    for (const name of Object.keys(COMMANDS)) {
      for (const help of ["--help", "-h"]) {
        const result = await keys([...name.split(" "), help]);
        expect(result.code, `${name} ${help}: ${result.stderr}`).toBe(0);
        expect(result.stderr).toBe("");
        expect(result.stdout).toContain(`Usage: ${formOf(name)}\n`);
        expect(result.stdout).toContain(`${COMMANDS[name].summary}.`);
        expect(result.stdout).not.toContain("Commands:"); // not the whole help
        for (const option of Object.keys(COMMANDS[name].options)) expect(result.stdout).toContain(`--${option}`);
      }
    }
    const general = await keys(["--help"]);
    expect(general.code).toBe(0);
    for (const name of Object.keys(COMMANDS)) expect(general.stdout).toContain(`  ${name} `);
  });

  it("durations: 0, seconds, minutes, hours, days", () => {
    expect([parseDuration("0"), parseDuration("90"), parseDuration("90s"), parseDuration("30m"), parseDuration("1h"), parseDuration("7d")]).toEqual([0, 90, 90, 1800, 3600, 604_800]);
    expect([parseDuration(""), parseDuration("1w"), parseDuration("-1h"), parseDuration("1.5h")]).toEqual([null, null, null, null]);
  });
});

describe("keys CLI against a real gateway (Miniflare on 127.0.0.1)", () => {
  let mf;
  let url;
  let buildDir;

  beforeAll(async () => {
    const wrangler = readWranglerConfig();
    buildDir = mkdtempSync(path.join(os.tmpdir(), "composite-cli-commands-"));
    const script = path.join(buildDir, "gateway.js");
    await esbuild.build({ ...workerBuildOptions(wrangler), entryPoints: [path.join(ROOT, "src", "index.ts")], outfile: script });
    const sqliteClasses = new Set((wrangler.migrations ?? []).flatMap((m) => m.new_sqlite_classes ?? []));
    mf = new Miniflare(
      convertV4MiniflareOptions({
        host: "127.0.0.1",
        port: 0,
        cf: false,
        telemetry: { enabled: false },
        workers: [
          {
            name: "gateway",
            modules: true,
            scriptPath: script,
            modulesRoot: buildDir, // module names are paths below it: a build outside the project would need ".."
            compatibilityDate: wrangler.compatibility_date,
            compatibilityFlags: wrangler.compatibility_flags ?? [],
            bindings: { ...wrangler.vars, KEY_HASH_SECRET: "cli-commands-key-hash-secret", ORIGIN_SIGNING_SECRET: "cli-commands-origin-secret", OPERATOR_TOKEN },
            kvNamespaces: { KEYS: "cli-KEYS" },
            d1Databases: { DB: "cli-DB" },
            durableObjects: Object.fromEntries(
              wrangler.durable_objects.bindings.map((b) => [b.name, { className: b.class_name, useSQLite: sqliteClasses.has(b.class_name) }]),
            ),
          },
        ],
      }),
    );
    url = (await mf.ready).href.replace(/\/$/, "");
    await applyMigrations(await mf.getD1Database("DB", "gateway"), wrangler);
  });

  afterAll(async () => {
    await mf?.dispose();
    if (buildDir) rmSync(buildDir, { recursive: true, force: true });
  });

  const ok = async (args) => {
    const result = await keys([...args, "--url", url]);
    expect(result.code, `keys ${args.join(" ")}\n${result.stderr}`).toBe(0);
    expect(result.json, result.stdout).not.toBeNull();
    return result.json;
  };
  const api = (pathname, key, init = {}) =>
    fetch(url + pathname, { ...init, headers: { authorization: `Bearer ${key}`, "content-type": "application/json", ...init.headers } });

  let projectId;
  let secret; // {id, key}

  it("project create, then create a secret key on the free plan's limits", async () => {
    const project = await ok(["project", "create", "--name", "cli"]);
    expect(project).toMatchObject({ id: expect.stringMatching(/^proj_/), name: "cli", plan: "free" });
    projectId = project.id;
    const created = await ok(["create", "--project", projectId, "--type", "secret", "--env", "test", "--label", "server"]);
    expect(created).toMatchObject({ type: "secret", label: "server", plan: "free", limits: { rate: 1000, burst: 10_000, daily: 10_000_000 } });
    secret = { id: created.id, key: created.key };
  });

  it("update: label and scopes, in force on the next request; --scopes all makes it unrestricted again", async () => {
    const updated = await ok(["update", secret.id, "--label", "server (read only)", "--scopes", "events:read"]);
    expect(updated).toMatchObject({ id: secret.id, label: "server (read only)", scopes: ["events:read"] });
    const refused = await api("/v1/api_keys", secret.key);
    expect(refused.status).toBe(403); // projects:read is not among its scopes now
    const unrestricted = await ok(["update", secret.id, "--scopes", "all"]);
    expect(unrestricted.scopes).toBeNull();
    expect((await api("/v1/api_keys", secret.key)).status).toBe(200);
  });

  it("update of a public-key-only field on a secret key: exit 1 with the gateway's 400", async () => {
    const result = await keys(["update", secret.id, "--allowed-origins", "https://app.example.com", "--url", url]);
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stderr)).toMatchObject({ status: 400, code: "invalid_request" });
  });

  it("usage: the key's admitted requests per day, once its object has flushed them", async () => {
    // One admitted request so far (the GET /v1/api_keys above that answered 200); the 403 took nothing.
    let usage;
    for (let attempt = 0; attempt < 40; attempt++) {
      usage = await ok(["usage", secret.id, "--days", "3"]);
      if (usage.data.at(-1).requests >= 1) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(usage).toMatchObject({ key_id: secret.id, last_used_at: expect.any(String) });
    expect(usage.data).toHaveLength(3);
    const today = new Date().toISOString().slice(0, 10);
    expect(usage.data.at(-1)).toMatchObject({ day: today, requests: 1, rejected: 0 });

    const project = await ok(["usage", "--project", projectId, "--from", today, "--to", today]);
    expect(project).toEqual({ from: today, to: today, data: [{ key_id: secret.id, day: today, requests: 1, rejected: 0 }] });
    const tooLong = await keys(["usage", "--project", projectId, "--from", "2026-01-01", "--to", "2026-12-31", "--url", url]);
    expect(tooLong.code).toBe(1);
    expect(JSON.parse(tooLong.stderr)).toMatchObject({ status: 400, code: "invalid_request", detail: "The range covers 365 days; ask for at most 90 at a time." });
  });

  it("limits, then plan pro: the key's own daily quota stays, its rate and burst follow the plan", async () => {
    await ok(["limits", secret.id, "--daily", "5000"]);
    const shown = await ok(["plan", projectId]);
    expect(shown).toMatchObject({ id: projectId, plan: "free", limits: { secret: { rate: 1000 } } });
    const set = await ok(["plan", projectId, "pro"]);
    expect(set).toMatchObject({ plan: "pro", keys: { total: 1, updated: 1 } });
    const key = await ok(["get", secret.id]);
    expect(key).toMatchObject({ plan: "pro", limits: { rate: 5000, burst: 50_000, daily: 5000 } });
    const answer = await api("/v1/api_keys", secret.key);
    expect(answer.headers.get("x-ratelimit-limit")).toBe("50000");
    expect(answer.headers.get("x-ratelimit-limit-day")).toBe("5000");
  });

  it("plan custom: limits left out stay as the plan had them", async () => {
    const set = await ok(["plan", projectId, "custom", "--secret-rate", "7", "--public-daily", "1234"]);
    expect(set).toMatchObject({ plan: "custom", limits: { secret: { rate: 7, burst: 50_000, daily: 100_000_000 }, public: { rate: 500, daily: 1234 } } });
    expect(await ok(["get", secret.id])).toMatchObject({ plan: "custom", limits: { rate: 7, burst: 50_000, daily: 5000 } });
    const unknown = await keys(["plan", "proj_nope", "pro", "--url", url]);
    expect(unknown.code).toBe(1);
    expect(JSON.parse(unknown.stderr)).toMatchObject({ status: 404, code: "not_found" });
  });

  it("roll --expires-in 0: a new key with the same settings, shown once; the old one is expired at once", async () => {
    const rolled = await ok(["roll", secret.id, "--expires-in", "0"]);
    expect(rolled).toMatchObject({ key: expect.stringMatching(/^sk_test_/), rolled_from: secret.id, label: "server (read only)", plan: "custom", limit_overrides: { daily: 5000 } });
    const old = await api("/v1/api_keys", secret.key);
    expect(old.status).toBe(401);
    expect((await old.json()).code).toBe("expired_api_key");
    expect((await api("/v1/api_keys", rolled.key)).status).toBe(200);
    const again = await keys(["roll", secret.id, "--expires-in", "1h", "--url", url]);
    expect(again.code).toBe(1);
    expect(JSON.parse(again.stderr)).toMatchObject({ status: 409, code: "conflict" });
    secret = { id: rolled.id, key: rolled.key };
  });

  it("revoke, then update of the revoked key: exit 1 with 409", async () => {
    expect(await ok(["revoke", secret.id])).toMatchObject({ status: "revoked" });
    const result = await keys(["update", secret.id, "--label", "x", "--url", url]);
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stderr)).toMatchObject({ status: 409, code: "conflict" });
  });
});
