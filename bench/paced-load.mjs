// An open-loop load at a fixed rate: request i is due at start + i / rate, sent when due on a
// free keep-alive connection, and its latency runs from when it was due to its answer's end, so a
// late send counts against the server rather than disappearing (no coordinated omission).
//
// autocannon's `overallRate` is not this. Each connection sends its share of a second's requests
// back to back as soon as the second starts (lib/httpClient.js: a per-connection counter that a
// 1 s interval resets), so 500 req/s over 50 connections is a closed-loop burst of 500 requests,
// 50 in flight, at the top of every second: its latencies are saturation latencies, connections ×
// CPU per request, whatever the offered rate. Latency at a fixed rate needs requests spread over
// the second, as real clients' are.
import http from "node:http";

/** Milliseconds between the timer's checks for requests that have come due. */
const TICK_MS = 1;

/**
 * Offers `rate` POSTs per second to `url` for `seconds`. Keys rotate per request. Answers
 * { completed, sent, durationS, statusCodes, ok2xx, non2xx, errors, timeouts, latencies } with
 * latencies in ms (unsorted, one per answered request).
 */
export function pacedSlice({ url, seconds, rate, keys, body, timeoutMs = 10_000 }) {
  const target = new URL(url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const total = Math.max(1, Math.round(rate * seconds));
  const intervalMs = 1000 / rate;
  const latencies = [];
  const statusCodes = {};
  let sent = 0;
  let settled = 0;
  let errors = 0;
  let timeouts = 0;
  const start = performance.now();

  return new Promise((resolve) => {
    const finish = () => {
      agent.destroy();
      const durationS = (performance.now() - start) / 1000;
      const ok2xx = Object.entries(statusCodes).reduce((n, [code, count]) => (code.startsWith("2") ? n + count : n), 0);
      resolve({ completed: latencies.length, sent, durationS, statusCodes, ok2xx, non2xx: latencies.length - ok2xx, errors, timeouts, latencies });
    };
    const settle = () => {
      if (++settled === total) finish();
    };
    const send = (index) => {
      const due = start + index * intervalMs;
      const key = keys[index % keys.length];
      let ended = false;
      const end = (onEnd) => {
        if (ended) return;
        ended = true;
        onEnd();
        settle();
      };
      const request = http.request(
        {
          agent,
          host: target.hostname,
          port: target.port,
          path: target.pathname + target.search,
          method: "POST",
          headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body), authorization: `Bearer ${key}` },
          timeout: timeoutMs,
        },
        (response) => {
          response.on("data", () => {});
          response.on("end", () =>
            end(() => {
              latencies.push(performance.now() - due);
              statusCodes[response.statusCode] = (statusCodes[response.statusCode] ?? 0) + 1;
            }),
          );
          response.on("error", () => end(() => errors++));
        },
      );
      request.on("timeout", () => {
        timeouts++;
        request.destroy(new Error("timeout"));
      });
      request.on("error", () => end(() => errors++));
      request.end(body);
    };
    const tick = () => {
      const due = Math.min(total, Math.floor((performance.now() - start) / intervalMs) + 1);
      while (sent < due) send(sent++);
      if (sent < total) setTimeout(tick, TICK_MS);
    };
    tick();
  });
}
