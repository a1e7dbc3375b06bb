// What the benchmark (bench/run.mjs) and the soak (soak/run.mjs) share: wrangler's own toolchain,
// wrangler.jsonc as data, the gateway bundled as `wrangler deploy` bundles it, D1 migrations,
// child processes of workerd, and the operator API.
import { readFileSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(BENCH_DIR, "..");

// Wrangler's own miniflare and esbuild (miniflare may not be hoisted).
export const requireFromRoot = createRequire(path.join(ROOT, "package.json"));
export const wranglerPkg = requireFromRoot.resolve("wrangler/package.json");
const requireFromWrangler = createRequire(wranglerPkg);
export const miniflarePkg = requireFromWrangler.resolve("miniflare/package.json");
export const requireFromMiniflare = createRequire(miniflarePkg);
export const { Miniflare, convertV4MiniflareOptions } = requireFromWrangler("miniflare");
export const esbuild = requireFromWrangler("esbuild");
export const versionOf = (pkgJson) => JSON.parse(readFileSync(pkgJson, "utf8")).version;

/** wrangler.jsonc without comments (string-aware) and trailing commas. */
export function readWranglerConfig(dir = ROOT) {
  const text = readFileSync(path.join(dir, "wrangler.jsonc"), "utf8");
  let out = "";
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j;
    } else if (ch === "/" && text[i + 1] === "/") {
      while (i < text.length && text[i] !== "\n") i++;
      out += "\n";
    } else if (ch === "/" && text[i + 1] === "*") {
      i = text.indexOf("*/", i + 2) + 1;
    } else out += ch;
  }
  return JSON.parse(out.replace(/,(\s*[}\]])/g, "$1"));
}

/** esbuild settings of `wrangler deploy` for a modules Worker (conditions, ESM, keep_names). */
export function workerBuildOptions(wrangler, absWorkingDir = ROOT) {
  return {
    bundle: true,
    format: "esm",
    platform: "browser",
    conditions: ["workerd", "worker", "browser"],
    target: "es2024",
    keepNames: wrangler.keep_names ?? true,
    external: ["cloudflare:*", "node:*"],
    define: { "process.env.NODE_ENV": '"production"' },
    logLevel: "error",
    absWorkingDir,
  };
}

/** D1 migrations in file order, one statement at a time (comments stripped). */
export async function applyMigrations(db, wrangler) {
  const dir = path.join(ROOT, wrangler.d1_databases[0].migrations_dir ?? "migrations");
  const files = readdirSync(dir).filter((f) => f.endsWith(".sql")).sort();
  for (const file of files) {
    const sql = readFileSync(path.join(dir, file), "utf8").replace(/--[^\n]*/g, "");
    for (const statement of sql.split(";").map((s) => s.trim()).filter(Boolean)) await db.prepare(statement).run();
  }
  return files;
}

/** Pids of the direct children of `parent` whose command is `name` (e.g. Miniflare's workerd). */
export function childPids(parent, name) {
  const pids = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === parent && comm === name) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** Asks an IPC child (origin, load generator) to exit; SIGKILL after 3 s. */
export function stopChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  const exited = new Promise((resolve) => child.once("exit", resolve));
  try {
    child.send({ type: "exit" });
  } catch {
    child.kill("SIGTERM");
  }
  const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
  return exited.finally(() => clearTimeout(timer));
}

/** One operator API call (`/_operator/*`); throws on any non-2xx, with the problem's text. */
export async function operatorCall(base, token, method, pathname, body) {
  const response = await fetch(new URL(pathname, base), {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${pathname} → ${response.status}: ${text}`);
  return JSON.parse(text);
}

/**
 * A number from the environment variable `name` (fallback when unset or empty); anything else,
 * below `min`, or (with `integer`) not a whole number is an error that names the variable.
 */
export function numberFromEnv(name, fallback, { min = 1, integer = false } = {}) {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  const ok = integer ? Number.isInteger(value) : Number.isFinite(value);
  if (!ok || value < min) throw new Error(`${name} must be ${integer ? "an integer" : "a number"} ≥ ${min} (got ${raw})`);
  return value;
}

/** One line to stdout: the table and progress of the benchmark and the soak. */
export const log = (line = "") => process.stdout.write(`${line}\n`);
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
/** A figure rounded for the JSON results (null stays null). */
export const round = (value, digits = 0) => (value === null || value === undefined ? null : Number(value.toFixed(digits)));
