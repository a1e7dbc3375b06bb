/**
 * Hosts that never leave the machine — the one place plain HTTP may carry a key. Pure, so the
 * gateway (https_required) and the SDK (which refuses before sending) apply the same rule.
 */

/** localhost and its subdomains (RFC 6761), 127.0.0.0/8 and [::1]. */
export function isLoopback(hostname: string): boolean {
  return (
    hostname === "localhost" ||
    hostname.endsWith(".localhost") ||
    hostname === "[::1]" ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname)
  );
}
