/**
 * Anything shaped like an API key, replaced before a path is echoed in an error or written to the
 * log. Keys belong in the Authorization header, but a client that puts one in the URL path (a
 * misconfigured SDK base URL, a copy-paste) must not get it written to our logs because of it —
 * nor by percent-encoding it (`%73k_live_…`, twice over) or base64-encoding it: the text is
 * looked at decoded too, and shown decoded-and-redacted when that reveals a key.
 */
const KEY_SHAPED = /[ps]k_(?:test|live)_[0-9A-Za-z]*/g;
const KEY_START = /[ps]k_(?:test|live)_/;
/** A run long enough to hold a base64-encoded key (46 characters → 60+), either alphabet. */
const BASE64_RUN = /[A-Za-z0-9+/_-]{56,}={0,2}/g;
const REDACTED = "[redacted key]";
/** Rounds of percent-decoding tried: a key encoded more often than this is not read by any origin either. */
const UNESCAPE_ROUNDS = 3;

export function redactKeys(text: string): string {
  const decoded = text.includes("%") ? unescapeAscii(text) : text;
  const shown = decoded !== text && KEY_START.test(decoded) ? decoded : text;
  const plain = shown.includes("k_") ? shown.replace(KEY_SHAPED, REDACTED) : shown;
  return plain.length >= 56 ? plain.replace(BASE64_RUN, (run) => (hidesKeyShape(run) ? REDACTED : run)) : plain;
}

/**
 * Percent-escapes of ASCII characters decoded, up to three rounds (`%2573` → `%73` → `s`);
 * escapes of other bytes are left as they are, so this never fails on broken UTF-8.
 */
export function unescapeAscii(text: string): string {
  let current = text;
  for (let round = 0; round < UNESCAPE_ROUNDS && current.includes("%"); round++) {
    const next = current.replace(/%([0-7][0-9A-Fa-f])/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
    if (next === current) break;
    current = next;
  }
  return current;
}

/** Whether a base64 or base64url run decodes, at any of its four alignments, to something with a key's prefix. */
function hidesKeyShape(run: string): boolean {
  const standard = run.replace(/=+$/, "").replaceAll("-", "+").replaceAll("_", "/");
  for (let offset = 0; offset < 4; offset++) {
    const aligned = standard.slice(offset, offset + Math.floor((standard.length - offset) / 4) * 4);
    let bytes: string;
    try {
      bytes = atob(aligned);
    } catch {
      continue;
    }
    if (KEY_START.test(bytes)) return true;
  }
  return false;
}
