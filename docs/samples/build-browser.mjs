// Build step: inlines the PUBLIC key into the browser bundle, and refuses anything else.
import { build } from "esbuild";

const publicKey = process.env.COMPOSITE_PUBLIC_KEY ?? "";
if (!publicKey.startsWith("pk_")) {
  console.error("COMPOSITE_PUBLIC_KEY must be a public key (pk_…): everything in a bundle is readable by anyone.");
  process.exit(1);
}

await build({
  entryPoints: ["docs/samples/browser-app.ts"],
  bundle: true,
  format: "esm",
  outfile: process.env.OUT_FILE ?? "dist/app.js",
  define: {
    "process.env.COMPOSITE_PUBLIC_KEY": JSON.stringify(publicKey),
    "process.env.COMPOSITE_API_URL": JSON.stringify(process.env.COMPOSITE_API_URL),
  },
});
console.log(`built with the public ${publicKey.slice(3, 7)} key ${publicKey.slice(0, 8)}…${publicKey.slice(-4)}`);
