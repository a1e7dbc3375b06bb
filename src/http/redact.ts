/**
 * Anything shaped like an API key, replaced before a path is echoed in an error or written to the
 * log. Keys belong in the Authorization header, but a client that puts one in the URL path (a
 * misconfigured SDK base URL, a copy-paste) must not get it written to our logs because of it.
 */
const KEY_SHAPED = /[ps]k_(?:test|live)_[0-9A-Za-z]*/g;

export function redactKeys(text: string): string {
  return text.includes("k_") ? text.replace(KEY_SHAPED, "[redacted key]") : text;
}
