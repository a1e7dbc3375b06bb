/**
 * A key in a JSON body, where outside analytics SDKs put it: PostHog's `api_key` (its only
 * credential; `/batch/`, `/capture/`, `/e/`) and Segment's `writeKey` (a copy of the Basic user
 * name; `/v1/batch`). It is taken out before the body goes anywhere (API.md §1: the key is never
 * forwarded), and counts as a presented key: a different one elsewhere is ambiguous.
 *
 * Reading a body costs: it is buffered and parsed instead of streamed. So it is read only where
 * the route table names a member, and for `writeKey` only when the key comes as Basic, which is
 * how Segment and RudderStack send it — the Composite SDK's and curl's Bearer requests to
 * `/v1/batch` stream through untouched. Pure: bytes in, the key and the body without it out;
 * throws the §2 errors.
 */
import { GatewayError } from "../http/problem";
import { hidesKey } from "./credentials";

export type BodyKeyMember = "api_key" | "writeKey";

export interface BodyWithoutKey {
  /** The body's `api_key`, or null when it has none. */
  key: string | null;
  /** The body as the origin gets it: unchanged without a key, else re-serialised without `api_key`. */
  body: Uint8Array;
}

/** The member to read for this request, or null to leave its body alone. */
export function bodyKeyMember(routeMember: BodyKeyMember | undefined, authorization: string | null): BodyKeyMember | null {
  if (routeMember === "api_key") return routeMember;
  if (routeMember === "writeKey" && authorization !== null && /^basic[ \t]/i.test(authorization)) return routeMember;
  return null;
}

export function takeBodyKey(bytes: Uint8Array, member: BodyKeyMember): BodyWithoutKey {
  if (bytes.byteLength === 0) return { key: null, body: bytes };
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes));
  } catch {
    throw notAnObject(member);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw notAnObject(member);
  if (!Object.hasOwn(parsed, member)) return { key: null, body: bytes };
  const { [member]: key, ...rest } = parsed as Record<string, unknown>;
  if (typeof key !== "string") {
    throw new GatewayError("invalid_request", `The body's \`${member}\` must be a string: the API key.`);
  }
  return { key: key === "" ? null : key, body: new TextEncoder().encode(JSON.stringify(rest)) };
}

function notAnObject(member: BodyKeyMember): GatewayError {
  return new GatewayError("invalid_request", `The body must be a JSON object (this route reads the key from its \`${member}\`, as well as from the Authorization header).`);
}

/**
 * The key anywhere else in a body the gateway has read (a nested `api_key`, a `token` property),
 * also percent- or base64-encoded: it would reach the origin, so the request is refused, as a key
 * in another header is (credentials.ts, refuseKeyElsewhere).
 */
export function refuseKeyInBody(key: string, body: Uint8Array): void {
  if (body.byteLength > 0 && hidesKey(new TextDecoder().decode(body), key)) {
    throw new GatewayError(
      "invalid_request",
      "The API key also appears inside the body besides its top-level `api_key` or `writeKey`. Send it once: the gateway removes it there, and nowhere else.",
    );
  }
}
