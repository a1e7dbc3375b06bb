/**
 * Gzip request bodies (Content-Encoding: gzip) through the real Worker to the sample origin: the
 * origin receives them decompressed, without Content-Encoding; the body limit holds for the bytes
 * sent and for what they expand to, so a zip bomb is 413 and reaches nothing.
 */
import { exports } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { env, expectProblem, gateway, projectWithKeys, withKey, type MintedKey, type OriginEcho } from "../helpers";
import { configOf } from "../../src/config";

let publicKey: MintedKey;
const MAX = configOf(env).maxBodyBytes;

beforeAll(async () => {
  ({ publicKey } = await projectWithKeys());
});

async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await new Response(new Blob([bytes]).stream().pipeThrough(new CompressionStream("gzip"))).arrayBuffer());
}
const utf8 = (text: string) => new TextEncoder().encode(text);

/** gzip of `size` zero bytes, made as a stream: the test never holds the expanded bytes. */
async function gzipZeros(size: number): Promise<Uint8Array> {
  const chunk = new Uint8Array(1024 * 1024);
  let left = size;
  const zeros = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (left <= 0) return controller.close();
      controller.enqueue(chunk.slice(0, Math.min(chunk.byteLength, left)));
      left -= chunk.byteLength;
    },
  });
  return new Uint8Array(await new Response(zeros.pipeThrough(new CompressionStream("gzip"))).arrayBuffer());
}

function post(path: string, body: BodyInit, headers: Record<string, string> = {}): Promise<Response> {
  return gateway(path, withKey(publicKey.key, { method: "POST", body, headers: { "content-type": "application/json", ...headers } }));
}

/** A body the runtime sends chunked (no Content-Length). */
function chunked(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      for (let i = 0; i < bytes.byteLength; i += 4096) controller.enqueue(bytes.slice(i, i + 4096));
      controller.close();
    },
  });
}

async function remainingToday(): Promise<number> {
  const res = await post("/v1/events", "{}");
  expect(res.status).toBe(200);
  await res.body?.cancel();
  return Number(res.headers.get("x-ratelimit-remaining-day"));
}

describe("gzip bodies", () => {
  it("are forwarded decompressed, without Content-Encoding, with the right length", async () => {
    const json = JSON.stringify({ batch: Array.from({ length: 200 }, (_, i) => ({ event: "page_view", properties: { i } })) });
    const compressed = await gzip(utf8(json));
    expect(compressed.byteLength).toBeLessThan(json.length / 5);
    const res = await post("/v1/batch", compressed, { "content-encoding": "gzip" });
    expect(res.status).toBe(200);
    const { received, signature } = (await res.json()) as OriginEcho;
    expect(signature).toBe("valid");
    expect(received.body).toBe(json);
    expect(received.body_bytes).toBe(json.length);
    expect(received.headers["content-encoding"]).toBeUndefined();
    expect(received.headers["content-length"]).toBe(String(json.length));
  });

  it("chunked gzip (no Content-Length) too; `identity` and `x-gzip` are understood", async () => {
    const json = JSON.stringify({ event: "chunked" });
    const res = await post("/v1/events", chunked(await gzip(utf8(json))), { "content-encoding": "x-gzip" });
    expect(res.status).toBe(200);
    expect(((await res.json()) as OriginEcho).received.body).toBe(json);
    const plain = await post("/v1/events", json, { "content-encoding": "identity" });
    expect(((await plain.json()) as OriginEcho).received.body).toBe(json);
  });

  it("a body that decompresses to exactly the limit passes; one byte more is 413", async () => {
    const fits = await post("/v1/batch", await gzip(new Uint8Array(MAX).fill(0x20)), { "content-encoding": "gzip" });
    expect(fits.status).toBe(200);
    expect(((await fits.json()) as OriginEcho).received.body_bytes).toBe(MAX);
    await expectProblem(await post("/v1/batch", await gzip(new Uint8Array(MAX + 1).fill(0x20)), { "content-encoding": "gzip" }), 413, "payload_too_large");
  });

  it("a zip bomb (≈ 100 KiB that inflate to 100 MiB) is 413, reaches no origin and takes nothing from the quota", async () => {
    const bomb = await gzipZeros(100 * 1024 * 1024);
    expect(bomb.byteLength).toBeLessThan(200 * 1024);

    const before = await remainingToday();
    const declared = await post("/v1/batch", bomb, { "content-encoding": "gzip" });
    const body = await expectProblem(declared, 413, "payload_too_large", publicKey.key);
    expect(body.detail).toContain("decompressed");
    expect(declared.headers.get("x-ratelimit-remaining")).toBeNull();
    await expectProblem(await post("/v1/batch", chunked(bomb), { "content-encoding": "gzip" }), 413, "payload_too_large");
    // The refused requests took no token: the next admitted one is the only one counted.
    expect(await remainingToday()).toBe(before - 1);
  });

  it("compressed bytes over the limit are 413 even when they expand to nothing (empty stored blocks)", async () => {
    // gzip header · (limit / 5) empty non-final stored blocks · one final empty block · CRC32 0 · size 0.
    const blocks = Math.ceil(MAX / 5) + 1;
    const padded = new Uint8Array(10 + 5 * blocks + 5 + 8);
    padded.set([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
    for (let i = 0; i < blocks; i++) padded.set([0x00, 0x00, 0x00, 0xff, 0xff], 10 + 5 * i);
    padded.set([0x01, 0x00, 0x00, 0xff, 0xff], 10 + 5 * blocks);
    await expectProblem(await post("/v1/batch", chunked(padded), { "content-encoding": "gzip" }), 413, "payload_too_large");
    // The same shape under the limit is valid gzip of nothing: what made the 413 was its size alone.
    const small = new Uint8Array([...padded.slice(0, 15), ...padded.slice(10 + 5 * blocks)]);
    const ok = await post("/v1/events", small, { "content-encoding": "gzip" });
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as OriginEcho).received.body_bytes).toBe(0);
  });

  it("broken gzip and codings the gateway does not read are 400 invalid_request, never forwarded", async () => {
    const good = await gzip(utf8('{"event":"x"}'));
    const broken = good.slice(0, good.byteLength - 6);
    const res = await post("/v1/events", broken, { "content-encoding": "gzip" });
    expect((await expectProblem(res, 400, "invalid_request")).detail).toContain("not valid gzip");
    await expectProblem(await post("/v1/events", utf8("not gzip at all"), { "content-encoding": "gzip" }), 400, "invalid_request");
    for (const coding of ["br", "deflate", "zstd", "gzip, gzip"]) {
      const refused = await expectProblem(await post("/v1/events", good, { "content-encoding": coding }), 400, "invalid_request");
      expect(refused.detail).toContain("Content-Encoding");
    }
  });

  it("an ordinary body is still streamed untouched, its Content-Length kept", async () => {
    const res = await exports.default.fetch(
      new Request("https://gateway.test/v1/events", withKey(publicKey.key, { method: "POST", body: '{"a":1}', headers: { "content-type": "application/json" } })),
    );
    const { received } = (await res.json()) as OriginEcho;
    expect(received.headers["content-length"]).toBe("7");
    expect(received.body).toBe('{"a":1}');
  });
});
