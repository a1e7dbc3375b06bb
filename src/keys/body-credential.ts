/**
 * A key in a JSON body's `api_key` member: where PostHog's SDKs put their project key (`/batch/`,
 * `/capture/`, `/e/`). Read only on the routes the table marks `keyInBody`, and always there, so
 * that the key is taken out before the body goes anywhere (API.md §1: the key is never
 * forwarded). Pure: bytes in, the key and the body without it out; throws the §2 errors.
 */
import { GatewayError } from "../http/problem";

export const BODY_KEY_MEMBER = "api_key";

export interface BodyWithoutKey {
  /** The body's `api_key`, or null when it has none. */
  key: string | null;
  /** The body as the origin gets it: unchanged without a key, else re-serialised without `api_key`. */
  body: Uint8Array;
}

export function takeBodyKey(bytes: Uint8Array): BodyWithoutKey {
  if (bytes.byteLength === 0) return { key: null, body: bytes };
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes));
  } catch {
    throw new GatewayError("invalid_request", "The body must be a JSON object (with the key as `api_key`, or the key in the Authorization header).");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new GatewayError("invalid_request", "The body must be a JSON object (with the key as `api_key`, or the key in the Authorization header).");
  }
  if (!Object.hasOwn(parsed, BODY_KEY_MEMBER)) return { key: null, body: bytes };
  const { [BODY_KEY_MEMBER]: key, ...rest } = parsed as Record<string, unknown>;
  if (typeof key !== "string") {
    throw new GatewayError("invalid_request", "The body's `api_key` must be a string: the API key.");
  }
  return { key: key === "" ? null : key, body: new TextEncoder().encode(JSON.stringify(rest)) };
}

/**
 * The key anywhere else in a body the gateway has read (a nested `api_key`, a `token` property):
 * it would reach the origin, so the request is refused, as a key in another header is.
 */
export function refuseKeyInBody(key: string, body: Uint8Array): void {
  if (body.byteLength >= key.length && new TextDecoder().decode(body).includes(key)) {
    throw new GatewayError(
      "invalid_request",
      "The API key also appears inside the body besides its top-level `api_key`. Send it once: the gateway removes it there, and nowhere else.",
    );
  }
}
