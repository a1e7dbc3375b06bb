#!/usr/bin/env node
// `npm run bench:scale`: the token-lease scale simulation (bench/scale-sim.ts), no network — one
// secret key offered 10,000 req/s through 20 isolates against one object serving 1,000 calls/s,
// with leases (LEASE_MS 1000) and without (every request asks the object). Writes
// bench/results/scale.json and prints a table; exits 1 if a bound is broken.
import { mkdirSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(BENCH_DIR, "..");
const requireFromRoot = createRequire(path.join(ROOT, "package.json"));
const esbuild = requireFromRoot("esbuild");

const outfile = path.join(BENCH_DIR, ".build", "scale-sim.mjs");
mkdirSync(path.dirname(outfile), { recursive: true });
await esbuild.build({ entryPoints: [path.join(BENCH_DIR, "scale-sim.ts")], bundle: true, format: "esm", platform: "node", outfile, logLevel: "error" });
const { simulate, SCALE_SCENARIO: base } = await import(pathToFileURL(outfile).href);
const runs = { leases: simulate({ ...base, leaseMs: 1_000 }), perRequest: simulate({ ...base, leaseMs: 0 }) };

/** The 100 ms timeline as one row per second: rates averaged, queue and leases at their largest. */
function perSecond(timeline) {
  const rows = [];
  for (let i = 0; i < timeline.length; i += 10) {
    const second = timeline.slice(i, i + 10);
    const mean = (pick) => Math.round(second.reduce((sum, row) => sum + pick(row), 0) / second.length);
    rows.push({
      second: i / 10,
      admittedPerSecond: mean((row) => row.admittedPerSecond),
      refusedPerSecond: mean((row) => row.refusedPerSecond),
      failedOpenPerSecond: mean((row) => row.failedOpenPerSecond),
      objectCallsPerSecond: mean((row) => row.objectCallsPerSecond),
      queueMax: Math.max(...second.map((row) => row.queue)),
      leasesMax: Math.max(...second.map((row) => row.leases ?? 0)),
    });
  }
  return rows;
}

const results = {
  note: "One secret key (1,000/s, burst 10,000) offered 10,000 req/s through 20 simulated isolates against one object serving 1,000 calls/s (FIFO, 1 ms each); revoked at 8 s. The lease ledger and lease logic are src/limiter's own.",
  ...Object.fromEntries(Object.entries(runs).map(([name, r]) => [name, { ...r, timeline: perSecond(r.timeline) }])),
  targets: {
    neverOverAdmits: { value: runs.leases.worstWindowExcess, target: "<= 0 (admitted − (burst + rate × window), worst window)", pass: runs.leases.worstWindowExcess <= 1e-9 },
    objectUnderCapacity: {
      value: runs.leases.objectCallsPerSecondMaxAfterFirstSecond,
      target: `< ${base.objectCallsPerSecond} calls/s (worst 100 ms after the first second)`,
      pass: runs.leases.objectCallsPerSecondMaxAfterFirstSecond < base.objectCallsPerSecond,
    },
    stopsWithinLeaseMs: { value: runs.leases.stoppedAfterRevokeMs, target: "<= LEASE_MS (1000) after the revoke, every isolate", pass: runs.leases.stoppedWithinLeaseMs },
  },
};
mkdirSync(path.join(BENCH_DIR, "results"), { recursive: true });
writeFileSync(path.join(BENCH_DIR, "results", "scale.json"), JSON.stringify(results, null, 2) + "\n");

const row = (name, r) =>
  `${name.padEnd(22)}${String(r.admitted).padStart(9)}${String(r.failedOpen).padStart(12)}${r.worstWindowExcess.toFixed(1).padStart(14)}${String(r.objectCallsPerSecondMedian).padStart(12)}${String(r.objectCallsPerSecondMax).padStart(10)}${String(r.objectQueueMax).padStart(10)}${r.objectWaitMsMean.toFixed(1).padStart(12)}${String(r.stoppedAfterRevokeMs).padStart(12)}`;
console.log(`scale simulation: ${base.isolates} isolates, ${base.offeredPerSecond} req/s offered for ${base.seconds} s, one object of ${base.objectCallsPerSecond} calls/s, revoke at ${base.revokeAtMs} ms`);
console.log(`${"".padEnd(22)}${"admitted".padStart(9)}${"failed open".padStart(12)}${"worst excess".padStart(14)}${"calls/s p50".padStart(12)}${"max".padStart(10)}${"queue max".padStart(10)}${"wait ms avg".padStart(12)}${"stop ms".padStart(12)}`);
console.log(row("leases (LEASE_MS 1000)", runs.leases));
console.log(row("a call per request", runs.perRequest));
for (const [name, t] of Object.entries(results.targets)) console.log(`${name.padEnd(22)}${String(t.value).padStart(9)}   ${t.target}  ${t.pass ? "PASS" : "MISS"}`);
console.log(`\nper second, with leases:   ${"admitted/s".padStart(11)}${"refused/s".padStart(11)}${"failed open/s".padStart(15)}${"object calls/s".padStart(16)}${"queue max".padStart(11)}`);
for (const row of results.leases.timeline) {
  console.log(`${`  ${row.second}–${row.second + 1} s`.padEnd(27)}${String(row.admittedPerSecond).padStart(11)}${String(row.refusedPerSecond).padStart(11)}${String(row.failedOpenPerSecond).padStart(15)}${String(row.objectCallsPerSecond).padStart(16)}${String(row.queueMax).padStart(11)}`);
}
console.log("bench: wrote bench/results/scale.json");
if (!Object.values(results.targets).every((t) => t.pass)) process.exitCode = 1;
