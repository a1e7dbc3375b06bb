// Benchmark origin: the smallest useful API. It reads the request body (as a real origin would)
// and answers a constant small JSON 200. No logging, no echo, no crypto: the origin's own cost
// should be a small and equal part of both the `passthrough` and the `gateway` scenario.
const BODY = JSON.stringify({ ok: true, origin: "bench" });
const HEADERS = { "content-type": "application/json", "cache-control": "no-store" };

export default {
  async fetch(request) {
    if (request.body !== null) await request.arrayBuffer();
    return new Response(BODY, { headers: HEADERS });
  },
};
