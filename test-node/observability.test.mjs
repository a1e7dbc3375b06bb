// Keys sent as ?api_key= must not be kept where we control the logs (README "Logs"): the Worker's
// observability settings, as wrangler reads them from wrangler.jsonc. Our own request line is
// tested through the Worker in test/http/logging.test.ts (no query string, no header, no key).
import { describe, expect, it } from "vitest";
import { unstable_readConfig } from "wrangler";

describe("wrangler.jsonc observability", () => {
  const { observability } = unstable_readConfig({ config: new URL("../wrangler.jsonc", import.meta.url).pathname });

  it("keeps Workers Logs (our allow-listed request line) for every request", () => {
    expect(observability.enabled).toBe(true);
    expect(observability.logs?.enabled ?? observability.enabled).toBe(true);
    expect(observability.head_sampling_rate ?? 1).toBe(1);
  });

  it("turns off invocation logs, which record each request's URL with its query string", () => {
    expect(observability.logs?.invocation_logs).toBe(false);
  });

  it("cuts query strings from request URLs in whatever logs and traces are kept", () => {
    expect(observability.redact_query_string).toBe(true);
  });
});
