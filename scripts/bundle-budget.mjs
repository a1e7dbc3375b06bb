// The bundle budget: how big the Worker we upload is, gzipped, and what the dashboard costs of it.
//
// Measured on what wrangler itself would upload (`wrangler deploy --dry-run --env <name> --outdir`),
// gzipped as wrangler reports it (zlib's default level). Cloudflare's limit is 3 MiB gzipped on the
// Free plan; the budget is ours and much lower because the bundle's size is paid at every cold start.
// Raise it on purpose, in the same commit as the growth, and update README "Deploy".
//
// The dashboard's share is measured with and without it: the same entry is bundled twice with
// esbuild (minified, as the production build), once as is and once with src/dashboard replaced by
// an empty Hono app — the difference is what removing the dashboard would save.

import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";

export const ROOT = path.resolve(import.meta.dirname, "..");

/** Gzipped bytes of the production Worker (README "Deploy" states it; keep the two equal). */
export const GZIP_BUDGET_BYTES = 200 * 1024;

const gzipped = (bytes) => gzipSync(bytes).length;

/**
 * Runs `wrangler deploy --dry-run --env <env> --outdir <dir>` with the given wrangler command and
 * measures what it wrote. Resolves to { bytes, gzipBytes, outdir } or throws with wrangler's output.
 */
export function measureWorkerBundle({ env, wrangler, config = path.join(ROOT, "wrangler.jsonc"), outdir = mkdtempSync(path.join(os.tmpdir(), `composite-bundle-${env}-`)), spawnEnv = process.env }) {
  const result = spawnSync(wrangler.command, [...wrangler.args, "deploy", "--dry-run", "--config", config, "--env", env, "--outdir", outdir], {
    cwd: ROOT,
    env: spawnEnv,
    encoding: "utf8",
  });
  if (result.status !== 0) {
    throw new Error(`wrangler deploy --dry-run --env ${env} failed (exit ${result.status ?? result.signal}):\n${result.stdout}${result.stderr}`);
  }
  const code = readFileSync(path.join(outdir, "index.js"));
  return { bytes: code.length, gzipBytes: gzipped(code), outdir };
}

/** esbuild options close to wrangler's for a module Worker, minified like the production env. */
async function bundleEntry(plugins) {
  const result = await build({
    entryPoints: [path.join(ROOT, "src/index.ts")],
    bundle: true,
    write: false,
    format: "esm",
    target: "es2024",
    platform: "neutral",
    conditions: ["workerd", "worker", "browser"],
    mainFields: ["module", "main"],
    external: ["cloudflare:*", "node:*"],
    jsx: "automatic",
    jsxImportSource: "hono/jsx",
    minify: true,
    logLevel: "silent",
    plugins,
  });
  const code = result.outputFiles[0].contents;
  return { bytes: code.length, gzipBytes: gzipped(code) };
}

/** { with, without, bytes, gzipBytes }: the dashboard's cost, minified and gzipped. */
export async function measureDashboardCost() {
  const withDashboard = await bundleEntry([]);
  const withoutDashboard = await bundleEntry([
    {
      name: "no-dashboard",
      setup(pluginBuild) {
        pluginBuild.onResolve({ filter: /^\.\/dashboard$/ }, (args) =>
          args.importer.endsWith(`${path.sep}src${path.sep}index.ts`) ? { path: "dashboard-stub", namespace: "no-dashboard" } : undefined,
        );
        pluginBuild.onLoad({ filter: /.*/, namespace: "no-dashboard" }, () => ({
          contents: 'import { Hono } from "hono"; export const dashboard = new Hono();',
          resolveDir: ROOT,
          loader: "js",
        }));
      },
    },
  ]);
  if (withoutDashboard.bytes >= withDashboard.bytes) throw new Error("the dashboard stub did not replace src/dashboard: src/index.ts no longer imports ./dashboard");
  return {
    with: withDashboard,
    without: withoutDashboard,
    bytes: withDashboard.bytes - withoutDashboard.bytes,
    gzipBytes: withDashboard.gzipBytes - withoutDashboard.gzipBytes,
  };
}

export const kib = (bytes) => `${(bytes / 1024).toFixed(1)} KiB`;

/** Removes a directory measureWorkerBundle made. */
export const removeOutdir = (outdir) => rmSync(outdir, { recursive: true, force: true });
