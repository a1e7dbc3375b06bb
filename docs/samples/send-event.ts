// Reads COMPOSITE_API_KEY and COMPOSITE_API_URL from the environment; never put the key in code.
import { Composite, CompositeError } from "../../sdk/src/index.ts";

try {
  const composite = new Composite(); // checks the key's format before anything is sent
  await composite.track("signup", { plan: "pro" }, { userId: "u_123" });
  console.log(`event sent with a ${composite.keyType} ${composite.environment} key`);
} catch (error) {
  if (!(error instanceof CompositeError)) throw error;
  // error.code is the gateway's (revoked_api_key, rate_limited, …); the message never holds the key.
  console.error(`${error.code}: ${error.message} (request ${error.requestId ?? "not sent"})`);
  process.exitCode = 1;
}
