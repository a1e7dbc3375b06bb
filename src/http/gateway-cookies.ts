/**
 * The cookies the gateway itself sets — the dashboard's session (dashboard/session.ts) — named
 * once, below both the dashboard that sets them and the proxy that must never forward them: the
 * session cookie has Path=/ (`__Host-` requires it), so a signed-in browser sends it with every
 * API request too, and an origin that logs it could replay the session.
 */
export const SESSION_COOKIE = "composite_session";
/** A new key on its way to the page that shows it once (dashboard/handoff.ts); Path-limited to that page, listed here all the same. */
export const HANDOFF_COOKIE = "composite_handoff";

/** As browsers send them: plain on loopback http, `__Host-`/`__Secure-` prefixed over https. */
export const GATEWAY_COOKIES: ReadonlySet<string> = new Set([SESSION_COOKIE, `__Host-${SESSION_COOKIE}`, HANDOFF_COOKIE, `__Secure-${HANDOFF_COOKIE}`]);
