import type { D1Migration } from "@cloudflare/vitest-plugin";
import type { Env as GatewayEnv } from "../src/config";

declare global {
  namespace Cloudflare {
    interface Env extends GatewayEnv {
      TEST_MIGRATIONS: D1Migration[];
      /** An origin that always answers gzip (vitest.config.ts). */
      COMPRESSING_ORIGIN: Fetcher;
      /** An origin that misbehaves as each request's x-fault header says (test/faults/faulty-origin.js). */
      FAULTY_ORIGIN: Fetcher;
    }
    interface GlobalProps {
      mainModule: typeof import("../src/index");
      durableNamespaces: "KeyLimiter";
    }
  }
}
