/**
 * Secrets must not cross the network in the clear: plain HTTP is 403 `https_required` on every
 * surface that takes one (the API and its keys, the operator API and its token, the dashboard),
 * with local development (loopback.ts) the one exception.
 */
import { isLoopback } from "./loopback";
import { GatewayError } from "./problem";
import { redactKeys } from "./redact";

/** What the refused request would have carried in the clear, for the detail. */
export type CarriedSecret = "api key" | "operator token";

const WHY: Record<CarriedSecret, string> = {
  "api key": "API keys must not be sent over plain HTTP.",
  // The token has already crossed the network by the time we refuse; say so.
  "operator token":
    "the operator token must not be sent over plain HTTP. If this request carried it, treat it as exposed: set a new one with `wrangler secret put OPERATOR_TOKEN`.",
};

/** Throws 403 https_required for plain HTTP to a host other than loopback; no I/O. */
export function requireHttps(url: URL, carried: CarriedSecret = "api key"): void {
  if (url.protocol === "http:" && !isLoopback(url.hostname)) {
    throw new GatewayError("https_required", `Use https://${url.host}${redactKeys(url.pathname)}: ${WHY[carried]}`);
  }
}
