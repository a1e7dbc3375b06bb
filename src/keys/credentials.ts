/**
 * Reads the API key a request presents (API.md §1 "Presenting a key"): `Authorization: Bearer`,
 * `Authorization: Basic base64(key:)` or `?api_key=`. Pure; throws the §2 errors. Error details
 * never quote what was sent.
 */
import { GatewayError } from "../http/problem";

export const API_KEY_PARAM = "api_key";

const SURROUNDING_WHITESPACE = /^\s|\s$|[\r\n]/;

/** The one key presented, or a GatewayError (missing, whitespace, malformed scheme, ambiguous). */
export function readApiKey(authorization: string | null, url: URL): string {
  const candidates: string[] = [];
  if (authorization !== null && authorization !== "") candidates.push(keyFromAuthorization(authorization));
  if (url.search !== "") {
    for (const value of url.searchParams.getAll(API_KEY_PARAM)) if (value !== "") candidates.push(value);
  }
  const first = candidates[0];
  if (first === undefined) {
    throw new GatewayError(
      "missing_api_key",
      "No API key was presented. Send it as `Authorization: Bearer <key>` (preferred) or `?api_key=<key>`.",
    );
  }
  for (const candidate of candidates) {
    if (SURROUNDING_WHITESPACE.test(candidate)) {
      throw new GatewayError(
        "api_key_whitespace",
        "The API key has whitespace or a line break around it. Remove it (check how the key is read from your environment).",
      );
    }
  }
  if (candidates.some((candidate) => candidate !== first)) {
    throw new GatewayError(
      "ambiguous_credentials",
      "The request presents two different API keys. Send exactly one, preferably in the Authorization header.",
    );
  }
  return first;
}

function keyFromAuthorization(header: string): string {
  const space = header.indexOf(" ");
  const scheme = (space === -1 ? header : header.slice(0, space)).toLowerCase();
  const credentials = space === -1 ? "" : header.slice(space + 1);
  if (scheme === "bearer") {
    if (credentials === "") throw missingAfterScheme();
    return credentials;
  }
  if (scheme === "basic") {
    const decoded = decodeBase64(credentials);
    const colon = decoded.indexOf(":");
    const user = colon === -1 ? decoded : decoded.slice(0, colon);
    if (user === "") throw missingAfterScheme();
    return user;
  }
  throw new GatewayError(
    "malformed_api_key",
    "Unsupported Authorization scheme. Use `Authorization: Bearer <key>` or Basic with the key as the user name.",
  );
}

function missingAfterScheme(): GatewayError {
  return new GatewayError("missing_api_key", "The Authorization header carries no key. Send `Authorization: Bearer <key>`.");
}

function decodeBase64(encoded: string): string {
  try {
    return atob(encoded.trim() === encoded ? encoded : "!");
  } catch {
    throw new GatewayError(
      "malformed_api_key",
      "The Basic credentials are not valid base64. Send base64(<key>:) or use `Authorization: Bearer <key>`.",
    );
  }
}
