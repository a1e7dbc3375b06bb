/**
 * HMAC-SHA-256 as lowercase hex, with each secret's CryptoKey imported once per isolate
 * (importKey costs more than the MAC of a short message, and runs on every request otherwise).
 */
const encoder = new TextEncoder();
const imported = new Map<string, Promise<CryptoKey>>();

function importHmacKey(secret: string): Promise<CryptoKey> {
  let key = imported.get(secret);
  if (key === undefined) {
    key = crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    imported.set(secret, key);
  }
  return key;
}

export async function hmacSha256Hex(secret: string, message: string): Promise<string> {
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", await importHmacKey(secret), encoder.encode(message)));
  let hex = "";
  for (const byte of mac) hex += byte.toString(16).padStart(2, "0");
  return hex;
}

/**
 * Constant-time equality for secrets (the operator token). Both sides are hashed first so the
 * comparison is over equal lengths and reveals neither length nor content through timing.
 */
export async function secretsEqual(presented: string, expected: string): Promise<boolean> {
  const [a, b] = await Promise.all([
    crypto.subtle.digest("SHA-256", encoder.encode(presented)),
    crypto.subtle.digest("SHA-256", encoder.encode(expected)),
  ]);
  return crypto.subtle.timingSafeEqual(a, b);
}
