/**
 * Reads the API key a request presents (API.md §1 "Presenting a key"): `Authorization: Bearer`,
 * `Authorization: Basic base64(key:)` or `?api_key=`. Pure; throws the §2 errors. Error details
 * never quote what was sent.
 */
import { GatewayError } from "../http/problem";
import { unescapeAscii } from "../http/redact";
import { parseKey } from "./format";

export const API_KEY_PARAM = "api_key";

const SURROUNDING_WHITESPACE = /^\s|\s$|[\r\n]/;
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

/**
 * Headers other APIs take a key from and this gateway does not read. A key sent only there would
 * otherwise get a bare "no API key" answer, and the client would not learn why (issue 16).
 */
const UNREAD_KEY_HEADERS = ["x-api-key"] as const;

/**
 * The one key presented, or a GatewayError (missing, whitespace, malformed scheme, ambiguous).
 * `bodyKey`: the key an outside SDK put in the JSON body, on the routes that take one (body-credential.ts).
 * `headers`, when given, only lets the missing-key answer say that a key header we do not read
 * was sent; what it holds is never read or quoted.
 */
export function readApiKey(authorization: string | null, url: URL, bodyKey: string | null = null, headers?: Headers): string {
  const candidates: string[] = [];
  if (authorization !== null && authorization !== "") {
    if (authorization.includes(",")) candidates.push(...keysFromRepeatedAuthorization(authorization));
    else candidates.push(keyFromAuthorization(authorization));
  }
  if (url.search !== "") {
    for (const value of url.searchParams.getAll(API_KEY_PARAM)) if (value !== "") candidates.push(value);
  }
  if (bodyKey !== null) candidates.push(bodyKey);
  const first = candidates[0];
  if (first === undefined) throw missingKey(headers);
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

function missingKey(headers: Headers | undefined): GatewayError {
  const unread = headers === undefined ? undefined : UNREAD_KEY_HEADERS.find((name) => headers.has(name));
  if (unread === undefined) {
    return new GatewayError("missing_api_key", "No API key was presented. Send it as `Authorization: Bearer <key>` (preferred) or `?api_key=<key>`.");
  }
  return new GatewayError(
    "missing_api_key",
    "The X-API-Key header is not read here, so no API key was presented. Send the key as `Authorization: Bearer <key>` (preferred), `Authorization: Basic base64(<key>:)`, or `?api_key=<key>`, and drop X-API-Key.",
  );
}

/** A key pasted on its own (the dashboard's sign-in form): missing and whitespace as the API answers them. */
export function readPastedKey(value: string): string {
  if (value === "") throw new GatewayError("missing_api_key", "Paste a secret key of your project (sk_…).");
  if (value.trim() !== value || SURROUNDING_WHITESPACE.test(value)) {
    throw new GatewayError("api_key_whitespace", "The key has whitespace or a line break around it. Paste the key alone.");
  }
  return value;
}

/** Refuses a key whose prefix, length, alphabet or checksum is wrong, with no I/O (API.md §2). */
export function requireWellFormed(key: string): void {
  const format = parseKey(key);
  if (!format.ok) {
    throw new GatewayError("malformed_api_key", `This is not a Composite API key (bad ${format.reason}). Copy the key again from the dashboard.`);
  }
}

/**
 * Two Authorization headers reach the Worker joined by ", " (neither a key nor base64 has a
 * comma): each is read, so two different keys are ambiguous and the same key twice is the key.
 */
function keysFromRepeatedAuthorization(header: string): string[] {
  return header
    .split(/,[ \t]*/)
    .filter((part) => part !== "")
    .map(keyFromAuthorization);
}

function keyFromAuthorization(header: string): string {
  // RFC 9110 separates scheme and credentials by one space; any other whitespace there is left on
  // the key, so it is reported as whitespace around the key rather than as an unknown scheme.
  const gap = header.search(/[ \t]/);
  const scheme = (gap === -1 ? header : header.slice(0, gap)).toLowerCase();
  const credentials = gap === -1 ? "" : header.slice(header[gap] === " " ? gap + 1 : gap);
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

/**
 * The query string (`url.search`) without its `api_key` pairs, every other byte as the client
 * sent it: URLSearchParams would re-encode the rest (`%20` → `+`, `flag` → `flag=`), and the
 * origin may sign or cache on the exact query. Names are compared decoded, as readApiKey reads them.
 */
export function searchWithoutApiKey(search: string): string {
  // Only a literal or percent-encoded name can decode to api_key.
  if (!search.includes(API_KEY_PARAM) && !search.includes("%")) return search;
  const pairs = search.slice(1).split("&");
  const kept = pairs.filter((pair) => pairName(pair) !== API_KEY_PARAM);
  if (kept.length === pairs.length) return search;
  const rest = kept.join("&");
  return rest === "" ? "" : `?${rest}`;
}

function pairName(pair: string): string {
  const end = pair.indexOf("=");
  const name = end === -1 ? pair : pair.slice(0, end);
  if (!name.includes("%") && !name.includes("+")) return name;
  return new URLSearchParams(`${name}=`).keys().next().value ?? "";
}

/**
 * The key may travel only where the gateway takes it from (and removes it): Authorization and
 * `?api_key=`. Anywhere else — another header, another query parameter, the path — it would
 * reach the origin, so the request is refused before anything is counted or forwarded. Also
 * percent-encoded (once or more) or base64-encoded there: an origin that decodes still gets it.
 */
export function refuseKeyElsewhere(key: string, headers: Headers, url: URL): void {
  const forms = hiddenForms(key);
  if (hides(url.pathname, forms)) throw keyElsewhere("in the URL path");
  if (url.search !== "") {
    for (const [name, value] of url.searchParams) {
      if (name !== API_KEY_PARAM && (hides(name, forms) || hides(value, forms))) throw keyElsewhere("in a query parameter other than api_key");
    }
  }
  for (const [name, value] of headers) {
    if (name === "authorization") continue;
    if (name.includes(key)) throw keyElsewhere("in a header name");
    if (hides(value, forms)) throw keyElsewhere(`in the ${name} header`);
  }
}

/**
 * The key as it may hide in text: itself, and its base64 and base64url encodings at each of the
 * three byte alignments — the characters that depend on the key's bytes alone, so the key is
 * found inside a larger encoded value (`base64("user:" + key)`, a JSON token) too. Kept per key
 * in isolate memory beside the key cache (keys/key-index.ts), bounded, oldest out first: every
 * request of a key needs the same forms.
 */
function hiddenForms(key: string): readonly string[] {
  let forms = formsByKey.get(key);
  if (forms === undefined) {
    forms = encodedForms(key);
    if (formsByKey.size >= MAX_FORMS_KEPT) formsByKey.delete(formsByKey.keys().next().value!);
    formsByKey.set(key, forms);
  }
  return forms;
}
const MAX_FORMS_KEPT = 1_000;
const formsByKey = new Map<string, readonly string[]>();

function encodedForms(key: string): readonly string[] {
  const forms = new Set([key]);
  // Only printable ASCII can be a key; anything else is refused as malformed next (and btoa would throw).
  if (!PRINTABLE_ASCII.test(key)) return [...forms];
  for (let shift = 0; shift < 3; shift++) {
    const encoded = btoa("\0".repeat(shift) + key);
    const own = encoded.slice(Math.ceil((8 * shift) / 6), Math.floor((8 * (shift + key.length)) / 6));
    forms.add(own);
    forms.add(own.replaceAll("+", "-").replaceAll("/", "_"));
  }
  return [...forms];
}

/** Whether the key is in the text as itself, percent-encoded or base64-encoded (see hiddenForms). */
export function hidesKey(text: string, key: string): boolean {
  return hides(text, hiddenForms(key));
}

function hides(text: string, forms: readonly string[]): boolean {
  const decoded = text.includes("%") ? unescapeAscii(text) : text;
  for (const form of forms) {
    if (text.includes(form) || (decoded !== text && decoded.includes(form))) return true;
  }
  return false;
}

function keyElsewhere(where: string): GatewayError {
  return new GatewayError(
    "invalid_request",
    `The API key also appears ${where}. Send it only as \`Authorization: Bearer <key>\` (or \`?api_key=\`): the gateway removes it there, and nowhere else.`,
  );
}
