// The distance model's fixed-rate load (bench/paced-load.mjs): requests spread over each second
// and sent whether or not earlier ones were answered, against a local HTTP server that records
// when each one arrived.
import http from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { pacedSlice } from "../bench/paced-load.mjs";

let server;

function listen(handler) {
  const arrivals = [];
  server = http.createServer((request, response) => {
    arrivals.push({ at: performance.now(), authorization: request.headers.authorization });
    request.resume();
    request.on("end", () => handler(request, response));
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve({ url: `http://127.0.0.1:${server.address().port}/v1/events`, arrivals })));
}

afterEach(() => new Promise((resolve) => (server ? server.close(resolve) : resolve())));

/** Most arrivals in any window of `ms`. */
function densest(arrivals, ms) {
  const times = arrivals.map((a) => a.at).sort((a, b) => a - b);
  let most = 0;
  for (let i = 0, j = 0; j < times.length; j++) {
    while (times[j] - times[i] >= ms) i++;
    most = Math.max(most, j - i + 1);
  }
  return most;
}

describe("pacedSlice", () => {
  it("spreads the offered requests evenly over the slice and rotates the keys", async () => {
    const { url, arrivals } = await listen((_request, response) => response.end("ok"));
    const result = await pacedSlice({ url, seconds: 1, rate: 200, keys: ["a", "b"], body: "{}" });

    expect(result).toMatchObject({ sent: 200, completed: 200, ok2xx: 200, non2xx: 0, errors: 0, statusCodes: { 200: 200 } });
    expect(result.latencies).toHaveLength(200);
    expect(arrivals).toHaveLength(200);
    // 200/s is 10 per 50 ms; a burst at the top of the second (autocannon's overallRate) puts all 200 in one window.
    expect(densest(arrivals, 50)).toBeLessThanOrEqual(20);
    const span = arrivals.at(-1).at - arrivals[0].at;
    expect(span).toBeGreaterThan(900);
    expect(new Set(arrivals.map((a) => a.authorization))).toEqual(new Set(["Bearer a", "Bearer b"]));
  });

  it("keeps sending on time while answers are slow, and counts their wait", async () => {
    const { url, arrivals } = await listen((_request, response) => setTimeout(() => response.end("ok"), 100));
    const result = await pacedSlice({ url, seconds: 0.5, rate: 200, keys: ["a"], body: "{}" });

    expect(result.completed).toBe(100);
    // Open loop: 100 ms answers do not hold back the next sends (a closed loop over a few connections would).
    expect(arrivals[arrivals.length - 1].at - arrivals[0].at).toBeLessThan(700);
    expect(Math.min(...result.latencies)).toBeGreaterThanOrEqual(99);
  });

  it("counts a request whose connection breaks as an error, not an answer", async () => {
    let n = 0;
    const { url } = await listen((request, response) => (n++ % 2 === 0 ? request.socket.destroy() : response.end("ok")));
    const result = await pacedSlice({ url, seconds: 0.2, rate: 100, keys: ["a"], body: "{}" });

    expect(result.sent).toBe(20);
    expect(result.errors).toBeGreaterThan(0);
    expect(result.completed + result.errors).toBe(20);
  });
});
