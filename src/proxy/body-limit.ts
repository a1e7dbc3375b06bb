/**
 * The request body limit (413 payload_too_large, default 1 MiB), enforced before the origin
 * sees a single byte:
 *  - a body with Content-Length (what SDKs and browsers send) is checked by its declared length
 *    and then streamed to the origin untouched — the runtime holds the client to that length;
 *  - a body without one (chunked) is read up to the limit first. Cutting a stream off midway
 *    would hand the origin a truncated body that can look complete, so such bodies are buffered,
 *    which the limit keeps small;
 *  - a compressed body (`Content-Encoding: gzip`: the Composite SDK's, RudderStack's and
 *    PostHog's batches) is decompressed here and the origin receives it plain, without
 *    Content-Encoding: every origin can read it, and the gateway can look inside where it must (a
 *    key in a PostHog body). The limit holds for the bytes sent and for the bytes they expand to,
 *    so a "zip bomb" (kilobytes that inflate to gigabytes) is 413 after at most the limit's worth
 *    of output, never held whole. Only requests with a Content-Encoding take this path.
 */
import { GatewayError } from "../http/problem";
import { countOf } from "../http/plural";

/** What goes to the origin; `rewritten` when it is not the bytes the client sent (decompressed, a key taken out). */
export interface ForwardBody {
  body: ReadableStream | Uint8Array | null;
  rewritten: boolean;
}

function tooLarge(maxBytes: number, compressed = false): GatewayError {
  const what = compressed ? "The request body, sent or decompressed, is" : "The request body is";
  return new GatewayError("payload_too_large", `${what} larger than ${countOf(maxBytes, "byte")}. Split it into smaller batches.`);
}

/** Throws 413 for a declared length over the limit; no I/O. */
export function checkDeclaredLength(request: Request, maxBytes: number): void {
  const declared = request.headers.get("content-length");
  if (declared !== null && Number(declared) > maxBytes) throw tooLarge(maxBytes);
}

/** The body to forward: the stream itself when its length is declared and it is not compressed, else at most maxBytes read whole. */
export async function bodyToForward(request: Request, maxBytes: number): Promise<ForwardBody> {
  const encoding = request.headers.get("content-encoding");
  if (encoding !== null && requestEncoding(encoding) === "gzip") {
    return { body: await gunzipWithin(request.body, maxBytes), rewritten: true };
  }
  if (request.body === null || request.headers.has("content-length")) return { body: request.body, rewritten: false };
  return { body: await readWithin(request.body, maxBytes), rewritten: false };
}

/** The body as bytes, decompressed if it was sent compressed; for a gateway that must read it (a key in a body). */
export async function bodyBytes(request: Request, maxBytes: number): Promise<ForwardBody & { body: Uint8Array }> {
  const forward = await bodyToForward(request, maxBytes);
  if (forward.body instanceof Uint8Array) return forward as ForwardBody & { body: Uint8Array };
  const body = forward.body === null ? new Uint8Array(0) : await readWithin(forward.body, maxBytes);
  return { body, rewritten: forward.rewritten };
}

/** "gzip" when the body must be decompressed, null when it is sent as is; 400 for a coding the gateway cannot read. */
function requestEncoding(header: string): "gzip" | null {
  const codings = header
    .split(",")
    .map((coding) => coding.trim().toLowerCase())
    .filter((coding) => coding !== "" && coding !== "identity");
  if (codings.length === 0) return null;
  if (codings.length === 1 && (codings[0] === "gzip" || codings[0] === "x-gzip")) return "gzip";
  throw new GatewayError(
    "invalid_request",
    "The request body's Content-Encoding is not supported. Send it uncompressed or with `Content-Encoding: gzip` (one coding).",
  );
}

async function readWithin(stream: ReadableStream<Uint8Array>, maxBytes: number): Promise<Uint8Array> {
  const reader = stream.getReader();
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
  return concat(chunks, size);
}

async function gunzipWithin(body: ReadableStream<Uint8Array> | null, maxBytes: number): Promise<Uint8Array> {
  if (body === null) return new Uint8Array(0);
  let sent = 0;
  const counted = body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        // gzip can be padded with empty blocks: bound what is read, not only what it makes.
        sent += chunk.byteLength;
        if (sent > maxBytes) controller.error(tooLarge(maxBytes, true));
        else controller.enqueue(chunk);
      },
    }),
  );
  try {
    return await readWithin(counted.pipeThrough(new DecompressionStream("gzip")), maxBytes);
  } catch (error) {
    if (sent > maxBytes || (error instanceof GatewayError && error.code === "payload_too_large")) throw tooLarge(maxBytes, true);
    if (error instanceof GatewayError) throw error;
    throw new GatewayError(
      "invalid_request",
      "The request body is not valid gzip although it is sent with `Content-Encoding: gzip`. Compress it whole, or send it uncompressed.",
    );
  }
}

function concat(chunks: readonly Uint8Array[], size: number): Uint8Array {
  const whole = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    whole.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return whole;
}
