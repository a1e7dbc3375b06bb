/**
 * The SDK from a server script, imported by its package name (the npm workspace `sdk/`; built by
 * `npm install`, or `npm run build:sdk` after a change). With `npm run dev` running in another terminal:
 *
 *   COMPOSITE_API_KEY=<a demo key it printed> COMPOSITE_API_URL=http://127.0.0.1:8787 node examples/sdk/track.ts
 */
import { Composite, CompositeError, type EventPayload } from "@composite/sdk";

const failures: { error: CompositeError; events: readonly EventPayload[] }[] = [];
try {
  // The key and URL from the environment, checked here, before anything is sent.
  const composite = new Composite({ onError: (error, events) => failures.push({ error, events }) });
  composite.track("example_run", { source: "examples/sdk/track.ts" }, { userId: "u_example" });
  composite.page("Home", { path: "/" }, { userId: "u_example" });
  composite.identify("u_example", { plan: "pro" });
  await composite.close(); // one POST /v1/batch with all three, delivered (or reported) before this resolves
  if (failures.length === 0) console.log(`sent 3 events with a ${composite.keyType} ${composite.environment} key`);
} catch (error) {
  if (!(error instanceof CompositeError)) throw error;
  failures.push({ error, events: [] });
}
for (const { error, events } of failures) {
  // code is the gateway's (API.md §2): revoked_api_key, rate_limited, … — the message never holds the key.
  console.error(`${error.message}${error.requestId ? ` (request ${error.requestId})` : ""}${events.length ? ` — ${events.length} event(s) not sent` : ""}`);
  process.exitCode = 1;
}
