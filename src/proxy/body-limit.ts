/**
 * The request body limit (413 payload_too_large, default 1 MiB), enforced before the origin
 * sees a single byte:
 *  - a body with Content-Length (what SDKs and browsers send) is checked by its declared length
 *    and then streamed to the origin untouched — the runtime holds the client to that length;
 *  - a body without one (chunked) is read up to the limit first. Cutting a stream off midway
 *    would hand the origin a truncated body that can look complete, so such bodies are buffered,
 *    which the limit keeps small.
 */
import { GatewayError } from "../http/problem";
import { countOf } from "../http/plural";

function tooLarge(maxBytes: number): GatewayError {
  return new GatewayError("payload_too_large", `The request body is larger than ${countOf(maxBytes, "byte")}. Split it into smaller batches.`);
}

/** Throws 413 for a declared length over the limit; no I/O. */
export function checkDeclaredLength(request: Request, maxBytes: number): void {
  const declared = request.headers.get("content-length");
  if (declared !== null && Number(declared) > maxBytes) throw tooLarge(maxBytes);
}

/** The body to forward: the stream itself when its length is declared, else at most maxBytes read whole. */
export async function bodyToForward(request: Request, maxBytes: number): Promise<ReadableStream | Uint8Array | null> {
  if (request.body === null || request.headers.has("content-length")) return request.body;
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel();
      throw tooLarge(maxBytes);
    }
    chunks.push(value);
  }
  const body = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return body;
}
