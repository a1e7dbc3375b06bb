// An origin that misbehaves on request, loaded by vitest.config.ts as the auxiliary worker
// `faulty-origin` and bound to the test worker as FAULTY_ORIGIN. The gateway forwards the
// client's `x-fault` header, which picks the fault:
//
//   hang              -> answers nothing for 60 s (a timer, so the runtime sees no hung promise)
//   throw             -> the origin Worker throws: the service binding call fails
//   5xx               -> 503 with a JSON body and Retry-After: 7, as an overloaded origin does
//   huge              -> 200 with `x-fault-bytes` bytes (default 8 MiB) made chunk by chunk,
//                        each byte (i mod 251), so the receiver can check every one
//   slow-body         -> 200 headers at once, a first 64 KiB chunk, then the rest after
//                        `x-fault-pause-ms` (default 1500) ms
//   reset-mid-body    -> 200 headers and 64 KiB, then the body stream errors
// Anything else: 200 {"ok":true}.

const CHUNK = 64 * 1024;

function patterned(offset, length) {
  const chunk = new Uint8Array(length);
  for (let i = 0; i < length; i++) chunk[i] = (offset + i) % 251;
  return chunk;
}

export default {
  async fetch(request) {
    // The request body is read first, as a real origin would.
    await request.arrayBuffer();
    const fault = request.headers.get("x-fault");
    switch (fault) {
      case "hang":
        await new Promise((resolve) => setTimeout(resolve, 60_000));
        return new Response("too late");
      case "throw":
        throw new Error("the origin crashed");
      case "5xx":
        return new Response(JSON.stringify({ error: "origin overloaded", detail: "try again later" }), {
          status: 503,
          headers: { "content-type": "application/json", "retry-after": "7", "x-origin-says": "overloaded" },
        });
      case "huge": {
        const total = Number(request.headers.get("x-fault-bytes") ?? 8 * 1024 * 1024);
        let sent = 0;
        const body = new ReadableStream({
          pull(controller) {
            if (sent >= total) return controller.close();
            const length = Math.min(CHUNK, total - sent);
            controller.enqueue(patterned(sent, length));
            sent += length;
          },
        });
        return new Response(body, { headers: { "content-type": "application/octet-stream" } });
      }
      case "slow-body": {
        const pause = Number(request.headers.get("x-fault-pause-ms") ?? 1500);
        const { readable, writable } = new TransformStream();
        const writer = writable.getWriter();
        (async () => {
          await writer.write(patterned(0, CHUNK));
          await new Promise((resolve) => setTimeout(resolve, pause));
          await writer.write(patterned(CHUNK, CHUNK));
          await writer.close();
        })();
        return new Response(readable, { headers: { "content-type": "application/octet-stream" } });
      }
      case "reset-mid-body": {
        let sent = false;
        const body = new ReadableStream({
          pull(controller) {
            if (!sent) {
              sent = true;
              controller.enqueue(patterned(0, CHUNK));
              return;
            }
            controller.error(new Error("connection reset by origin"));
          },
        });
        return new Response(body, { headers: { "content-type": "application/octet-stream" } });
      }
      default:
        return Response.json({ ok: true });
    }
  },
};
