import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

// Tests run inside workerd with the Worker's real bindings from wrangler.jsonc (KV, D1, the
// KeyLimiter Durable Object). The sample origin is loaded as a second worker and bound as ORIGIN,
// so forwarded requests cross a real service boundary.
export default defineConfig(async () => {
  const migrations = await readD1Migrations("migrations");
  return {
    plugins: [
      cloudflareTest({
        wrangler: { configPath: "./wrangler.jsonc" },
        remoteBindings: false,
        miniflare: {
          bindings: {
            TEST_MIGRATIONS: migrations,
            KEY_HASH_SECRET: "test-key-hash-secret",
            ORIGIN_SIGNING_SECRET: "test-origin-signing-secret",
            OPERATOR_TOKEN: "test-operator-token",
            ORIGIN_TIMEOUT_MS: "1000",
          },
          serviceBindings: { ORIGIN: "composite-sample-origin", COMPRESSING_ORIGIN: "compressing-origin" },
          workers: [
            {
              name: "composite-sample-origin",
              modules: true,
              scriptPath: "./examples/origin/index.js",
              compatibilityDate: "2026-11-01",
              bindings: { ORIGIN_SIGNING_SECRET: "test-origin-signing-secret" },
            },
            {
              // An origin that answers gzip whether or not the client asked for it.
              name: "compressing-origin",
              modules: true,
              script: `export default { fetch() {
                return new Response(JSON.stringify({ hello: "world ".repeat(200) }), {
                  headers: { "content-type": "application/json", "content-encoding": "gzip" },
                });
              } };`,
              compatibilityDate: "2026-11-01",
            },
          ],
        },
      }),
    ],
    test: {
      setupFiles: ["./test/setup/apply-migrations.ts"],
      // Request logs of passing tests are noise; a failing test still shows its output.
      silent: "passed-only",
    },
  };
});
