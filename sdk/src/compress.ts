/**
 * Gzip for batches (`Content-Encoding: gzip`; the gateway decompresses and forwards them plain).
 * CompressionStream is in every current browser, Node ≥ 18, Deno, Bun and Workers; where it is
 * missing the batch goes uncompressed. Small bodies are not worth the CPU or the header.
 */
const MIN_BYTES = 1024;

export function canCompress(): boolean {
  return typeof (globalThis as { CompressionStream?: unknown }).CompressionStream === "function";
}

/** The body gzip-compressed, or null when it should go as it is. */
export async function gzipBody(body: Uint8Array): Promise<Uint8Array | null> {
  if (body.byteLength < MIN_BYTES || !canCompress()) return null;
  const stream = new Blob([body as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}
