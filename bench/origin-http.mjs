// Benchmark origin over HTTP, as in production (the gateway's ORIGIN_URL): a plain Node server on
// 127.0.0.1, in its own process beside the load generator, so its CPU is not workerd's. Same
// answer as bench/origin.js: reads the body, answers a constant small JSON 200.
//
//   → { type: "ready", port }   once listening (IPC); exits when its parent says { type: "exit" }.
import http from "node:http";

const BODY = JSON.stringify({ ok: true, origin: "bench" });
const HEADERS = { "content-type": "application/json", "cache-control": "no-store", "content-length": Buffer.byteLength(BODY) };

const server = http.createServer((request, response) => {
  request.resume();
  request.once("end", () => {
    response.writeHead(200, HEADERS);
    response.end(BODY);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, "127.0.0.1", () => process.send?.({ type: "ready", port: server.address().port }));
process.on("message", (message) => {
  if (message?.type === "exit") server.close(() => process.exit(0));
});
process.on("disconnect", () => process.exit(0));
