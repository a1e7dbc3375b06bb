/**
 * The SDK from a server script. With `npm run dev` running in another terminal:
 *
 *   COMPOSITE_API_KEY=<a demo key it printed> COMPOSITE_API_URL=http://127.0.0.1:8787 node examples/sdk/track.ts
 */
import { Composite, CompositeError } from "../../sdk/src/index.ts";

try {
  const composite = new Composite(); // the key and URL from the environment, checked here, before anything is sent
  await composite.track("example_run", { source: "examples/sdk/track.ts" }, { userId: "u_example" });
  await composite.batch([{ event: "page_view", properties: { path: "/" } }, { event: "page_view", properties: { path: "/pricing" } }]);
  console.log(`sent 3 events with a ${composite.keyType} ${composite.environment} key`);
} catch (error) {
  if (!(error instanceof CompositeError)) throw error;
  // code is the gateway's (API.md §2): revoked_api_key, rate_limited, … — the message never holds the key.
  console.error(`${error.message}${error.requestId ? ` (request ${error.requestId})` : ""}`);
  process.exitCode = 1;
}
