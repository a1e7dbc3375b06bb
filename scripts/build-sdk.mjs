// npm run build:sdk — the TypeScript SDK as one ES module with no imports, for browsers, Workers
// and Node: sdk/dist/composite.js. The tests build it in memory (as an IIFE) to load it into a page.
import { build } from "esbuild";
import { statSync } from "node:fs";
import { fileURLToPath } from "node:url";

const ENTRY = fileURLToPath(new URL("../sdk/src/index.ts", import.meta.url));
export const SDK_BUNDLE = fileURLToPath(new URL("../sdk/dist/composite.js", import.meta.url));

/** Writes sdk/dist/composite.js, or with `globalName` answers an IIFE that sets that global. */
export async function buildSdk({ globalName } = {}) {
  const result = await build({
    entryPoints: [ENTRY],
    bundle: true,
    platform: "neutral",
    target: "es2022",
    format: globalName ? "iife" : "esm",
    ...(globalName ? { globalName, write: false } : { outfile: SDK_BUNDLE }),
    legalComments: "none",
    logLevel: "warning",
  });
  return globalName ? result.outputFiles[0].text : SDK_BUNDLE;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const file = await buildSdk();
  console.log(`wrote ${file} (${(statSync(file).size / 1024).toFixed(1)} KiB)`);
}
