// Reads COMPOSITE_API_KEY and COMPOSITE_API_URL from the environment; never put the key in code.
import { Composite, CompositeError } from "@composite/sdk";

// error.code is the gateway's (revoked_api_key, rate_limited, …); the message never holds the key.
const report = (error: CompositeError) => {
  console.error(`${error.message} (request ${error.requestId ?? "not sent"})`);
  process.exitCode = 1;
};

try {
  const composite = new Composite({ onError: report }); // checks the key's format before anything is sent
  composite.track("signup", { plan: "pro" }, { userId: "u_123" }); // queued, sent in a batch
  await composite.close(); // sends the queue: delivered, or reported to onError, before it resolves
  if (!process.exitCode) console.log(`event sent with a ${composite.keyType} ${composite.environment} key`);
} catch (error) {
  if (!(error instanceof CompositeError)) throw error;
  report(error);
}
