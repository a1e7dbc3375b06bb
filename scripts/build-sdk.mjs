// npm run build:sdk (also `npm install`'s prepare step and the package's prepack) — the SDK package
// in sdk/dist: composite.js, one ES module with no imports, for browsers, Workers, Node and
// bundlers, and types/*.d.ts. The tests build the same bundle in memory (as an IIFE) to load it
// into a page.
import { build } from "esbuild";
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const SDK = fileURLToPath(new URL("../sdk/", import.meta.url));
const ENTRY = path.join(SDK, "src", "index.ts");
export const SDK_BUNDLE = path.join(SDK, "dist", "composite.js");
const TYPES = path.join(SDK, "dist", "types");
const DECLARATIONS = path.join(SDK, "dist", `.declarations-${process.pid}`);

/** Writes sdk/dist/composite.js, or with `globalName` answers an IIFE that sets that global. */
export async function buildSdk({ globalName } = {}) {
  const result = await build({
    entryPoints: [ENTRY],
    bundle: true,
    platform: "neutral",
    target: "es2022",
    format: globalName ? "iife" : "esm",
    // Written beside and renamed: a test importing the bundle meanwhile never reads half a file.
    ...(globalName ? { globalName, write: false } : { outfile: `${SDK_BUNDLE}.${process.pid}.tmp` }),
    legalComments: "none",
    logLevel: "warning",
  });
  if (globalName) return result.outputFiles[0].text;
  renameSync(`${SDK_BUNDLE}.${process.pid}.tmp`, SDK_BUNDLE);
  return SDK_BUNDLE;
}

/** sdk/dist/types: the declarations of sdk/src, with their imports pointing at .js as a consumer's TypeScript resolves them. */
export function buildSdkTypes() {
  const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
  rmSync(DECLARATIONS, { recursive: true, force: true });
  execFileSync(process.execPath, [tsc, "-p", path.join(SDK, "tsconfig.build.json"), "--outDir", DECLARATIONS], { stdio: "inherit" });
  const emitted = path.join(DECLARATIONS, "sdk", "src");
  for (const file of readdirSync(emitted)) {
    const text = readFileSync(path.join(emitted, file), "utf8").replace(/(from\s+["']\.\/[\w-]+)\.ts(["'])/g, "$1.js$2");
    if (/from\s+["']\.\.\//.test(text)) throw new Error(`${file}: a public type names a module outside sdk/src; the package could not resolve it`);
    // Each file replaced by a rename, so a typecheck running meanwhile sees whole files.
    mkdirSync(TYPES, { recursive: true });
    writeFileSync(path.join(TYPES, `${file}.${process.pid}.tmp`), text);
    renameSync(path.join(TYPES, `${file}.${process.pid}.tmp`), path.join(TYPES, file));
  }
  rmSync(DECLARATIONS, { recursive: true, force: true });
  return TYPES;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const file = await buildSdk();
  const types = buildSdkTypes();
  console.log(`wrote ${path.relative(process.cwd(), file)} (${(statSync(file).size / 1024).toFixed(1)} KiB) and ${readdirSync(types).length} declaration files in ${path.relative(process.cwd(), types)}`);
}
