/**
 * API key format: `{type}_{env}_{random}{checksum}`, e.g. `sk_live_<32 random><6 checksum>`.
 *
 * - `type` (`pk` / `sk`) and `env` (`test` / `live`) are readable so that a leaked key is
 *   recognisable by secret scanners and by humans, and a test key can never be mistaken
 *   for a live one.
 * - `random` is 32 base62 characters from a CSPRNG (~190 bits), so keys cannot be guessed.
 * - `checksum` is CRC32 (IEEE, same as zlib) of the first 40 characters, in base62, padded
 *   to 6 characters. It lets the gateway reject typos, truncations and random garbage with
 *   no storage lookup, so floods of junk keys never reach KV or D1. CRC32 detects every
 *   error burst of up to 32 bits, so every single-character substitution and every swap of
 *   adjacent characters inside the first 40 is caught; other garbage passes 1 time in 2^32.
 *   It is not a MAC: anyone can compute it, so it says nothing about whether a key was
 *   actually issued.
 *
 * Base62 (no `-`/`_`) keeps keys one "word" for double-click selection and safe in URLs,
 * headers and shells without escaping.
 *
 * Pure module: Web-standard APIs only, no I/O. It runs in workerd, Node and browsers.
 */

export type KeyType = "public" | "secret";
export type KeyEnvironment = "test" | "live";
export type KeyFormatError = "prefix" | "length" | "alphabet" | "checksum";
export type ParsedKey =
  | { ok: true; type: KeyType; environment: KeyEnvironment }
  | { ok: false; reason: KeyFormatError };

const PREFIX_LENGTH = 8; // "sk_live_"
const RANDOM_LENGTH = 32;
const CHECKSUM_LENGTH = 6; // 62^6 > 2^32, so every CRC32 fits
const BODY_LENGTH = PREFIX_LENGTH + RANDOM_LENGTH; // the part the checksum covers
export const KEY_LENGTH = BODY_LENGTH + CHECKSUM_LENGTH; // 46

const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const BASE = 62;

/** Char code -> base62 digit value, or -1. Indexed by code, so only ASCII fits. */
const DIGIT_VALUE: Int8Array = (() => {
  const table = new Int8Array(128).fill(-1);
  for (let i = 0; i < BASE; i++) table[ALPHABET.charCodeAt(i)] = i;
  return table;
})();

/** Value of a base62 digit, -1 for anything else (including every non-ASCII code unit). */
function digitValue(code: number): number {
  return code < 128 ? (DIGIT_VALUE[code] ?? -1) : -1;
}

const CRC_TABLE: Uint32Array = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crcByte(crc: number, byte: number): number {
  // `!` is sound: the index is masked to 0..255 and the table has 256 entries.
  return CRC_TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
}

/**
 * CRC32 (IEEE 802.3, reflected, polynomial 0xEDB88320) of `text` as UTF-8, identical to
 * zlib's `crc32`. Key characters are ASCII, where UTF-8 is one byte per char; non-ASCII is
 * encoded inline (lone surrogates as U+FFFD, like TextEncoder) rather than via TextEncoder
 * so the hot path never allocates.
 */
export function crc32(text: string): number {
  let crc = 0xffffffff;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    let cp = text.charCodeAt(i);
    if (cp < 0x80) {
      crc = crcByte(crc, cp);
      continue;
    }
    if (cp >= 0xd800 && cp <= 0xdfff) {
      const next = i + 1 < n ? text.charCodeAt(i + 1) : 0;
      if (cp <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        cp = 0x10000 + ((cp - 0xd800) << 10) + (next - 0xdc00);
        i++;
      } else {
        cp = 0xfffd;
      }
    }
    if (cp < 0x800) {
      crc = crcByte(crc, 0xc0 | (cp >>> 6));
    } else {
      if (cp < 0x10000) {
        crc = crcByte(crc, 0xe0 | (cp >>> 12));
      } else {
        crc = crcByte(crc, 0xf0 | (cp >>> 18));
        crc = crcByte(crc, 0x80 | ((cp >>> 12) & 0x3f));
      }
      crc = crcByte(crc, 0x80 | ((cp >>> 6) & 0x3f));
    }
    crc = crcByte(crc, 0x80 | (cp & 0x3f));
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/**
 * `value` in base62, left-padded with "0" to at least `width` characters (longer if the
 * value needs it, like `padStart`; key checksums use width 6, which every uint32 fits).
 */
export function toBase62(value: number, width: number): string {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`toBase62: value must be a non-negative safe integer, got ${value}`);
  }
  if (!Number.isSafeInteger(width) || width < 0) {
    throw new RangeError(`toBase62: width must be a non-negative integer, got ${width}`);
  }
  let out = "";
  do {
    out = ALPHABET.charAt(value % BASE) + out;
    value = Math.floor(value / BASE);
  } while (value > 0);
  return out.padStart(width, "0");
}

// 248 = 4 * 62: bytes below it map onto the alphabet exactly 4 times each, so `byte % 62`
// is uniform; bytes 248..255 are discarded (3% of draws) instead of skewing 8 characters.
const REJECT_FROM = 248;
// getRandomValues refuses more than 65536 bytes per call.
const MAX_ENTROPY_CHUNK = 65536;

/**
 * `length` characters of uniform base62 from the platform CSPRNG. Used for key bodies and
 * for opaque ids (`key_…`, `proj_…`).
 */
export function randomBase62(length: number): string {
  if (!Number.isSafeInteger(length) || length < 0) {
    throw new RangeError(`randomBase62: length must be a non-negative integer, got ${length}`);
  }
  let out = "";
  let remaining = length;
  while (remaining > 0) {
    // Ask for a little more than needed so one call almost always suffices despite rejects.
    const size = Math.min(MAX_ENTROPY_CHUNK, remaining + (remaining >>> 3) + 8);
    const bytes = crypto.getRandomValues(new Uint8Array(size));
    for (let i = 0; i < size && remaining > 0; i++) {
      const byte = bytes[i]!;
      if (byte >= REJECT_FROM) continue;
      out += ALPHABET.charAt(byte % BASE);
      remaining--;
    }
  }
  return out;
}

const TYPE_CODE: Record<KeyType, string> = { public: "pk", secret: "sk" };
const ENVIRONMENTS: readonly KeyEnvironment[] = ["test", "live"];

export function generateKey(type: KeyType, environment: KeyEnvironment): string {
  // Guards for untyped callers (CLI, JSON input): a key with an unknown prefix would be
  // issued but then rejected by parseKey forever.
  const code = Object.hasOwn(TYPE_CODE, type) ? TYPE_CODE[type] : undefined;
  if (code === undefined) throw new TypeError(`generateKey: unknown key type ${String(type)}`);
  if (!ENVIRONMENTS.includes(environment)) {
    throw new TypeError(`generateKey: unknown environment ${String(environment)}`);
  }
  const body = `${code}_${environment}_${randomBase62(RANDOM_LENGTH)}`;
  return body + toBase62(crc32(body), CHECKSUM_LENGTH);
}

const C_UNDERSCORE = 0x5f; // _

/**
 * Recognises the 8-character prefix with char-code comparisons (no slicing, no regex).
 * Returns 0 when the prefix is not one of the four valid ones, otherwise a bitfield:
 * 1 = secret (else public), 2 = live (else test), always with bit 4 set.
 */
function matchPrefix(s: string): number {
  if (s.length < PREFIX_LENGTH) return 0;
  const t = s.charCodeAt(0);
  let bits = 4;
  if (t === 0x73 /* s */) bits |= 1;
  else if (t !== 0x70 /* p */) return 0;
  if (s.charCodeAt(1) !== 0x6b /* k */ || s.charCodeAt(2) !== C_UNDERSCORE) return 0;
  const e0 = s.charCodeAt(3);
  const e1 = s.charCodeAt(4);
  const e2 = s.charCodeAt(5);
  const e3 = s.charCodeAt(6);
  if (e0 === 0x74 && e1 === 0x65 && e2 === 0x73 && e3 === 0x74) {
    // "test"
  } else if (e0 === 0x6c && e1 === 0x69 && e2 === 0x76 && e3 === 0x65) {
    bits |= 2; // "live"
  } else {
    return 0;
  }
  return s.charCodeAt(7) === C_UNDERSCORE ? bits : 0;
}

// Preallocated results: parseKey runs on every request, so failures allocate nothing.
const FAIL_PREFIX: ParsedKey = Object.freeze({ ok: false, reason: "prefix" });
const FAIL_LENGTH: ParsedKey = Object.freeze({ ok: false, reason: "length" });
const FAIL_ALPHABET: ParsedKey = Object.freeze({ ok: false, reason: "alphabet" });
const FAIL_CHECKSUM: ParsedKey = Object.freeze({ ok: false, reason: "checksum" });
const VALID: readonly ParsedKey[] = [
  Object.freeze({ ok: true, type: "public", environment: "test" }),
  Object.freeze({ ok: true, type: "secret", environment: "test" }),
  Object.freeze({ ok: true, type: "public", environment: "live" }),
  Object.freeze({ ok: true, type: "secret", environment: "live" }),
];

/**
 * Validates a presented key's format without any lookup. Checks run in a fixed order so the
 * reason is predictable: prefix, then length (UTF-16 code units), then alphabet, then
 * checksum. Consequences: a non-ASCII look-alike or whitespace that replaces a character is
 * "alphabet"; one that is inserted (or an astral character, which is two code units) makes
 * the length wrong and is "length". Single pass over the string, no regex, no allocation.
 */
export function parseKey(candidate: string): ParsedKey {
  // Untyped callers may hand over a missing header; treat it as garbage, not a crash.
  if (typeof candidate !== "string") return FAIL_PREFIX;
  const bits = matchPrefix(candidate);
  if (bits === 0) return FAIL_PREFIX;
  if (candidate.length !== KEY_LENGTH) return FAIL_LENGTH;

  // The prefix is known ASCII; CRC it without re-checking the alphabet.
  let crc = 0xffffffff;
  for (let i = 0; i < PREFIX_LENGTH; i++) crc = crcByte(crc, candidate.charCodeAt(i));
  for (let i = PREFIX_LENGTH; i < BODY_LENGTH; i++) {
    const code = candidate.charCodeAt(i);
    if (digitValue(code) < 0) return FAIL_ALPHABET;
    crc = crcByte(crc, code);
  }
  // Decoding stays exact: 62^6 < 2^53. A checksum above 2^32 simply never matches.
  let stated = 0;
  for (let i = BODY_LENGTH; i < KEY_LENGTH; i++) {
    const digit = digitValue(candidate.charCodeAt(i));
    if (digit < 0) return FAIL_ALPHABET;
    stated = stated * BASE + digit;
  }
  if (stated !== (crc ^ 0xffffffff) >>> 0) return FAIL_CHECKSUM;
  return VALID[bits & 3]!;
}

/**
 * The `pk_test_`-style prefix, which is safe to show and log. Empty string when `key` does
 * not start with a recognised prefix, so that callers never echo the first characters of
 * some other secret pasted into the wrong field.
 */
export function keyPrefix(key: string): string {
  return matchPrefix(key) === 0 ? "" : key.slice(0, PREFIX_LENGTH);
}

// Below this, prefix + last 4 would reveal most of whatever was passed in.
const MIN_LENGTH_FOR_SUFFIX = 16;

/**
 * `sk_live_…9LmN`: enough for a human to tell keys apart. For a well-formed key the last 4
 * characters lie inside the checksum, so no random characters are revealed at all. For
 * arbitrary input (this is also used to log rejected keys) the suffix is shown only when it
 * is base62 and the input is long enough, which keeps short secrets hidden and keeps control
 * characters and look-alikes out of logs.
 */
export function displayKey(key: string): string {
  const prefix = keyPrefix(key);
  const n = key.length;
  if (n < MIN_LENGTH_FOR_SUFFIX) return `${prefix}\u2026`;
  for (let i = n - 4; i < n; i++) {
    if (digitValue(key.charCodeAt(i)) < 0) return `${prefix}\u2026`;
  }
  return `${prefix}\u2026${key.slice(n - 4)}`;
}
