import { describe, expect, it } from "vitest";
import { hmacSha256Hex, secretsEqual } from "../../src/crypto/hmac";

describe("hmacSha256Hex", () => {
  it("matches RFC 4231 test vectors", async () => {
    // Test case 2: a short key.
    expect(await hmacSha256Hex("Jefe", "what do ya want for nothing?")).toBe("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  });

  it("agrees with WebCrypto for UTF-8 secrets and messages of every length around the block size", async () => {
    const encoder = new TextEncoder();
    for (const length of [0, 1, 55, 56, 63, 64, 65, 127, 128, 129, 300]) {
      const secret = `sécret-${"k".repeat(length)}`;
      const message = `${"m".repeat(length)}.ünïcødé`;
      const key = await crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
      const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(message)));
      const expected = [...mac].map((byte) => byte.toString(16).padStart(2, "0")).join("");
      expect(await hmacSha256Hex(secret, message)).toBe(expected);
    }
  });
});

describe("secretsEqual", () => {
  it("is true only for identical secrets", async () => {
    expect(await secretsEqual("operator-token", "operator-token")).toBe(true);
    expect(await secretsEqual("operator-token", "operator-tokeN")).toBe(false);
    expect(await secretsEqual("operator-token", "operator-token ")).toBe(false);
    expect(await secretsEqual("", "operator-token")).toBe(false);
  });
});
