// Load generator child of bench/run.mjs: runs autocannon slices on request, over IPC, so that
// it can live on its own CPU (bench/run.mjs starts it under `taskset -c 1`) for the whole run.
//
//   ← { type: "run", id, url, seconds, connections, keys, rotateKeys, rate, body }
//     (rotateKeys: every request takes the next key, over all connections; else one key per connection;
//      rate: requests per second offered, spread evenly over each second (paced-load.mjs, not
//      autocannon), else as fast as answers come over `connections`)
//   → { type: "result", id, result }   (request counts, status codes, exact latency percentiles)
import autocannon from "autocannon";
import { pacedSlice } from "./paced-load.mjs";

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

/** Percentiles, max and mean of latencies sorted ascending (nulls when there are none). */
function latencySummary(sorted) {
  const n = sorted.length;
  return {
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: n > 0 ? sorted[n - 1] : null,
    mean: n > 0 ? sorted.reduce((a, b) => a + b, 0) / n : null,
  };
}

async function runPacedSlice({ url, seconds, keys, rate, body }) {
  const cpuBefore = process.cpuUsage();
  const wallBefore = process.hrtime.bigint();
  const { latencies, ...result } = await pacedSlice({ url, seconds, rate, keys, body });
  const wallMs = Number(process.hrtime.bigint() - wallBefore) / 1e6;
  const cpu = process.cpuUsage(cpuBefore);
  const sorted = Float64Array.from(latencies).sort();
  return {
    ...result,
    reqPerSec: result.completed / result.durationS,
    latencyMs: latencySummary(sorted),
    loaderCpuUtil: (cpu.user + cpu.system) / 1000 / wallMs,
  };
}

function runSlice({ url, seconds, connections, keys, rotateKeys, rate, body }) {
  if (rate) return runPacedSlice({ url, seconds, keys, rate, body });
  return new Promise((resolve, reject) => {
    let latencies = new Float64Array(1 << 16);
    let n = 0;
    let client = 0;
    let next = Math.floor(Math.random() * keys.length);
    const cpuBefore = process.cpuUsage();
    const wallBefore = process.hrtime.bigint();
    const instance = autocannon(
      {
        url,
        method: "POST",
        connections,
        duration: seconds,
        timeout: 10,
        body,
        headers: { "content-type": "application/json" },
        // One key per connection, round-robin over the bench keys.
        setupClient(c) {
          const key = keys[client++ % keys.length];
          c.setHeaders({ "content-type": "application/json", authorization: `Bearer ${key}` });
        },
        ...(rotateKeys
          ? {
              requests: [
                {
                  setupRequest(request) {
                    const key = keys[next++ % keys.length];
                    return { ...request, headers: { ...request.headers, authorization: `Bearer ${key}` } };
                  },
                },
              ],
            }
          : {}),
      },
      (error, result) => {
        if (error) return reject(error);
        const wallMs = Number(process.hrtime.bigint() - wallBefore) / 1e6;
        const cpu = process.cpuUsage(cpuBefore);
        const sorted = latencies.subarray(0, n).sort();
        const statusCodes = Object.fromEntries(Object.entries(result.statusCodeStats).map(([code, { count }]) => [code, count]));
        resolve({
          completed: result.requests.total,
          sent: result.requests.sent,
          durationS: result.duration,
          reqPerSec: result.requests.total / result.duration,
          ok2xx: result["2xx"],
          non2xx: result.non2xx,
          statusCodes,
          errors: result.errors,
          timeouts: result.timeouts,
          latencyMs: latencySummary(sorted),
          loaderCpuUtil: (cpu.user + cpu.system) / 1000 / wallMs,
        });
      },
    );
    instance.on("response", (_client, _status, _bytes, ms) => {
      if (n === latencies.length) {
        const bigger = new Float64Array(latencies.length * 2);
        bigger.set(latencies);
        latencies = bigger;
      }
      latencies[n++] = ms;
    });
  });
}

process.on("message", async (message) => {
  if (message.type === "exit") process.exit(0);
  if (message.type !== "run") return;
  try {
    process.send({ type: "result", id: message.id, result: await runSlice(message) });
  } catch (error) {
    process.send({ type: "result", id: message.id, error: String(error?.stack ?? error) });
  }
});
process.on("disconnect", () => process.exit(0));
process.send({ type: "ready" });
