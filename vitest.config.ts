import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

// Two projects, one `npm test`:
//  - workers: inside workerd with the Worker's real bindings from wrangler.jsonc (KV, D1, the
//    Durable Objects). The sample origin is loaded as a second worker and bound as ORIGIN, so
//    forwarded requests cross a real service boundary.
//  - node: the local tooling as a user runs it (npm run dev, the keys CLI) against a real
//    `wrangler dev`.
export default defineConfig(async () => {
  const migrations = await readD1Migrations("migrations");
  return {
    test: {
      // Request logs of passing tests are noise; a failing test still shows its output.
      silent: "passed-only",
      projects: [
        {
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
                },
                serviceBindings: { ORIGIN: "composite-sample-origin", COMPRESSING_ORIGIN: "compressing-origin", FAULTY_ORIGIN: "faulty-origin" },
                workers: [
                  {
                    name: "composite-sample-origin",
                    // The sample origin and the signature verifier it imports, as npm run dev serves them.
                    modules: [
                      { type: "ESModule", path: "./examples/origin/index.js" },
                      { type: "ESModule", path: "./examples/origin/verify-signature.js" },
                    ],
                    compatibilityDate: "2026-11-01",
                    bindings: { ORIGIN_SIGNING_SECRET: "test-origin-signing-secret", QUIET: "1" },
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
                  {
                    // An origin that hangs, crashes, answers 503, a huge or a slow body, or resets
                    // mid-body, as its request's x-fault header says (test/faults/).
                    name: "faulty-origin",
                    modules: [{ type: "ESModule", path: "./test/faults/faulty-origin.js" }],
                    compatibilityDate: "2026-11-01",
                  },
                ],
              },
            }),
          ],
          test: {
            name: "workers",
            include: ["test/**/*.test.ts"],
            setupFiles: ["./test/setup/apply-migrations.ts"],
          },
        },
        {
          test: {
            name: "node",
            include: ["test-node/**/*.test.{ts,mjs}", "sdk/test/**/*.test.ts"],
            environment: "node",
            testTimeout: 120_000,
            hookTimeout: 120_000,
          },
        },
      ],
    },
  };
});
