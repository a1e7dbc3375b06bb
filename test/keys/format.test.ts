import { afterEach, describe, expect, it, vi } from "vitest";
import {
  KEY_LENGTH,
  crc32,
  displayKey,
  generateKey,
  keyPrefix,
  parseKey,
  randomBase62,
  toBase62,
  type KeyEnvironment,
  type KeyFormatError,
  type KeyType,
} from "../../src/keys/format";

// Independent reference implementations, so the module is not checked against itself.
const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const isBase62 = (ch: string): boolean => ch.length === 1 && ALPHABET.includes(ch);

/** Bit-at-a-time CRC32 over the UTF-8 bytes: no table, so it shares no code with the module. */
function referenceCrc32(text: string): number {
  let crc = 0xffffffff;
  for (const byte of new TextEncoder().encode(text)) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

function referenceBase62(value: number, width: number): string {
  let digits = "";
  for (let v = BigInt(value); v > 0n; v /= 62n) digits = ALPHABET.charAt(Number(v % 62n)) + digits;
  return (digits || "0").padStart(width, "0");
}

function fromBase62(text: string): number {
  let v = 0;
  for (const ch of text) v = v * 62 + ALPHABET.indexOf(ch);
  return v;
}

/** Deterministic PRNG (mulberry32) so "random" tests are reproducible and cannot flake. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function seededBase62(rand: () => number, length: number): string {
  let s = "";
  for (let i = 0; i < length; i++) s += ALPHABET.charAt(Math.floor(rand() * 62));
  return s;
}

function referenceKey(prefix: string, random: string): string {
  const body = prefix + random;
  return body + referenceBase62(referenceCrc32(body), 6);
}

const COMBOS: ReadonlyArray<{ type: KeyType; environment: KeyEnvironment; prefix: string }> = [
  { type: "public", environment: "test", prefix: "pk_test_" },
  { type: "public", environment: "live", prefix: "pk_live_" },
  { type: "secret", environment: "test", prefix: "sk_test_" },
  { type: "secret", environment: "live", prefix: "sk_live_" },
];

const VECTORS = [
  { key: "pk_test_000000000000000000000000000000000LJpC9", type: "public", environment: "test" },
  { key: "sk_live_zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz44XL3S", type: "secret", environment: "live" },
  { key: "sk_test_Composite0Gateway0Test0Vector0120FBRzN", type: "secret", environment: "test" },
  { key: "pk_live_AbCdEfGhIjKlMnOpQrStUvWxYz0123451JG9Le", type: "public", environment: "live" },
] as const;

const [V1, V2, V3, V4] = VECTORS.map((v) => v.key) as [string, string, string, string];

function reasonOf(candidate: string): KeyFormatError | "ok" {
  const parsed = parseKey(candidate);
  return parsed.ok ? "ok" : parsed.reason;
}

function replaceAt(s: string, index: number, replacement: string): string {
  return s.slice(0, index) + replacement + s.slice(index + 1);
}

function swapAt(s: string, i: number): string {
  return s.slice(0, i) + s.charAt(i + 1) + s.charAt(i) + s.slice(i + 2);
}

describe("test vectors", () => {
  it.each(VECTORS)("$key is valid ($type/$environment)", ({ key, type, environment }) => {
    expect(key).toHaveLength(KEY_LENGTH);
    expect(parseKey(key)).toEqual({ ok: true, type, environment });
  });

  it("the CRC32 of vector 1's first 40 characters is 315028085", () => {
    expect(crc32(V1.slice(0, 40))).toBe(315028085);
    expect(toBase62(315028085, 6)).toBe("0LJpC9");
  });

  it.each(VECTORS)("$key ends in the base62 CRC32 of its first 40 characters", ({ key }) => {
    const body = key.slice(0, 40);
    expect(crc32(body)).toBe(referenceCrc32(body));
    expect(toBase62(crc32(body), 6)).toBe(key.slice(40));
    expect(referenceKey(key.slice(0, 8), key.slice(8, 40))).toBe(key);
  });

  it("KEY_LENGTH is 46", () => {
    expect(KEY_LENGTH).toBe(46);
  });
});

describe("crc32", () => {
  it("matches the standard check value and zlib on known inputs", () => {
    expect(crc32("123456789")).toBe(0xcbf43926);
    expect(crc32("")).toBe(0);
    expect(crc32("a")).toBe(3904355907);
    expect(crc32("The quick brown fox jumps over the lazy dog")).toBe(0x414fa339);
  });

  it("hashes non-ASCII text as UTF-8, like zlib (values from node:zlib crc32)", () => {
    expect(crc32("é")).toBe(235179326);
    expect(crc32("pk_test_\u043e")).toBe(2546198241); // Cyrillic о
    expect(crc32("日本語")).toBe(2819314405);
    expect(crc32("😀")).toBe(88978756); // surrogate pair -> one 4-byte sequence
    // Lone surrogates become U+FFFD, as TextEncoder and Buffer do.
    expect(crc32("\ud800")).toBe(2339517385);
    expect(crc32("\ud83d")).toBe(2339517385);
    expect(crc32("x\udc00y")).toBe(925674813);
  });

  it("agrees with a bitwise reference on 1,000 seeded random strings, ASCII and not", () => {
    const rand = seeded(0xc0ffee);
    const pool = [
      ..."abcXYZ019_-~ \t\n",
      "\u0000",
      "\u007f",
      "\u0080",
      "\u07ff",
      "\u0800",
      "\uffff",
      "é",
      "\u043e",
      "\uff10",
      "\u200b",
      "😀",
      "\ud800",
      "\udfff",
    ];
    for (let n = 0; n < 1000; n++) {
      let s = "";
      const len = Math.floor(rand() * 64);
      for (let i = 0; i < len; i++) s += pool[Math.floor(rand() * pool.length)];
      expect(crc32(s), JSON.stringify(s)).toBe(referenceCrc32(s));
    }
  });

  it("always returns an unsigned 32-bit integer", () => {
    const rand = seeded(7);
    for (let n = 0; n < 500; n++) {
      const value = crc32(seededBase62(rand, 40));
      expect(Number.isInteger(value)).toBe(true);
      expect(value).toBeGreaterThanOrEqual(0);
      expect(value).toBeLessThanOrEqual(0xffffffff);
    }
    expect(crc32("sk_live_zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz")).toBe(3731582434); // > 2^31
  });
});

describe("toBase62", () => {
  it("pads edge values to the requested width", () => {
    expect(toBase62(0, 6)).toBe("000000");
    expect(toBase62(61, 6)).toBe("00000z");
    expect(toBase62(62, 6)).toBe("000010");
    expect(toBase62(0xffffffff, 6)).toBe("4gfFC3");
    expect(toBase62(62 ** 6 - 1, 6)).toBe("zzzzzz");
  });

  it("uses digit order 0-9, A-Z, a-z", () => {
    for (let i = 0; i < 62; i++) expect(toBase62(i, 1)).toBe(ALPHABET.charAt(i));
    expect(toBase62(10, 0)).toBe("A");
    expect(toBase62(36, 0)).toBe("a");
  });

  it("treats width as a minimum and never truncates", () => {
    expect(toBase62(0, 0)).toBe("0");
    expect(toBase62(0, 1)).toBe("0");
    expect(toBase62(61, 0)).toBe("z");
    expect(toBase62(62, 1)).toBe("10");
    expect(toBase62(62 ** 6, 6)).toBe("1000000");
    expect(toBase62(5, 10)).toBe("0000000005");
  });

  it("every uint32 fits in 6 characters", () => {
    expect(toBase62(0xffffffff, 0)).toHaveLength(6);
    expect(62 ** 6).toBeGreaterThan(0xffffffff);
  });

  it("round-trips seeded random values, up to MAX_SAFE_INTEGER", () => {
    const rand = seeded(42);
    for (let n = 0; n < 2000; n++) {
      const value = Math.floor(rand() * 0x100000000);
      const encoded = toBase62(value, 6);
      expect(encoded).toHaveLength(6);
      expect(encoded).toBe(referenceBase62(value, 6));
      expect(fromBase62(encoded)).toBe(value);
    }
    const max = Number.MAX_SAFE_INTEGER;
    expect(toBase62(max, 0)).toBe(referenceBase62(max, 0));
  });

  it("rejects values and widths that are not non-negative integers", () => {
    for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53]) {
      expect(() => toBase62(bad, 6), String(bad)).toThrow(RangeError);
    }
    for (const bad of [-1, 0.5, Number.NaN]) {
      expect(() => toBase62(1, bad), String(bad)).toThrow(RangeError);
    }
  });
});

describe("randomBase62", () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("returns exactly the requested number of base62 characters", () => {
    expect(randomBase62(0)).toBe("");
    for (const length of [1, 2, 12, 32, 1000, 100_000]) {
      const s = randomBase62(length);
      expect(s).toHaveLength(length);
      expect(/^[0-9A-Za-z]*$/.test(s)).toBe(true);
    }
  });

  it("rejects invalid lengths", () => {
    for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => randomBase62(bad), String(bad)).toThrow(RangeError);
    }
  });

  it("maps bytes 0..247 onto the alphabet four times each and discards 248..255", () => {
    vi.spyOn(crypto, "getRandomValues").mockImplementation(<T extends ArrayBufferView | null>(array: T): T => {
      const bytes = array as unknown as Uint8Array;
      for (let i = 0; i < bytes.length; i++) bytes[i] = i & 0xff;
      return array;
    });
    // 256 bytes in order contain 248 accepted values: the alphabet exactly four times.
    expect(randomBase62(248)).toBe(ALPHABET.repeat(4));
  });

  it("draws more entropy when rejected bytes leave it short", () => {
    let calls = 0;
    vi.spyOn(crypto, "getRandomValues").mockImplementation(<T extends ArrayBufferView | null>(array: T): T => {
      calls++;
      // First draw: all rejects. Later draws: 61 (-> "z").
      (array as unknown as Uint8Array).fill(calls === 1 ? 255 : 61);
      return array;
    });
    expect(randomBase62(5)).toBe("zzzzz");
    expect(calls).toBe(2);
  });

  it("has no modulo bias (chi-square over 200,000 characters)", () => {
    const sample = randomBase62(200_000);
    const counts = new Map<string, number>();
    for (const ch of sample) counts.set(ch, (counts.get(ch) ?? 0) + 1);
    const expected = sample.length / 62;
    let chi2 = 0;
    for (const ch of ALPHABET) {
      const observed = counts.get(ch) ?? 0;
      chi2 += (observed - expected) ** 2 / expected;
      // ±15% is ~8.5 standard deviations: never by chance, but `byte % 62` without
      // rejection would put '0'..'7' at +21%.
      expect(Math.abs(observed - expected) / expected, ch).toBeLessThan(0.15);
    }
    // 61 degrees of freedom: P(chi2 > 160) is about 1e-10. A modulo-biased generator scores ~1,150.
    expect(chi2).toBeLessThan(160);
  });
});

describe("generateKey", () => {
  it.each(COMBOS)("$prefix keys parse back as $type/$environment", ({ type, environment, prefix }) => {
    for (let n = 0; n < 250; n++) {
      const key = generateKey(type, environment);
      expect(key).toHaveLength(KEY_LENGTH);
      expect(key.startsWith(prefix)).toBe(true);
      expect(parseKey(key)).toEqual({ ok: true, type, environment });
      expect(key.slice(40)).toBe(referenceBase62(referenceCrc32(key.slice(0, 40)), 6));
    }
  });

  it("1,000 keys are valid, distinct, and roughly uniform over the alphabet", () => {
    const keys = Array.from({ length: 1000 }, (_, i) => {
      const combo = COMBOS[i % COMBOS.length]!;
      return generateKey(combo.type, combo.environment);
    });
    for (const key of keys) expect(parseKey(key).ok, key).toBe(true);
    expect(new Set(keys).size).toBe(1000);
    expect(new Set(keys.map((k) => k.slice(8, 40))).size).toBe(1000);

    const counts = new Map<string, number>();
    for (const key of keys) {
      for (const ch of key.slice(8, 40)) counts.set(ch, (counts.get(ch) ?? 0) + 1);
    }
    const expected = (1000 * 32) / 62; // ~516
    let chi2 = 0;
    for (const ch of ALPHABET) {
      const observed = counts.get(ch) ?? 0;
      expect(observed, ch).toBeGreaterThan(0);
      expect(observed, ch).toBeLessThan(3 * expected);
      // ±35% is ~8 standard deviations here.
      expect(Math.abs(observed - expected) / expected, ch).toBeLessThan(0.35);
      chi2 += (observed - expected) ** 2 / expected;
    }
    expect([...counts.keys()].every(isBase62)).toBe(true);
    expect(chi2).toBeLessThan(200); // df 61: P(chi2 > 200) ~ 1e-16
  });

  it("rejects unknown types and environments from untyped callers", () => {
    expect(() => generateKey("private" as KeyType, "test")).toThrow(TypeError);
    expect(() => generateKey("toString" as KeyType, "test")).toThrow(TypeError);
    expect(() => generateKey("secret", "prod" as KeyEnvironment)).toThrow(TypeError);
    expect(() => generateKey("sk" as KeyType, "live")).toThrow(TypeError);
  });
});

describe("parseKey: prefix", () => {
  const random = V3.slice(8);
  it.each([
    ["ak_test_", "unknown type"],
    ["pk_prod_", "unknown environment"],
    ["PK_TEST_", "upper case"],
    ["Sk_live_", "mixed case"],
    ["pk_Test_", "mixed case env"],
    ["pk-test-", "hyphens"],
    ["pk_test-", "trailing hyphen"],
    ["pktest__", "missing separator"],
    ["rk_live_", "other vendor style"],
    ["\u0440k_test_", "Cyrillic р"],
    [" k_test_", "leading space"],
  ])("%j (%s) fails with prefix", (prefix) => {
    expect(prefix).toHaveLength(8);
    expect(reasonOf(prefix + random)).toBe("prefix");
  });

  it.each([
    ["", "empty string"],
    ["sk_test", "no trailing underscore, nothing else"],
    ["sk_test" + random + "X", "no trailing underscore, right total length"],
    ["sk_test" + random, "no trailing underscore, one short"],
    ["sk_", "truncated"],
    ["s", "one character"],
    [" " + V3, "leading whitespace"],
    ["\u200b" + V3, "leading zero-width space"],
    ["Bearer " + V3, "scheme left on"],
    [V3.slice(8), "prefix missing"],
  ])("%j (%s) fails with prefix", (candidate) => {
    expect(reasonOf(candidate)).toBe("prefix");
  });

  it("fails with prefix for non-string input from untyped callers", () => {
    for (const bad of [undefined, null, 42, {}, ["sk_live_"]]) {
      expect(reasonOf(bad as unknown as string)).toBe("prefix");
    }
  });

  it("checks the prefix before anything else", () => {
    expect(reasonOf("xk_test_")).toBe("prefix"); // also wrong length
    expect(reasonOf("xk_test_" + "-".repeat(38))).toBe("prefix"); // also wrong alphabet
    expect(reasonOf("xk_test_" + "0".repeat(38))).toBe("prefix"); // also wrong checksum
  });
});

describe("parseKey: length", () => {
  it.each([
    ["45 characters", V3.slice(0, 45)],
    ["47 characters", V3 + "0"],
    ["47, checksum intact", V3.slice(0, 40) + "0" + V3.slice(40)],
    ["0 after the prefix", "sk_test_"],
    ["1 after the prefix", "sk_test_0"],
    ["very long", V3 + "a".repeat(10_000)],
    ["huge", "sk_live_" + "0".repeat(1_000_000)],
    ["doubled key", V3 + V3],
  ])("%s fails with length", (_label, candidate) => {
    expect(reasonOf(candidate)).toBe("length");
  });

  it.each([
    ["trailing space", V2 + " "],
    ["trailing newline", V2 + "\n"],
    ["trailing CRLF", V2 + "\r\n"],
    ["trailing tab", V2 + "\t"],
    ["inserted space", V2.slice(0, 20) + " " + V2.slice(20)],
    ["inserted zero-width space", V2.slice(0, 20) + "\u200b" + V2.slice(20)],
    ["inserted BOM", V2.slice(0, 20) + "\ufeff" + V2.slice(20)],
    ["astral look-alike replacing one char (2 code units)", replaceAt(V2, 20, "\u{1d433}")], // 𝐳
    ["emoji replacing one char", replaceAt(V2, 44, "😀")],
  ])("whitespace or unicode that changes the length (%s) fails with length", (_label, candidate) => {
    expect(reasonOf(candidate)).toBe("length");
  });

  it("checks the length before the alphabet and checksum", () => {
    expect(reasonOf("sk_live_" + "-".repeat(37))).toBe("length");
    expect(reasonOf("sk_live_" + "0".repeat(39))).toBe("length");
  });
});

describe("parseKey: alphabet", () => {
  const BAD_ASCII = ["-", "_", "+", "/", "=", " ", "\t", "\n", "\r", "\0", ".", "~", "!", "%", ":", "\x7f"];
  const POSITIONS = [8, 9, 20, 39, 40, 45];

  it.each(BAD_ASCII)("%j in the random or checksum part fails with alphabet", (bad) => {
    for (const key of [V1, V2, V3, V4]) {
      for (const position of POSITIONS) {
        expect(reasonOf(replaceAt(key, position, bad)), `${key}@${position}`).toBe("alphabet");
      }
    }
  });

  it.each([
    ["Cyrillic о for o", "o", "\u043e"],
    ["Cyrillic С for C", "C", "\u0421"],
    ["Cyrillic е for e", "e", "\u0435"],
    ["Greek Ο for O", "O", "\u039f"],
    ["Greek ν for v", "v", "\u03bd"],
    ["dotless ı for i", "i", "\u0131"],
    ["fullwidth ０ for 0", "0", "\uff10"],
    ["fullwidth Ｃ for C", "C", "\uff23"],
    ["zero-width space for a char", "G", "\u200b"],
    ["no-break space for a char", "G", "\u00a0"],
    ["BOM for a char", "G", "\ufeff"],
    ["en dash for a char", "G", "\u2013"],
  ])("unicode look-alike (%s) fails with alphabet", (_label, original, lookAlike) => {
    const key = V3.includes(original, 8) ? V3 : V4;
    const index = key.indexOf(original, 8);
    expect(index).toBeGreaterThanOrEqual(8);
    const candidate = replaceAt(key, index, lookAlike);
    expect(candidate).toHaveLength(KEY_LENGTH);
    expect(reasonOf(candidate)).toBe("alphabet");
  });

  it("rejects a non-ASCII character whose low byte is a base62 char", () => {
    // U+0130 & 0xFF === 0x30 ('0'): guards against truncating char codes to bytes.
    expect(reasonOf(replaceAt(V1, 20, "\u0130"))).toBe("alphabet");
    expect(reasonOf(replaceAt(V1, 42, "\u0141"))).toBe("alphabet"); // 0x41 'A'
  });

  it("checks the alphabet before the checksum", () => {
    expect(reasonOf("sk_live_" + "-".repeat(38))).toBe("alphabet");
    expect(reasonOf(V2.slice(0, 40) + "=====A")).toBe("alphabet");
  });
});

describe("parseKey: checksum", () => {
  it("rejects a valid body with a wrong or overflowing checksum", () => {
    expect(reasonOf(V1.slice(0, 40) + "000000")).toBe("checksum");
    expect(reasonOf(V1.slice(0, 40) + "zzzzzz")).toBe("checksum"); // > 2^32, never a CRC
    expect(reasonOf(V1.slice(0, 40) + "4gfFC4")).toBe("checksum"); // 2^32
    expect(reasonOf(V1.slice(0, 40) + V2.slice(40))).toBe("checksum");
  });

  it("does not let one key's checksum validate another type or environment", () => {
    for (const { key } of VECTORS) {
      for (const { prefix } of COMBOS) {
        if (key.startsWith(prefix)) continue;
        expect(reasonOf(prefix + key.slice(8)), prefix + key.slice(8)).toBe("checksum");
      }
    }
  });

  it("rejects 20,000 seeded random well-formed strings (random garbage)", () => {
    const rand = seeded(0xbadc0de);
    let checked = 0;
    for (let n = 0; n < 20_000; n++) {
      const combo = COMBOS[n % 4]!;
      const candidate = combo.prefix + seededBase62(rand, 38);
      if (referenceKey(candidate.slice(0, 8), candidate.slice(8, 40)) === candidate) continue;
      checked++;
      expect(reasonOf(candidate)).toBe("checksum");
    }
    expect(checked).toBe(20_000);
  });
});

describe("parseKey: every single-character substitution", () => {
  // Every ASCII code plus some non-ASCII stand-ins, at every position.
  const REPLACEMENTS = [
    ...Array.from({ length: 128 }, (_, code) => String.fromCharCode(code)),
    "\u043e",
    "\u0410",
    "\uff10",
    "\u200b",
    "\u00a0",
    "\u0130",
    "\ud800",
  ];

  function expectedReason(original: string, position: number, replacement: string): KeyFormatError {
    if (position < 8) {
      // p <-> s at position 0 is a different but well-formed prefix; only the checksum sees it.
      const swapsType = position === 0 && "ps".includes(replacement) && "ps".includes(original);
      return swapsType ? "checksum" : "prefix";
    }
    return isBase62(replacement) ? "checksum" : "alphabet";
  }

  const generated = generateKey("secret", "live");
  it.each([
    ["vector 1", V1],
    ["vector 2", V2],
    ["vector 3", V3],
    ["vector 4", V4],
    ["generated sk_live", generated],
    ["generated pk_test", generateKey("public", "test")],
  ])("%s: every substitution is rejected with the right reason", (_label, key) => {
    expect(parseKey(key).ok).toBe(true);
    const wrong: string[] = [];
    let checked = 0;
    let base62Substitutions = 0;
    for (let position = 0; position < KEY_LENGTH; position++) {
      const original = key.charAt(position);
      for (const replacement of REPLACEMENTS) {
        if (replacement === original) continue;
        const candidate = replaceAt(key, position, replacement);
        const expected = expectedReason(original, position, replacement);
        const actual = reasonOf(candidate);
        checked++;
        if (position >= 8 && isBase62(replacement)) base62Substitutions++;
        if (actual !== expected) wrong.push(`${JSON.stringify(candidate)}: ${actual}, expected ${expected}`);
      }
    }
    expect(wrong).toEqual([]);
    expect(base62Substitutions).toBe(38 * 61); // every other base62 char at every checked position
    expect(checked).toBe(46 * (REPLACEMENTS.length - 1));
  });
});

describe("parseKey: adjacent transpositions", () => {
  function transpositionFailures(key: string, from: number, to: number): string[] {
    const wrong: string[] = [];
    for (let i = from; i < to; i++) {
      if (key.charAt(i) === key.charAt(i + 1)) continue;
      const candidate = swapAt(key, i);
      const expected = i < 8 ? ["prefix"] : ["checksum"];
      const actual = reasonOf(candidate);
      if (!expected.includes(actual)) wrong.push(`${candidate} (swap ${i},${i + 1}): ${actual}`);
    }
    return wrong;
  }

  it.each([V1, V2, V3, V4])("every adjacent swap in %s is rejected", (key) => {
    // Covers prefix, random part, the random/checksum boundary and the checksum itself.
    expect(transpositionFailures(key, 0, KEY_LENGTH - 1)).toEqual([]);
  });

  it("every adjacent swap in the random part and checksum of 500 generated keys is rejected", () => {
    let swaps = 0;
    for (let n = 0; n < 500; n++) {
      const combo = COMBOS[n % 4]!;
      const key = generateKey(combo.type, combo.environment);
      // CRC32 detects any error burst of <= 32 bits, and swapping distinct base62 digits
      // always changes the checksum's value, so both ranges are guaranteed, not probable.
      expect(transpositionFailures(key, 8, 39)).toEqual([]);
      expect(transpositionFailures(key, 40, 45)).toEqual([]);
      swaps += 36;
    }
    expect(swaps).toBe(500 * 36);
  });

  it("vector 3, with many distinct neighbours, has 31 effective swaps in its random part", () => {
    let distinct = 0;
    for (let i = 8; i < 39; i++) if (V3.charAt(i) !== V3.charAt(i + 1)) distinct++;
    expect(distinct).toBe(31);
    expect(transpositionFailures(V3, 8, 39)).toEqual([]);
  });
});

describe("parseKey: seeded property checks", () => {
  it("accepts every key built by the reference encoder, for every prefix", () => {
    const rand = seeded(2024);
    for (let n = 0; n < 4000; n++) {
      const combo = COMBOS[n % 4]!;
      const key = referenceKey(combo.prefix, seededBase62(rand, 32));
      expect(parseKey(key), key).toEqual({ ok: true, type: combo.type, environment: combo.environment });
    }
  });

  it("returns the same answer for the same input (no hidden state)", () => {
    for (let n = 0; n < 3; n++) {
      expect(parseKey(V2)).toEqual({ ok: true, type: "secret", environment: "live" });
      expect(parseKey(V2.slice(1))).toEqual({ ok: false, reason: "prefix" });
    }
  });
});

describe("keyPrefix and displayKey", () => {
  it.each(VECTORS)("keyPrefix($key)", ({ key }) => {
    expect(keyPrefix(key)).toBe(key.slice(0, 8));
  });

  it.each(COMBOS)("keyPrefix of a generated $prefix key", ({ type, environment, prefix }) => {
    expect(keyPrefix(generateKey(type, environment))).toBe(prefix);
  });

  it("formats as prefix…last4 with U+2026", () => {
    expect(displayKey("sk_live_" + "a".repeat(34) + "9LmN")).toBe("sk_live_\u20269LmN");
    expect(displayKey("sk_live_" + "a".repeat(34) + "9LmN")).toBe("sk_live_…9LmN");
    expect(displayKey(V1)).toBe("pk_test_…JpC9");
    expect(displayKey(V2)).toBe("sk_live_…XL3S");
    expect(displayKey(V3)).toBe("sk_test_…BRzN");
    expect(displayKey(V4)).toBe("pk_live_…G9Le");
    expect(displayKey(V4)).toHaveLength(13);
    expect(displayKey(V4).charCodeAt(8)).toBe(0x2026);
  });

  it("reveals only the prefix and checksum characters of a generated key", () => {
    for (let n = 0; n < 100; n++) {
      const key = generateKey("secret", "live");
      const shown = displayKey(key);
      expect(shown).toBe(`sk_live_…${key.slice(-4)}`);
      expect(key.slice(40).endsWith(shown.slice(-4))).toBe(true);
    }
  });

  it("does not echo the start of unrecognised input", () => {
    expect(keyPrefix("")).toBe("");
    expect(keyPrefix("ghp_abcdefghijklmnopqrstuvwxyz0123456789")).toBe("");
    expect(keyPrefix("sk_test")).toBe("");
    expect(keyPrefix("SK_LIVE_" + V2.slice(8))).toBe("");
    expect(displayKey("ghp_abcdefghijklmnopqrstuvwxyz0123456789")).toBe("…6789");
  });

  it("hides the suffix of short input and of input ending in non-base62 characters", () => {
    expect(displayKey("")).toBe("…");
    expect(displayKey("hunter2")).toBe("…");
    expect(displayKey("sk_live_abc")).toBe("sk_live_…");
    expect(displayKey("sk_live_1234567")).toBe("sk_live_…"); // 15 chars
    expect(displayKey("sk_live_12345678")).toBe("sk_live_…5678"); // 16 chars
    expect(displayKey(V2 + "\n")).toBe("sk_live_…");
    expect(displayKey(V2.slice(0, 45) + "\u043e")).toBe("sk_live_…");
    expect(displayKey(V2.slice(0, 45))).toBe("sk_live_…4XL3"); // malformed but harmless to show
  });
});
