#!/usr/bin/env node
// `npm run bench`: the full gateway path vs a bare pass-through Worker to the same origin, on the
// same workerd, in the same run. See bench/README.md for what is measured and how to read it.
//
//   BENCH_SECONDS=4      length of one measured slice
//   BENCH_ROUNDS=8       rounds; each round runs one slice of each scenario, order rotating
//   BENCH_WARMUP_SECONDS warm-up slice per scenario before the counters are reset (default BENCH_SECONDS)
//   BENCH_CONNECTIONS=50 autocannon connections
//   BENCH_KEYS=8         API keys (connection i uses key i mod BENCH_KEYS)
//   BENCH_MAX_EXTRA_ROUNDS extra rounds allowed to replace noisy ones (default half of BENCH_ROUNDS)
//   BENCH_ORIGIN=http    how the Workers reach the origin: "http" (default) a Node server on
//                        127.0.0.1 reached by fetch(ORIGIN_URL), as in production; "binding" the
//                        origin as a Worker in the same workerd behind the ORIGIN service binding
//   BENCH_PROFILE=1      instead of the rounds: one slice per scenario under V8's sampling profiler
//                        (workerd's inspector); writes bench/results/<scenario>.cpuprofile and
//                        prints self time by function. Figures from a profiled run are not a result.
//
// A round is "noisy" when other processes on the machine used more than NOISY_CORES of a CPU
// during one of its slices; noisy rounds are repeated (up to BENCH_MAX_EXTRA_ROUNDS) and the
// figures come from the clean rounds when there are enough of them.
//
// Writes bench/results/latest.json and prints a table. Exit code 1 only when the benchmark
// itself failed (setup, non-2xx answers, instrumentation); the targets are informational.

import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import {
  BENCH_DIR,
  Miniflare,
  ROOT,
  applyMigrations,
  log,
  numberFromEnv,
  round,
  sleep,
  childPids,
  convertV4MiniflareOptions,
  esbuild,
  miniflarePkg,
  operatorCall,
  readWranglerConfig,
  requireFromMiniflare,
  requireFromRoot,
  stopChild,
  versionOf,
  workerBuildOptions,
  wranglerPkg,
} from "./harness.mjs";
import { compilerInstructions, connectInspector, perfStacks, perfStageTable, perfTimeByStage, PERF_STAGES, profileDuring, reportProfile } from "./profile.mjs";

const BUILD_DIR = path.join(BENCH_DIR, ".build");
const RESULTS_DIR = path.join(BENCH_DIR, "results");

const intEnv = (name, fallback, min = 1) => numberFromEnv(name, fallback, { min });
const CONFIG = {
  sliceSeconds: intEnv("BENCH_SECONDS", 4),
  rounds: Math.floor(intEnv("BENCH_ROUNDS", 8)),
  warmupSeconds: intEnv("BENCH_WARMUP_SECONDS", intEnv("BENCH_SECONDS", 4)),
  connections: Math.floor(intEnv("BENCH_CONNECTIONS", 50)),
  keys: Math.floor(intEnv("BENCH_KEYS", 8)),
  coldKeys: Math.floor(intEnv("BENCH_COLD_KEYS", 10_000)),
  /** Offered req/s of the distance model's latency slices: a load the pass-through and the hot key both carry. */
  latencyRate: Math.floor(intEnv("BENCH_LATENCY_RATE", 500)),
  latencyPairs: Math.floor(intEnv("BENCH_LATENCY_PAIRS", 3)),
  maxExtraRounds: Math.floor(intEnv("BENCH_MAX_EXTRA_ROUNDS", Math.ceil(intEnv("BENCH_ROUNDS", 8) / 2), 0)),
  pauseBetweenSlicesMs: 250,
  profile: (() => {
    const profile = process.env.BENCH_PROFILE;
    if (profile === undefined || profile === "") return null;
    if (profile === "1") return "v8";
    if (!["v8", "perf", "callgrind"].includes(profile)) throw new Error(`BENCH_PROFILE must be v8 (or 1), perf or callgrind (got ${profile})`);
    return profile;
  })(),
  origin: (() => {
    const origin = process.env.BENCH_ORIGIN || "http";
    if (origin !== "http" && origin !== "binding") throw new Error(`BENCH_ORIGIN must be "http" or "binding" (got ${origin})`);
    return origin;
  })(),
  inspectorPort: 9329,
  /**
   * The distance model: every call to a key's object from the `hotkeyfar` gateway waits this long
   * first (bench/instrumented-gateway.ts), as an object in a far location would; 0 leaves the model out.
   * The measured rounds' gateways call their objects with no delay.
   */
  limiterRttMs: intEnv("BENCH_LIMITER_RTT_MS", 50, 0),
  route: "POST /v1/events",
};
// coldOverNoLease: a difference under ≈ 3 % cannot be told from noise here (bench/README.md).
const TARGETS = { ratio: 0.6, d1StatementsPer1000: 5, kvReadsPer1000: 1, hotKeyRatio: 0.8, limiterCallsPer1000: 10, coldOverNoLease: 0.97 };
/** Largest share of non-2xx answers (or socket errors) a valid run may have. */
const MAX_BAD_SHARE = 0.001;
/** Other processes' CPU use (in cores) above which a slice, and its round, count as noisy. */
const NOISY_CORES = 0.15;
/**
 * passthrough: forwards only; bucket: + one RPC to a minimal token-bucket object; contract: the
 * bucket + the headers API.md requires (constant values); headers: those headers with no object
 * call, the ceiling of a key admitted from a lease; gateway: the real thing.
 */
/**
 * BENCH_BASELINE=<git ref>: the gateway as it was at that commit, as two more scenarios in the
 * same run — "baseline" on the 8 keys and "coldbaseline" on the cold keys — so that a change is
 * judged slice by slice against what it changes (gateway/baseline and coldkeys/coldbaseline per
 * round) rather than against another run's figures.
 */
const BASELINE_REF = process.env.BENCH_BASELINE || null;
/**
 * hotkey: the gateway (its own instance, so its own counters) with every connection on one key —
 * the case token leases are for; binding and hrl: peers on the same hot key, the pass-through
 * behind Cloudflare's Rate Limiting binding (Miniflare's simulation) and behind hono-rate-limiter
 * with its Durable Object store; coldkeys: the gateway (its own instance) with every request on
 * the next of BENCH_COLD_KEYS keys, and coldnolease: the same with LEASE_MS=0, as before leases.
 */
const ALL_SCENARIOS = [
  "passthrough",
  "bucket",
  "contract",
  "headers",
  "gateway",
  "hotkey",
  "binding",
  "hrl",
  "coldkeys",
  "coldnolease",
  ...(BASELINE_REF === null ? [] : ["coldbaseline", "baseline"]),
];
/** Scenarios whose every request carries the hot key; and those that rotate over the cold keys. */
const HOT_KEY_SCENARIOS = new Set(["hotkey", "hotkeyfar", "binding", "hrl"]);
const COLD_KEY_SCENARIOS = new Set(["coldkeys", "coldnolease", "coldbaseline"]);
// A subset (BENCH_SCENARIOS=gateway,bucket) only for the profiling modes; a measured run needs all.
const SCENARIOS = (() => {
  if (!process.env.BENCH_PROFILE || !process.env.BENCH_SCENARIOS) return ALL_SCENARIOS;
  const picked = process.env.BENCH_SCENARIOS.split(",").map((name) => name.trim());
  const unknown = picked.filter((name) => !ALL_SCENARIOS.includes(name));
  if (unknown.length > 0 || picked.length === 0) throw new Error(`BENCH_SCENARIOS: pick from ${ALL_SCENARIOS.join(", ")} (got ${process.env.BENCH_SCENARIOS})`);
  return picked;
})();
/**
 * After a cold-keys slice, thousands of KeyLimiters flush to D1 within FLUSH_INTERVAL_MS: that
 * work waits here rather than landing in the next scenario's slice.
 */
const COLD_FLUSH_WAIT_MS = 6_000;
/** The KeyLimiter flushes to D1 every 5 s while it has news (src/limiter/key-limiter.ts). */
const HOT_KEY_FLUSH_WAIT_MS = 6_500;
const SECRETS = {
  KEY_HASH_SECRET: "bench-key-hash-secret-0123456789abcdef",
  ORIGIN_SIGNING_SECRET: "bench-origin-signing-secret-0123456789",
  OPERATOR_TOKEN: "bench-operator-token-0123456789abcdef",
};
// ~100 bytes, what an SDK sends for one event.
const EVENT_BODY = JSON.stringify({ event: "page_view", distinct_id: "user_0042", properties: { path: "/pricing", ref: "bench" } });

const median = (values) => {
  const sorted = values.filter((v) => v !== null && Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return null;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

// ---------------------------------------------------------------------------------------------
// Processes and CPU accounting

const hasTaskset = (() => {
  try {
    execFileSync("taskset", ["-V"], { stdio: "ignore" });
    return os.cpus().length >= 2;
  } catch {
    return false;
  }
})();
const CLK_TCK = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

function pin(pid, cpu) {
  if (!hasTaskset) return false;
  execFileSync("taskset", ["-a", "-p", "-c", String(cpu), String(pid)], { stdio: "ignore" });
  return true;
}

/** utime + stime of a process (all its threads), in ms. */
function processCpuMs(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK; // fields 14 and 15 of stat(5)
}

/** Busy time of all CPUs together (user, nice, system, irq, softirq, steal), in ms. */
function machineBusyMs() {
  const fields = readFileSync("/proc/stat", "utf8").split("\n", 1)[0].trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = fields;
  return ((user + nice + system + irq + softirq + (steal ?? 0)) * 1000) / CLK_TCK;
}

const hostCpuMs = () => {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
};

// ---------------------------------------------------------------------------------------------
// Build

async function build(wrangler) {
  rmSync(BUILD_DIR, { recursive: true, force: true });
  mkdirSync(BUILD_DIR, { recursive: true });
  const common = workerBuildOptions(wrangler); // as `wrangler deploy` bundles a modules Worker
  await esbuild.build({ ...common, entryPoints: [path.join(BENCH_DIR, "instrumented-gateway.ts")], outfile: path.join(BUILD_DIR, "gateway.js") });
  await esbuild.build({ ...common, entryPoints: [path.join(BENCH_DIR, "passthrough.ts")], outfile: path.join(BUILD_DIR, "passthrough.js") });
  await esbuild.build({ ...common, entryPoints: [path.join(BENCH_DIR, "minimal-bucket.ts")], outfile: path.join(BUILD_DIR, "bucket.js") });
  await esbuild.build({ ...common, entryPoints: [path.join(BENCH_DIR, "contract-bucket.ts")], outfile: path.join(BUILD_DIR, "contract.js") });
  await esbuild.build({ ...common, entryPoints: [path.join(BENCH_DIR, "contract-headers.ts")], outfile: path.join(BUILD_DIR, "headers.js") });
  await esbuild.build({ ...common, entryPoints: [path.join(BENCH_DIR, "peer-ratelimit-binding.ts")], outfile: path.join(BUILD_DIR, "binding.js") });
  await esbuild.build({ ...common, entryPoints: [path.join(BENCH_DIR, "peer-hono-rate-limiter.ts")], outfile: path.join(BUILD_DIR, "hrl.js") });
  if (BASELINE_REF !== null) {
    try {
      execFileSync("git", ["-C", ROOT, "rev-parse", "--verify", "--quiet", `${BASELINE_REF}^{commit}`], { stdio: "ignore" });
    } catch {
      throw new Error(`BENCH_BASELINE: ${BASELINE_REF} is not a commit of this repository (try HEAD, a branch or a commit hash)`);
    }
    // The commit's own sources and build settings; this checkout's node_modules, bindings and vars.
    const tree = path.join(BUILD_DIR, "baseline-tree");
    mkdirSync(tree, { recursive: true });
    execFileSync("sh", ["-c", `git -C "${ROOT}" archive --format=tar "$0" src bench wrangler.jsonc | tar -x -C "${tree}"`, BASELINE_REF], {
      stdio: ["ignore", "ignore", "inherit"],
    });
    await esbuild.build({
      ...common,
      keepNames: readWranglerConfig(tree).keep_names ?? true,
      absWorkingDir: tree,
      nodePaths: [path.join(ROOT, "node_modules")],
      entryPoints: [path.join(tree, "bench", "instrumented-gateway.ts")],
      outfile: path.join(BUILD_DIR, "baseline.js"),
    });
  }
  await esbuild.stop(); // its service process would otherwise live as long as we do
}

// ---------------------------------------------------------------------------------------------
// Miniflare: every scenario and the binding origin in one workerd

const logStats = { lines: 0, errors: [] };

function miniflareOptions(wrangler, originUrl) {
  const compatibilityDate = wrangler.compatibility_date;
  const compatibilityFlags = wrangler.compatibility_flags ?? [];
  const sqliteClasses = new Set((wrangler.migrations ?? []).flatMap((m) => m.new_sqlite_classes ?? []));
  const direct = [{ host: "127.0.0.1", port: 0 }];
  // Every scenario reaches the same origin the same way: by HTTP, or by the service binding.
  const toOrigin = originUrl === null ? { serviceBindings: { ORIGIN: "origin" } } : {};
  const originVars = originUrl === null ? {} : { ORIGIN_URL: originUrl };
  /** The gateway built as `<script>.js`, with wrangler.jsonc's vars and bindings. */
  const gatewayWorker = (name, script = name, vars = {}) => ({
    name,
    modules: true,
    scriptPath: path.join(BUILD_DIR, `${script}.js`),
    compatibilityDate,
    compatibilityFlags,
    bindings: { ...wrangler.vars, ...SECRETS, ...originVars, BENCH_LIMITER_RTT_MS: "0", ...vars },
    kvNamespaces: Object.fromEntries(wrangler.kv_namespaces.map((kv) => [kv.binding, `bench-${kv.binding}`])),
    d1Databases: Object.fromEntries(wrangler.d1_databases.map((db) => [db.binding, `bench-${db.binding}`])),
    durableObjects: Object.fromEntries(
      wrangler.durable_objects.bindings.map((b) => [b.name, { className: b.class_name, useSQLite: sqliteClasses.has(b.class_name) }]),
    ),
    ...toOrigin,
    unsafeDirectSockets: direct,
  });
  return convertV4MiniflareOptions({
    host: "127.0.0.1",
    port: 0,
    cf: false,
    telemetry: { enabled: false },
    ...(CONFIG.profile === "v8" ? { inspectorPort: CONFIG.inspectorPort } : {}),
    handleStructuredLogs(entry) {
      logStats.lines++;
      if (entry.level === "error" && logStats.errors.length < 20) logStats.errors.push(entry.message);
    },
    workers: [
      gatewayWorker("gateway"),
      // The same gateway again, for the hot key alone: its own isolate, counters and objects.
      gatewayWorker("hotkey", "gateway"),
      // And once more for the distance model's hot key, whose objects are BENCH_LIMITER_RTT_MS away.
      gatewayWorker("hotkeyfar", "gateway", { BENCH_LIMITER_RTT_MS: String(CONFIG.limiterRttMs) }),
      // And for the cold keys, with leases and without (as before them).
      gatewayWorker("coldkeys", "gateway"),
      gatewayWorker("coldnolease", "gateway", { LEASE_MS: "0" }),
      {
        name: "hrl",
        modules: true,
        scriptPath: path.join(BUILD_DIR, "hrl.js"),
        compatibilityDate,
        compatibilityFlags,
        durableObjects: { LIMITER: { className: "DurableObjectRateLimiter", useSQLite: true } },
        bindings: originVars,
        ...toOrigin,
        unsafeDirectSockets: direct,
      },
      {
        name: "binding",
        modules: true,
        scriptPath: path.join(BUILD_DIR, "binding.js"),
        compatibilityDate,
        compatibilityFlags,
        // Far above what the bench sends: the peer admits everything, as the gateway's keys do.
        ratelimits: { RATE_LIMITER: { namespace_id: "1001", simple: { limit: 1_000_000_000, period: 60 } } },
        bindings: originVars,
        ...toOrigin,
        unsafeDirectSockets: direct,
      },
      // The same KV and D1 ids as the gateway (so the same keys), its own Durable Objects.
      ...(BASELINE_REF === null ? [] : [gatewayWorker("baseline"), gatewayWorker("coldbaseline", "baseline")]),
      {
        name: "passthrough",
        modules: true,
        scriptPath: path.join(BUILD_DIR, "passthrough.js"),
        compatibilityDate,
        compatibilityFlags,
        bindings: originVars,
        ...toOrigin,
        unsafeDirectSockets: direct,
      },
      {
        name: "bucket",
        modules: true,
        scriptPath: path.join(BUILD_DIR, "bucket.js"),
        compatibilityDate,
        compatibilityFlags,
        durableObjects: { BUCKET: { className: "MinimalBucket", useSQLite: true } },
        bindings: originVars,
        ...toOrigin,
        unsafeDirectSockets: direct,
      },
      {
        name: "contract",
        modules: true,
        scriptPath: path.join(BUILD_DIR, "contract.js"),
        compatibilityDate,
        compatibilityFlags,
        durableObjects: { BUCKET: { className: "MinimalBucket", useSQLite: true } },
        bindings: { ...originVars, ORIGIN_SIGNING_SECRET: SECRETS.ORIGIN_SIGNING_SECRET },
        ...toOrigin,
        unsafeDirectSockets: direct,
      },
      {
        name: "headers",
        modules: true,
        scriptPath: path.join(BUILD_DIR, "headers.js"),
        compatibilityDate,
        compatibilityFlags,
        bindings: { ...originVars, ORIGIN_SIGNING_SECRET: SECRETS.ORIGIN_SIGNING_SECRET },
        ...toOrigin,
        unsafeDirectSockets: direct,
      },
      {
        name: "origin",
        modules: true,
        scriptPath: path.join(BENCH_DIR, "origin.js"),
        compatibilityDate,
        compatibilityFlags,
      },
    ],
  });
}

/** Swaps two scenarios' places in a round's order (when both run). */
/** The named scenarios change places among the positions they hold: the first goes last. */
function reverseAmong(order, names) {
  const positions = order.flatMap((scenario, i) => (names.includes(scenario) ? [i] : []));
  const reversed = positions.map((i) => order[i]).reverse();
  positions.forEach((i, k) => (order[i] = reversed[k]));
}

// ---------------------------------------------------------------------------------------------
// Setup through the operator API

const operator = (base, method, pathname, body) => operatorCall(base, SECRETS.OPERATOR_TOKEN, method, pathname, body);

async function createKeys(gatewayUrl, count) {
  const project = await operator(gatewayUrl, "POST", "/_operator/projects", { name: "bench" });
  const keys = [];
  for (let i = 0; i < count; i++) {
    const type = i % 2 === 0 ? "public" : "secret";
    const created = await operator(gatewayUrl, "POST", "/_operator/keys", {
      project_id: project.id,
      type,
      environment: "test",
      label: `bench ${i}`,
    });
    await operator(gatewayUrl, "PUT", `/_operator/keys/${created.id}/limits`, { rate: 1_000_000, burst: 10_000_000, daily: 1_000_000_000 });
    keys.push({ id: created.id, type, key: created.key });
  }
  return { projectId: project.id, keys };
}

/**
 * Keys for the cold-keys scenarios, created through the operator API as users' keys are (default
 * limits: at ~0.1 request per key per second, none comes near them). A few at a time in flight.
 */
async function createColdKeys(gatewayUrl, projectId, count) {
  const keys = new Array(count);
  let next = 0;
  async function creator() {
    for (let i = next++; i < count; i = next++) {
      const created = await operator(gatewayUrl, "POST", "/_operator/keys", {
        project_id: projectId,
        type: i % 2 === 0 ? "public" : "secret",
        environment: "test",
        label: `bench cold ${i}`,
      });
      keys[i] = created.key;
    }
  }
  await Promise.all(Array.from({ length: 8 }, creator));
  return keys;
}

/** One request per key through each scenario: 200 and the origin's answer, or the run is void. */
async function checkPaths(urls, keys) {
  for (const scenario of SCENARIOS) {
    for (const { key } of keys) {
      const response = await fetch(new URL("/v1/events", urls[scenario]), {
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body: EVENT_BODY,
      });
      const text = await response.text();
      if (response.status !== 200 || !text.includes('"origin":"bench"')) {
        throw new Error(`${scenario}: POST /v1/events answered ${response.status} ${text.slice(0, 300)}`);
      }
      if (["gateway", "hotkey", "baseline", "coldbaseline", "contract", "headers"].includes(scenario) && (!response.headers.has("x-request-id") || !response.headers.has("ratelimit"))) {
        throw new Error(`${scenario}: the forwarded answer lacks X-Request-Id or RateLimit headers`);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Load generator child, pinned to CPU 1

const CALLGRIND_DIR = path.join(RESULTS_DIR, "callgrind");

/**
 * Instructions V8's optimising compilers spent on their background threads during a slice.
 * Left out of the per-request figure: how much of the tier-up still happens in the measured slice
 * depends on how valgrind schedules threads, and it made the same code vary by ±20 %.
 */
function jitCompilerInstructions(file) {
  return compilerInstructions(execFileSync("callgrind_annotate", ["--inclusive=yes", "--threshold=100", file], { encoding: "utf8", maxBuffer: 256 * 1024 * 1024 }));
}

/** perf's sampling rate in perf mode: each sample stands for 1e6 / PERF_HZ µs of CPU. */
const PERF_HZ = 4000;

/** V8 writes /tmp/perf-<pid>.map, so that perf can name the JavaScript functions on a stack. */
function usePerfNames() {
  const flags = process.env.MINIFLARE_WORKERD_V8_FLAGS ?? "";
  if (!flags.split(" ").includes("--perf-basic-prof")) process.env.MINIFLARE_WORKERD_V8_FLAGS = `${flags} --perf-basic-prof`.trim();
}

/** Prints perf's stage table (µs of workerd CPU per answer) and writes it to bench/results/perf-stages.json. */
function reportPerfStages(table) {
  const width = 62;
  log(`\nworkerd CPU per answer by stage (perf, all threads; µs): the gateway's stages, then the runtime's own work`);
  log(`${"stage".padEnd(width)}${table.scenarios.map((scenario) => scenario.padStart(12)).join("")}`);
  for (const row of table.rows) log(`${row.stage.slice(0, width - 1).padEnd(width)}${table.scenarios.map((scenario) => row.us[scenario].toFixed(1).padStart(12)).join("")}`);
  log(`${"total".padEnd(width)}${table.scenarios.map((scenario) => table.total[scenario].toFixed(1).padStart(12)).join("")}`);
  const file = path.join(RESULTS_DIR, "perf-stages.json");
  writeFileSync(file, JSON.stringify({ at: new Date().toISOString(), sampleHz: PERF_HZ, unit: "µs of workerd CPU per answer", ...table }, null, 2));
  log(`bench: wrote ${file}`);
}

/** Makes Miniflare start workerd under valgrind's callgrind, instrumentation off until asked. */
function useCallgrind() {
  rmSync(CALLGRIND_DIR, { recursive: true, force: true });
  mkdirSync(CALLGRIND_DIR, { recursive: true });
  const workerd = requireFromMiniflare("workerd").default;
  const wrapper = path.join(BUILD_DIR, "workerd-callgrind.sh");
  writeFileSync(
    wrapper,
    `#!/bin/sh\nexec valgrind -q --tool=callgrind --instr-atstart=no --smc-check=all-non-file --callgrind-out-file=${CALLGRIND_DIR}/callgrind.%p.out ${workerd} "$@"\n`,
    { mode: 0o755 },
  );
  process.env.MINIFLARE_WORKERD_PATH = wrapper;
  process.env.BENCH_WORKERD_COMM ??= "callgrind-amd64";
}

/** A Node child running bench/<script> with an IPC channel, pinned to CPU 1 (beside this process) when it can be. */
function spawnOnCpu1(script) {
  const file = path.join(BENCH_DIR, script);
  const [command, args] = hasTaskset ? ["taskset", ["-c", "1", process.execPath, file]] : [process.execPath, [file]];
  return spawn(command, args, { cwd: ROOT, stdio: ["ignore", "inherit", "inherit", "ipc"] });
}

/** The HTTP origin (bench/origin-http.mjs) on CPU 1 beside the load generator; resolves to its URL. */
async function startHttpOrigin() {
  const child = spawnOnCpu1("origin-http.mjs");
  state.origin = child;
  const port = await new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`HTTP origin exited (${code}) before it was ready`)));
    child.on("message", (message) => message.type === "ready" && resolve(message.port));
  });
  return `http://127.0.0.1:${port}`;
}

function startLoader() {
  const child = spawnOnCpu1("load.mjs");
  const pending = new Map();
  let nextId = 0;
  let readyResolve;
  const ready = new Promise((resolve, reject) => {
    readyResolve = resolve;
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`load generator exited (${code}) before it was ready`)));
  });
  child.on("message", (message) => {
    if (message.type === "ready") return readyResolve();
    const entry = pending.get(message.id);
    if (entry === undefined) return;
    pending.delete(message.id);
    if (message.error) entry.reject(new Error(message.error));
    else entry.resolve(message.result);
  });
  child.on("exit", (code) => {
    for (const { reject } of pending.values()) reject(new Error(`load generator exited (${code})`));
    pending.clear();
  });
  return {
    child,
    ready,
    run(params) {
      const id = nextId++;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        child.send({ type: "run", id, ...params });
      });
    },
    stop() {
      return stopChild(child);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Main

async function main() {
  const startedAt = new Date();
  // Every slice of every round (and the warm-up), plus setup, the two hot-key checks' waits for flushes, and slack.
  const budgetMs =
    ((CONFIG.rounds + CONFIG.maxExtraRounds) * SCENARIOS.length * (CONFIG.sliceSeconds + 1) + SCENARIOS.length * (CONFIG.warmupSeconds + 1) + 2 * 10 + 120 + CONFIG.coldKeys / 20) * 1000;
  const watchdog = setTimeout(() => {
    process.stderr.write(`bench: still running after ${budgetMs / 1000} s, giving up\n`);
    process.exitCode = 1;
    void cleanup().finally(() => process.exit(1));
  }, budgetMs);
  watchdog.unref();

  const wrangler = readWranglerConfig();
  log(`bench: building the gateway (src/index.ts via bench/instrumented-gateway.ts) and the pass-through with esbuild`);
  await build(wrangler);

  const pinnedHost = pin(process.pid, 1);
  const originUrl = CONFIG.origin === "http" ? await startHttpOrigin() : null;
  if (CONFIG.profile === "callgrind") useCallgrind();
  if (CONFIG.profile === "perf") usePerfNames();
  state.mf = new Miniflare(miniflareOptions(wrangler, originUrl));
  await state.mf.ready;
  // Under a wrapper (MINIFLARE_WORKERD_PATH, e.g. valgrind) the process has another name.
  const workerdPids = childPids(process.pid, process.env.BENCH_WORKERD_COMM ?? "workerd");
  if (workerdPids.length !== 1) throw new Error(`expected one workerd child process, found ${workerdPids.length}`);
  const workerdPid = workerdPids[0];
  const pinnedWorkerd = pin(workerdPid, 0);
  const workerdBinary = (() => {
    try {
      return execFileSync("readlink", ["-f", `/proc/${workerdPid}/exe`], { encoding: "utf8" }).trim();
    } catch {
      return null;
    }
  })();
  const workerdVersion = (() => {
    try {
      return execFileSync(workerdBinary, ["--version"], { encoding: "utf8" }).trim().replace(/^workerd\s+/, "");
    } catch {
      return versionOf(requireFromMiniflare.resolve("workerd/package.json"));
    }
  })();

  const urls = {
    gateway: (await state.mf.unsafeGetDirectURL("gateway")).href,
    passthrough: (await state.mf.unsafeGetDirectURL("passthrough")).href,
    bucket: (await state.mf.unsafeGetDirectURL("bucket")).href,
    contract: (await state.mf.unsafeGetDirectURL("contract")).href,
    headers: (await state.mf.unsafeGetDirectURL("headers")).href,
    hotkey: (await state.mf.unsafeGetDirectURL("hotkey")).href,
    hotkeyfar: (await state.mf.unsafeGetDirectURL("hotkeyfar")).href,
    binding: (await state.mf.unsafeGetDirectURL("binding")).href,
    hrl: (await state.mf.unsafeGetDirectURL("hrl")).href,
    coldkeys: (await state.mf.unsafeGetDirectURL("coldkeys")).href,
    coldnolease: (await state.mf.unsafeGetDirectURL("coldnolease")).href,
    ...(BASELINE_REF === null
      ? {}
      : { baseline: (await state.mf.unsafeGetDirectURL("baseline")).href, coldbaseline: (await state.mf.unsafeGetDirectURL("coldbaseline")).href }),
  };
  const migrations = await applyMigrations(await state.mf.getD1Database("DB", "gateway"), wrangler);
  const { projectId, keys } = await createKeys(urls.gateway, CONFIG.keys);
  // The hot key: one secret key for every connection of the hotkey scenario, limits raised as the others'.
  const hot = await operator(urls.gateway, "POST", "/_operator/keys", { project_id: projectId, type: "secret", environment: "test", label: "bench hot key (leases)" });
  await operator(urls.gateway, "PUT", `/_operator/keys/${hot.id}/limits`, { rate: 1_000_000, burst: 10_000_000, daily: 1_000_000_000 });
  const coldStarted = performance.now();
  const coldKeyStrings = SCENARIOS.some((s) => COLD_KEY_SCENARIOS.has(s)) ? await createColdKeys(urls.gateway, projectId, CONFIG.coldKeys) : [];
  if (coldKeyStrings.length > 0) log(`bench: ${coldKeyStrings.length} cold keys created in ${((performance.now() - coldStarted) / 1000).toFixed(1)} s`);
  await checkPaths(urls, keys);
  log(`bench: workerd ${workerdVersion} (pid ${workerdPid}${pinnedWorkerd ? ", CPU 0" : ""}), load generator${hasTaskset ? " and this process on CPU 1" : " unpinned"}`);
  log(`bench: ${keys.length} keys, ${CONFIG.connections} connections, ${CONFIG.route} with a ${EVENT_BODY.length}-byte JSON body`);

  state.loader = startLoader();
  await state.loader.ready;
  // What the rest of the machine is doing while we are idle.
  const idleBusy0 = machineBusyMs();
  const idleOurs0 = processCpuMs(workerdPid) + processCpuMs(state.loader.child.pid) + hostCpuMs();
  await sleep(1000);
  const otherLoadBeforeRun = Math.max(0, machineBusyMs() - idleBusy0 - (processCpuMs(workerdPid) + processCpuMs(state.loader.child.pid) + hostCpuMs() - idleOurs0)) / 1000;
  if (otherLoadBeforeRun > NOISY_CORES) {
    log(`bench: warning: other processes are using ${Math.round(otherLoadBeforeRun * 100)} % of a core right now; noisy rounds will be repeated`);
  }
  const keyStrings = keys.map((k) => k.key);

  async function slice(scenario, seconds, sliceKeys = keyStrings, rate = undefined) {
    const cpu0 = processCpuMs(workerdPid);
    const loader0 = processCpuMs(state.loader.child.pid);
    const origin0 = state.origin === null ? 0 : processCpuMs(state.origin.pid);
    const host0 = hostCpuMs();
    const busy0 = machineBusyMs();
    const wall0 = performance.now();
    // The hot key's object calls, at the start, one second in (when the key has turned hot again
    // after the other scenarios' slices) and at the end.
    const hotCalls = scenario === "hotkey" ? [await hotKeyCalls()] : null;
    const oneSecondIn = hotCalls === null ? null : sleep(1000).then(async () => hotCalls.push(await hotKeyCalls()));
    const result = await state.loader.run({
      url: new URL("/v1/events", urls[scenario]).href,
      seconds,
      connections: CONFIG.connections,
      keys: HOT_KEY_SCENARIOS.has(scenario) ? [hot.key] : COLD_KEY_SCENARIOS.has(scenario) ? coldKeyStrings : sliceKeys,
      rotateKeys: COLD_KEY_SCENARIOS.has(scenario),
      rate,
      body: EVENT_BODY,
    });
    const wallMs = performance.now() - wall0;
    const cpuMs = processCpuMs(workerdPid) - cpu0;
    const loaderMs = processCpuMs(state.loader.child.pid) - loader0;
    const originMs = state.origin === null ? 0 : processCpuMs(state.origin.pid) - origin0;
    const hostMs = hostCpuMs() - host0;
    // CPU time that none of our processes used: other people's work competing with the benchmark.
    const foreignMs = Math.max(0, machineBusyMs() - busy0 - cpuMs - loaderMs - originMs - hostMs);
    if (hotCalls !== null) {
      await oneSecondIn;
      hotCalls.push(await hotKeyCalls());
    }
    if (COLD_KEY_SCENARIOS.has(scenario)) await sleep(COLD_FLUSH_WAIT_MS);
    return {
      ...result,
      ...(hotCalls === null
        ? {}
        : {
            limiterCalls: {
              firstSecond: { calls: hotCalls[1].calls - hotCalls[0].calls, admits: hotCalls[1].admits - hotCalls[0].admits, requests: hotCalls[1].requests - hotCalls[0].requests },
              rest: { calls: hotCalls[2].calls - hotCalls[1].calls, admits: hotCalls[2].admits - hotCalls[1].admits, requests: hotCalls[2].requests - hotCalls[1].requests },
            },
          }),
      workerdCpuMs: cpuMs,
      workerdCpuUsPerRequest: result.completed > 0 ? (cpuMs * 1000) / result.completed : null,
      workerdCpuUtil: cpuMs / wallMs,
      loaderCpuUtil: loaderMs / wallMs,
      originCpuUtil: originMs / wallMs,
      hostCpuUtil: hostMs / wallMs,
      foreignCpuUtil: foreignMs / wallMs,
    };
  }

  /** The hotkey gateway's KeyLimiter calls so far: admits, lease renewals and refusal reports. */
  async function hotKeyCalls() {
    const { limiterCalls, requests } = await (await fetch(new URL("/__bench/counters", urls.hotkey))).json();
    return { calls: limiterCalls.admit + limiterCalls.recordRefused + limiterCalls.renewLease, admits: limiterCalls.admit, requests: requests.total };
  }

  /**
   * A hot key: one public key with the default limits (100/s, burst 1,000) sent by every
   * connection, far above its rate. Most answers are 429; what matters is how many calls its
   * KeyLimiter gets (the isolate repeats a 429 it knows, src/limiter/refusal-memory.ts) and that
   * every refusal is still counted. Reported beside the scenarios, not part of the ratio.
   */
  async function hotKeySlice() {
    const created = await operator(urls.gateway, "POST", "/_operator/keys", { project_id: projectId, type: "public", environment: "test", label: "bench hot key" });
    await fetch(new URL("/__bench/counters", urls.gateway), { method: "POST" });
    const result = await slice("gateway", CONFIG.sliceSeconds, [created.key]);
    await sleep(500); // the last refusal reports
    const after = await (await fetch(new URL("/__bench/counters", urls.gateway))).json();
    const handled = after.requests.total;
    // Every answer counted: once the KeyLimiter's alarm has flushed, D1 holds the gateway's 200s
    // and 429s for the key exactly, the 429s the isolate gave itself included.
    await sleep(HOT_KEY_FLUSH_WAIT_MS);
    const db = await state.mf.getD1Database("DB", "gateway");
    const row = await db
      .prepare("SELECT requests, rejected FROM usage_daily WHERE key_id = ?1 AND day = ?2")
      .bind(created.id, new Date().toISOString().slice(0, 10))
      .first();
    const inD1 = { requests: row?.requests ?? 0, rejected: row?.rejected ?? 0 };
    return {
      key: created.id,
      seconds: round(result.durationS, 1),
      reqPerSec: round(result.reqPerSec, 1),
      completed: result.completed,
      statusCodes: result.statusCodes,
      errors: result.errors,
      admittedPerSecond: round((result.statusCodes["200"] ?? 0) / result.durationS, 1),
      gatewayRequests: handled,
      limiterCalls: after.limiterCalls,
      limiterCallsPer1000: handled > 0 ? round(((after.limiterCalls.admit + after.limiterCalls.recordRefused) / handled) * 1000, 1) : null,
      answered: { ok2xx: after.requests.ok2xx, status429: after.requests.tooMany429, other: after.requests.other - after.requests.tooMany429 },
      inD1,
      countsExact: inD1.requests === after.requests.ok2xx && inD1.rejected === after.requests.tooMany429,
      workerdCpuUsPerRequest: round(result.workerdCpuUsPerRequest, 1),
    };
  }

  /** Calls and requests summed over slices, and calls per 1,000 requests. */
  function perThousand(parts) {
    const calls = parts.reduce((a, x) => a + x.calls, 0);
    const requests = parts.reduce((a, x) => a + x.requests, 0);
    return { calls, requests, per1000: requests > 0 ? round((calls / requests) * 1000, 2) : null };
  }

  /**
   * The hotkey scenario's own figures: its KeyLimiter's calls (admits, lease renewals and
   * reports) per 1,000 requests over the rounds, and D1 exact — once the leases have ended and
   * the object has flushed, D1 holds every 2xx the hotkey gateway answered, warm-up included.
   */
  async function hotKeyLeases() {
    const after = await (await fetch(new URL("/__bench/counters", urls.hotkey))).json();
    const calls = after.limiterCalls.admit + after.limiterCalls.recordRefused + after.limiterCalls.renewLease;
    const leaseMs = Number(wrangler.vars.LEASE_MS ?? 1000);
    await sleep(leaseMs + HOT_KEY_FLUSH_WAIT_MS);
    const db = await state.mf.getD1Database("DB", "gateway");
    const row = await db
      .prepare("SELECT requests, rejected FROM usage_daily WHERE key_id = ?1 AND day = ?2")
      .bind(hot.id, new Date().toISOString().slice(0, 10))
      .first();
    const answered = hotWarmup.requests.ok2xx + after.requests.ok2xx;
    const refused = hotWarmup.requests.tooMany429 + after.requests.tooMany429;
    return {
      key: hot.id,
      requests: after.requests.total,
      limiterCalls: after.limiterCalls,
      limiterCallsPer1000: after.requests.total > 0 ? round((calls / after.requests.total) * 1000, 2) : null,
      // Where they fall: in each slice's first second (the key turning hot again after the other
      // scenarios' slices, as a key does in a new isolate) and after it (a key that stays hot).
      perSlice: allRounds.map((x) => x.slices.hotkey.limiterCalls),
      bySliceSecond: {
        first: perThousand(allRounds.map((x) => x.slices.hotkey.limiterCalls.firstSecond)),
        after: perThousand(allRounds.map((x) => x.slices.hotkey.limiterCalls.rest)),
      },
      answered2xx: answered,
      answered429: refused,
      inD1: { requests: row?.requests ?? 0, rejected: row?.rejected ?? 0 },
      d1Exact: (row?.requests ?? 0) === answered && (row?.rejected ?? 0) === refused,
    };
  }

  /**
   * The distance model's latency, at a fixed offered rate both carry, spread evenly over each
   * second (bench/paced-load.mjs): pass-through, `headers` and the far hot key (`hotkeyfar`, every
   * call to its objects BENCH_LIMITER_RTT_MS away) in triples. Not at saturation: there a
   * closed-loop load's latency is connections × CPU per request, the req/s ratio again, whatever
   * the distance. The hot key's p50 above the `headers` reference (the contract's headers, no
   * object call) is what the distance and the gateway's other work add to a request.
   */
  async function fixedRateLatency() {
    const pairs = [];
    const view = (x) => ({ reqPerSec: round(x.reqPerSec, 1), p50Ms: round(x.latencyMs.p50, 2), p99Ms: round(x.latencyMs.p99, 2), non2xx: x.non2xx + x.errors });
    // Its isolate compiled and its key cache filled, as the rounds' gateways are after their warm-up.
    await slice("hotkeyfar", CONFIG.warmupSeconds, keyStrings, CONFIG.latencyRate);
    await sleep(CONFIG.pauseBetweenSlicesMs);
    for (let i = 0; i < CONFIG.latencyPairs; i++) {
      const pass = await slice("passthrough", CONFIG.sliceSeconds, keyStrings, CONFIG.latencyRate);
      await sleep(CONFIG.pauseBetweenSlicesMs);
      const headers = await slice("headers", CONFIG.sliceSeconds, keyStrings, CONFIG.latencyRate);
      await sleep(CONFIG.pauseBetweenSlicesMs);
      const hot = await slice("hotkeyfar", CONFIG.sliceSeconds, keyStrings, CONFIG.latencyRate);
      await sleep(CONFIG.pauseBetweenSlicesMs);
      pairs.push({
        passthrough: view(pass),
        headers: view(headers),
        hotkey: view(hot),
        p50DeltaMs: hot.latencyMs.p50 - pass.latencyMs.p50,
        p99DeltaMs: hot.latencyMs.p99 - pass.latencyMs.p99,
        overHeadersP50DeltaMs: hot.latencyMs.p50 - headers.latencyMs.p50,
      });
    }
    return {
      offeredReqPerSec: CONFIG.latencyRate,
      pairs,
      p50DeltaMs: median(pairs.map((x) => x.p50DeltaMs)),
      p99DeltaMs: median(pairs.map((x) => x.p99DeltaMs)),
      overHeadersP50DeltaMs: median(pairs.map((x) => x.overHeadersP50DeltaMs)),
    };
  }

  // Warm-up: isolates compiled, key caches filled, Durable Objects loaded; then counters reset.
  await fetch(new URL("/__bench/counters", urls.hotkey), { method: "POST" }); // from here on, only the hot key's traffic
  log(`bench: warm-up, ${CONFIG.warmupSeconds} s per scenario`);
  const warmup = {};
  for (const scenario of SCENARIOS) {
    warmup[scenario] = await slice(scenario, CONFIG.warmupSeconds);
    await sleep(CONFIG.pauseBetweenSlicesMs);
  }
  if (CONFIG.profile === "v8") {
    mkdirSync(RESULTS_DIR, { recursive: true });
    for (const scenario of SCENARIOS) {
      const client = await connectInspector(CONFIG.inspectorPort, scenario);
      const { profile, result } = await profileDuring(client, () => slice(scenario, CONFIG.sliceSeconds));
      client.close();
      log(`bench: ${scenario} profiled: ${Math.round(result.reqPerSec)} req/s, ${Math.round(result.workerdCpuUsPerRequest)} µs workerd CPU per request (inflated by the profiler)`);
      reportProfile(profile, path.join(RESULTS_DIR, `${scenario}.cpuprofile`), log);
    }
    clearTimeout(watchdog);
    return;
  }
  if (CONFIG.profile === "callgrind") {
    // Instructions per request: exact and repeatable whatever else the machine does, unlike
    // req/s and CPU time (see bench/README.md). workerd runs under valgrind with instrumentation
    // off; it is switched on for one slice per scenario.
    const control = (...args) => execFileSync("callgrind_control", [...args, String(workerdPid)], { encoding: "utf8" });
    for (const scenario of SCENARIOS) {
      control("--zero");
      control("--instr=on");
      const result = await slice(scenario, CONFIG.sliceSeconds);
      control("--instr=off");
      const dumped = readdirSync(CALLGRIND_DIR).length;
      control("--dump");
      let file;
      for (let i = 0; i < 100 && file === undefined; i++) {
        await sleep(100);
        file = readdirSync(CALLGRIND_DIR).sort().slice(dumped)[0];
      }
      const text = readFileSync(path.join(CALLGRIND_DIR, file), "utf8");
      const instructions = Number(/^totals: (\d+)/m.exec(text)?.[1]);
      const compiling = jitCompilerInstructions(path.join(CALLGRIND_DIR, file));
      const perRequest = (count) => Math.round(count / result.completed / 1000);
      log(
        `bench: ${scenario}: ${result.completed} requests, ${perRequest(instructions - compiling)} k instructions per request ` +
          `without V8's background compiler (${perRequest(compiling)} k more with it; ${path.join(CALLGRIND_DIR, file)})`,
      );
    }
    clearTimeout(watchdog);
    return;
  }
  if (CONFIG.profile === "perf") {
    mkdirSync(RESULTS_DIR, { recursive: true });
    const byScenario = {};
    for (const scenario of SCENARIOS) {
      const out = path.join(RESULTS_DIR, `${scenario}.perf.data`);
      const perf = spawn("perf", ["record", "-q", "-e", "cpu-clock", "-F", String(PERF_HZ), "-g", "-p", String(workerdPid), "-o", out], { stdio: "inherit" });
      await sleep(300);
      const result = await slice(scenario, CONFIG.sliceSeconds);
      perf.kill("SIGINT");
      await new Promise((resolve) => perf.once("exit", resolve));
      log(`bench: ${scenario}: ${Math.round(result.reqPerSec)} req/s, ${result.completed} requests, perf data in ${out}`);
      const script = execFileSync("perf", ["script", "-i", out, "-F", "ip,sym"], { encoding: "utf8", maxBuffer: 2 ** 30, stdio: ["ignore", "pipe", "ignore"] });
      byScenario[scenario] = { requests: result.completed, rows: perfTimeByStage(perfStacks(script), PERF_STAGES) };
    }
    reportPerfStages(perfStageTable(byScenario, 1e6 / PERF_HZ));
    clearTimeout(watchdog);
    return;
  }
  await fetch(new URL("/__bench/counters", urls.gateway), { method: "POST" });
  const hotWarmup = await (await fetch(new URL("/__bench/counters", urls.hotkey), { method: "POST" })).json();
  const logLinesAtReset = logStats.lines;

  log(`bench: ${CONFIG.rounds} rounds × ${SCENARIOS.length} scenarios × ${CONFIG.sliceSeconds} s, order rotating`);
  const allRounds = [];
  const maxRounds = CONFIG.rounds + CONFIG.maxExtraRounds;
  for (let r = 0; r < maxRounds && allRounds.filter((x) => !x.noisy).length < CONFIG.rounds; r++) {
    // Each round starts with a different scenario, so none always runs first or last.
    const order = SCENARIOS.map((_, i) => SCENARIOS[(i + r) % SCENARIOS.length]);
    // The cold-key scenarios stand side by side in every rotation: every other round reverses
    // them, so none always runs first (just after the others' slices) or last.
    if (r % 2 === 1) reverseAmong(order, [...COLD_KEY_SCENARIOS]);
    // And the gateway and its baseline change places: else one always runs after the same neighbour.
    if (r % 2 === 1) reverseAmong(order, ["gateway", "baseline"]);
    const inRound = {};
    for (const [position, scenario] of order.entries()) {
      inRound[scenario] = { round: r + 1, position: position + 1, ...(await slice(scenario, CONFIG.sliceSeconds)) };
      await sleep(CONFIG.pauseBetweenSlicesMs);
    }
    const ratio = inRound.gateway.reqPerSec / inRound.passthrough.reqPerSec;
    const bucketRatio = inRound.bucket.reqPerSec / inRound.passthrough.reqPerSec;
    const contractRatio = inRound.contract.reqPerSec / inRound.passthrough.reqPerSec;
    const overBaseline = BASELINE_REF === null ? null : inRound.gateway.reqPerSec / inRound.baseline.reqPerSec;
    const coldOverBaseline = BASELINE_REF === null ? null : inRound.coldkeys.reqPerSec / inRound.coldbaseline.reqPerSec;
    const hotKeyRatio = inRound.hotkey.reqPerSec / inRound.passthrough.reqPerSec;
    const bindingRatio = inRound.binding.reqPerSec / inRound.passthrough.reqPerSec;
    const hrlRatio = inRound.hrl.reqPerSec / inRound.passthrough.reqPerSec;
    const coldRatio = inRound.coldkeys.reqPerSec / inRound.passthrough.reqPerSec;
    const coldOverNoLease = inRound.coldkeys.reqPerSec / inRound.coldnolease.reqPerSec;
    const otherLoad = Math.max(...SCENARIOS.map((s) => inRound[s].foreignCpuUtil));
    const noisy = otherLoad > NOISY_CORES;
    allRounds.push({ round: r + 1, order, ratio, bucketRatio, contractRatio, overBaseline, coldOverBaseline, hotKeyRatio, bindingRatio, hrlRatio, coldRatio, coldOverNoLease, otherLoad, noisy, slices: inRound });
    log(
      `  round ${r + 1}: ` +
        order.map((s) => `${s} ${Math.round(inRound[s].reqPerSec)} req/s`).join(", ") +
        `, ratio ${ratio.toFixed(2)}, hot key ${hotKeyRatio.toFixed(2)}, binding peer ${bindingRatio.toFixed(2)}, hrl peer ${hrlRatio.toFixed(2)}, cold keys ${coldRatio.toFixed(2)} (${coldOverNoLease.toFixed(2)} of no leases)` +
        (overBaseline === null ? "" : `, gateway/baseline ${overBaseline.toFixed(3)}, coldkeys/coldbaseline ${coldOverBaseline.toFixed(3)}`) +
        (noisy ? `  (noisy: other processes used ${Math.round(otherLoad * 100)} % of a core${r + 1 < maxRounds ? ", one more round" : ""})` : ""),
    );
  }
  const cleanRounds = allRounds.filter((x) => !x.noisy);
  // Figures come from the clean rounds when there are enough of them, else from all rounds.
  const enoughClean = cleanRounds.length >= Math.max(2, Math.ceil(CONFIG.rounds / 2));
  const usedRounds = enoughClean ? cleanRounds : allRounds;
  const noisyRun = !enoughClean && allRounds.some((x) => x.noisy);
  const slices = Object.fromEntries(SCENARIOS.map((s) => [s, usedRounds.map((x) => x.slices[s])]));
  const ratios = usedRounds.map((x) => x.ratio);
  const bucketRatios = usedRounds.map((x) => x.bucketRatio);

  let counters = await (await fetch(new URL("/__bench/counters", urls.gateway))).json();
  const gatewayLogLines = logStats.lines - logLinesAtReset;
  const hotLeases = await hotKeyLeases();
  const hotKey = await hotKeySlice();
  const distance = CONFIG.limiterRttMs === 0 ? null : await fixedRateLatency();

  // ---- aggregate
  const scenarios = {};
  for (const scenario of SCENARIOS) {
    const list = slices[scenario];
    const completed = list.reduce((a, s) => a + s.completed, 0);
    const cpuMs = list.reduce((a, s) => a + s.workerdCpuMs, 0);
    const non2xx = list.reduce((a, s) => a + s.non2xx, 0);
    const errors = list.reduce((a, s) => a + s.errors, 0);
    const statusCodes = {};
    for (const s of list) for (const [code, n] of Object.entries(s.statusCodes)) statusCodes[code] = (statusCodes[code] ?? 0) + n;
    const used = new Set(usedRounds.map((x) => x.round));
    scenarios[scenario] = {
      slices: allRounds.map((x) => x.slices[scenario]).map((s) => ({
        round: s.round,
        used: used.has(s.round),
        position: s.position,
        reqPerSec: round(s.reqPerSec, 1),
        completed: s.completed,
        p50Ms: round(s.latencyMs.p50, 2),
        p90Ms: round(s.latencyMs.p90, 2),
        p99Ms: round(s.latencyMs.p99, 2),
        maxMs: round(s.latencyMs.max, 2),
        non2xx: s.non2xx,
        statusCodes: s.statusCodes,
        errors: s.errors,
        timeouts: s.timeouts,
        workerdCpuUsPerRequest: round(s.workerdCpuUsPerRequest, 1),
        workerdCpuUtil: round(s.workerdCpuUtil, 3),
        loaderCpuUtil: round(s.loaderCpuUtil, 3),
        originCpuUtil: round(s.originCpuUtil, 3),
        hostCpuUtil: round(s.hostCpuUtil, 3),
        foreignCpuUtil: round(s.foreignCpuUtil, 3),
      })),
      median: {
        reqPerSec: round(median(list.map((s) => s.reqPerSec)), 1),
        p50Ms: round(median(list.map((s) => s.latencyMs.p50)), 2),
        p99Ms: round(median(list.map((s) => s.latencyMs.p99)), 2),
        workerdCpuUsPerRequest: round(median(list.map((s) => s.workerdCpuUsPerRequest)), 1),
        workerdCpuUtil: round(median(list.map((s) => s.workerdCpuUtil)), 3),
        loaderCpuUtil: round(median(list.map((s) => s.loaderCpuUtil)), 3),
        originCpuUtil: round(median(list.map((s) => s.originCpuUtil)), 3),
        hostCpuUtil: round(median(list.map((s) => s.hostCpuUtil)), 3),
        foreignCpuUtil: round(median(list.map((s) => s.foreignCpuUtil)), 3),
      },
      total: {
        completed,
        non2xx,
        errors,
        statusCodes,
        workerdCpuMs: round(cpuMs, 0),
        workerdCpuUsPerRequest: completed > 0 ? round((cpuMs * 1000) / completed, 1) : null,
      },
    };
  }

  const sum = (pick) => Object.values(counters.sites).reduce((a, site) => a + pick(site), 0);
  const gatewayRequests = counters.requests.total;
  const d1Statements = sum((s) => s.d1Prepare + s.d1Exec);
  const kvReads = sum((s) => s.kvGet + s.kvGetWithMetadata + s.kvList);
  const per1000 = (n) => (gatewayRequests > 0 ? (n * 1000) / gatewayRequests : null);
  const instrumentation = {
    note: "Counted by bench/instrumented-gateway.ts from the counter reset after the warm-up to the end of the last slice.",
    windowSeconds: round((Date.parse(counters.at) - Date.parse(counters.since)) / 1000, 1),
    gatewayRequests,
    gatewayRequestsByStatus: { ok2xx: counters.requests.ok2xx, other: counters.requests.other, ok2xxWithoutRateLimit: counters.requests.ok2xxWithoutRateLimit },
    d1Statements,
    d1Batches: sum((s) => s.d1Batch),
    kvReads,
    kvWrites: sum((s) => s.kvPut + s.kvDelete),
    d1StatementsPer1000: round(per1000(d1Statements), 3),
    kvReadsPer1000: round(per1000(kvReads), 3),
    keyLimiterFlushesCounted: counters.sites.keyLimiter.d1Batch > 0,
    sites: counters.sites,
    isolate: counters.isolate,
    requestLogLines: gatewayLogLines,
  };

  const ratio = median(ratios);
  const failures = [];
  if (!hotKey.countsExact) {
    failures.push(
      `hot key: D1 counted ${hotKey.inD1.requests} requests and ${hotKey.inD1.rejected} rejected, the gateway answered ${hotKey.answered.ok2xx} 2xx and ${hotKey.answered.status429} 429`,
    );
  }
  for (const scenario of SCENARIOS) {
    const list = allRounds.map((x) => x.slices[scenario]);
    const completed = list.reduce((a, s) => a + s.completed, 0);
    const bad = list.reduce((a, s) => a + s.non2xx + s.errors, 0);
    if (completed === 0 || list.some((s) => s.completed === 0)) failures.push(`${scenario}: a slice completed no request`);
    else if (bad / completed > MAX_BAD_SHARE) {
      const codes = {};
      for (const s of list) for (const [code, n] of Object.entries(s.statusCodes)) codes[code] = (codes[code] ?? 0) + n;
      failures.push(`${scenario}: ${bad} non-2xx answers or socket errors of ${completed} (status codes ${JSON.stringify(codes)})`);
    }
  }
  if (!instrumentation.keyLimiterFlushesCounted) {
    failures.push("instrumentation: no KeyLimiter D1 flush (alarm batch) was counted — the D1 figure would be wrong");
  }
  if (counters.requests.ok2xxWithoutRateLimit > MAX_BAD_SHARE * Math.max(1, counters.requests.ok2xx)) {
    failures.push(
      `gateway: ${counters.requests.ok2xxWithoutRateLimit} of ${counters.requests.ok2xx} 2xx answers had no RateLimit header — the KeyLimiter was skipped (fail-open), so this is not the full path`,
    );
  }
  if (gatewayRequests < allRounds.reduce((a, x) => a + x.slices.gateway.completed, 0)) {
    failures.push(`instrumentation: the gateway counted ${gatewayRequests} requests, fewer than autocannon's answers`);
  }

  const hotKeyRatio = median(usedRounds.map((x) => x.hotKeyRatio));
  const hotOverBinding = median(usedRounds.map((x) => x.slices.hotkey.reqPerSec / x.slices.binding.reqPerSec));
  const hotOverHrl = median(usedRounds.map((x) => x.slices.hotkey.reqPerSec / x.slices.hrl.reqPerSec));
  const coldRatio = median(usedRounds.map((x) => x.coldRatio));
  const coldOverNoLease = median(usedRounds.map((x) => x.coldOverNoLease));
  const notMeasured = (target) => ({ value: null, target, pass: false, note: "the distance model was left out (BENCH_LIMITER_RTT_MS=0)" });
  const targets = {
    ratio: { value: round(ratio, 3), target: `>= ${TARGETS.ratio}`, pass: ratio >= TARGETS.ratio },
    hotKeyRatio: { value: round(hotKeyRatio, 3), target: `>= ${TARGETS.hotKeyRatio}`, pass: hotKeyRatio >= TARGETS.hotKeyRatio },
    aboveBindingPeer: { value: round(hotOverBinding, 3), target: "> 1 (hot key req/s over the binding peer's, median of rounds)", pass: hotOverBinding > 1 },
    limiterCallsPer1000: { value: hotLeases.limiterCallsPer1000, target: `<= ${TARGETS.limiterCallsPer1000}`, pass: hotLeases.limiterCallsPer1000 !== null && hotLeases.limiterCallsPer1000 <= TARGETS.limiterCallsPer1000 },
    d1Exact: { value: hotLeases.d1Exact, target: "D1 = the hot key's 2xx and 429 answers", pass: hotLeases.d1Exact },
    distanceP50DeltaMs:
      CONFIG.limiterRttMs === 0
        ? notMeasured("<= 5 (run with BENCH_LIMITER_RTT_MS > 0; the default is 50)")
        : {
            value: round(distance.p50DeltaMs, 2),
            target: `<= 5 ms (hot key p50 − pass-through p50 at ${CONFIG.latencyRate} req/s offered evenly, every object call ${CONFIG.limiterRttMs} ms away; median of ${CONFIG.latencyPairs} slice pairs)`,
            pass: distance.p50DeltaMs <= 5,
            p99DeltaMs: round(distance.p99DeltaMs, 2),
            overHeadersP50DeltaMs: round(distance.overHeadersP50DeltaMs, 2),
            pairs: distance.pairs,
          },
    aboveDurableObjectPeer: { value: round(hotOverHrl, 3), target: "> 1 (hot key req/s over the hono-rate-limiter Durable Object peer's, median of rounds)", pass: hotOverHrl > 1 },
    coldKeysRatio: {
      value: round(coldRatio, 3),
      target: `no worse than before leases: >= ${TARGETS.coldOverNoLease} x the same gateway with LEASE_MS=0 on the same ${CONFIG.coldKeys} keys (median of rounds)`,
      pass: coldOverNoLease >= TARGETS.coldOverNoLease,
      overNoLeases: round(coldOverNoLease, 3),
      noLeasesRatio: round(median(usedRounds.map((x) => x.slices.coldnolease.reqPerSec / x.slices.passthrough.reqPerSec)), 3),
    },
    d1StatementsPer1000: {
      value: instrumentation.d1StatementsPer1000,
      target: `<= ${TARGETS.d1StatementsPer1000}`,
      pass: instrumentation.d1StatementsPer1000 !== null && instrumentation.d1StatementsPer1000 <= TARGETS.d1StatementsPer1000,
    },
    kvReadsPer1000: {
      value: instrumentation.kvReadsPer1000,
      target: `<= ${TARGETS.kvReadsPer1000}`,
      pass: instrumentation.kvReadsPer1000 !== null && instrumentation.kvReadsPer1000 <= TARGETS.kvReadsPer1000,
    },
  };

  const cpus = os.cpus();
  const results = {
    valid: failures.length === 0,
    failures,
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    machine: {
      cpus: cpus.length,
      cpuModel: cpus[0]?.model ?? null,
      memoryGiB: round(os.totalmem() / 2 ** 30, 1),
      kernel: `${os.type()} ${os.release()}`,
      node: process.version,
      workerd: workerdVersion,
      workerdPackage: versionOf(requireFromMiniflare.resolve("workerd/package.json")),
      miniflare: versionOf(miniflarePkg),
      wrangler: versionOf(wranglerPkg),
      autocannon: versionOf(requireFromRoot.resolve("autocannon/package.json")),
      pinning: hasTaskset ? { workerd: pinnedWorkerd ? 0 : null, loadGenerator: 1, host: pinnedHost ? 1 : null } : null,
      clockTicksPerSecond: CLK_TCK,
    },
    config: {
      ...CONFIG,
      bodyBytes: EVENT_BODY.length,
      compatibilityDate: wrangler.compatibility_date,
      migrations,
      projectId,
      keys: keys.map(({ id, type }) => ({ id, type })),
      originSetup:
        CONFIG.origin === "http"
          ? "bench/origin-http.mjs, a Node HTTP server on 127.0.0.1 (CPU 1), reached by every scenario with fetch(ORIGIN_URL)"
          : "bench/origin.js in the same workerd, bound as the ORIGIN service binding of every scenario",
      transport: "autocannon → workerd direct sockets (Miniflare unsafeDirectSockets), no wrangler dev proxy",
    },
    rounds: {
      run: allRounds.length,
      clean: cleanRounds.length,
      used: usedRounds.map((x) => x.round),
      noisyRun,
      noisyThresholdCores: NOISY_CORES,
      otherLoadBeforeRunCores: round(otherLoadBeforeRun, 3),
      all: allRounds.map((x) => ({ round: x.round, order: x.order, ratio: round(x.ratio, 3), otherLoadCores: round(x.otherLoad, 3), noisy: x.noisy })),
    },
    warmup: Object.fromEntries(SCENARIOS.map((s) => [s, { reqPerSec: round(warmup[s].reqPerSec, 1), non2xx: warmup[s].non2xx, errors: warmup[s].errors }])),
    scenarios,
    ratio: {
      gatewayOverPassthroughReqPerSec: round(ratio, 3),
      perRound: ratios.map((r) => round(r, 3)),
      fromRounds: usedRounds.map((x) => x.round),
      workerdCpuPerRequest: round(scenarios.gateway.total.workerdCpuUsPerRequest / scenarios.passthrough.total.workerdCpuUsPerRequest, 3),
      gatewayCpuOverheadUsPerRequest: round(scenarios.gateway.total.workerdCpuUsPerRequest - scenarios.passthrough.total.workerdCpuUsPerRequest, 1),
      bucketOverPassthroughReqPerSec: round(median(bucketRatios), 3),
      gatewayOverBucketReqPerSec: round(median(usedRounds.map((x) => x.slices.gateway.reqPerSec / x.slices.bucket.reqPerSec)), 3),
      contractOverPassthroughReqPerSec: round(median(usedRounds.map((x) => x.contractRatio)), 3),
      gatewayOverContractReqPerSec: round(median(usedRounds.map((x) => x.slices.gateway.reqPerSec / x.slices.contract.reqPerSec)), 3),
      contractCpuOverheadUsPerRequest: round(scenarios.contract.total.workerdCpuUsPerRequest - scenarios.bucket.total.workerdCpuUsPerRequest, 1),
      headersOverPassthroughReqPerSec: round(median(usedRounds.map((x) => x.slices.headers.reqPerSec / x.slices.passthrough.reqPerSec)), 3),
      hotKeyOverHeadersReqPerSec: round(median(usedRounds.map((x) => x.slices.hotkey.reqPerSec / x.slices.headers.reqPerSec)), 3),
      headersCpuOverheadUsPerRequest: round(scenarios.headers.total.workerdCpuUsPerRequest - scenarios.passthrough.total.workerdCpuUsPerRequest, 1),
      hotKeyCpuOverHeadersUsPerRequest: round(scenarios.hotkey.total.workerdCpuUsPerRequest - scenarios.headers.total.workerdCpuUsPerRequest, 1),
      ...(BASELINE_REF === null
        ? {}
        : {
            baseline: BASELINE_REF,
            gatewayOverBaselineReqPerSec: round(median(usedRounds.map((x) => x.overBaseline)), 3),
            gatewayOverBaselinePerRound: usedRounds.map((x) => round(x.overBaseline, 3)),
            gatewayOverBaselineCpuPerRequest: round(scenarios.gateway.total.workerdCpuUsPerRequest / scenarios.baseline.total.workerdCpuUsPerRequest, 3),
            coldKeysOverBaselineReqPerSec: round(median(usedRounds.map((x) => x.coldOverBaseline)), 3),
            coldKeysOverBaselinePerRound: usedRounds.map((x) => round(x.coldOverBaseline, 3)),
            coldKeysOverBaselineCpuPerRequest: round(scenarios.coldkeys.total.workerdCpuUsPerRequest / scenarios.coldbaseline.total.workerdCpuUsPerRequest, 3),
          }),
      bucketCpuOverheadUsPerRequest: round(scenarios.bucket.total.workerdCpuUsPerRequest - scenarios.passthrough.total.workerdCpuUsPerRequest, 1),
      hotKeyOverPassthroughReqPerSec: round(hotKeyRatio, 3),
      hotKeyPerRound: usedRounds.map((x) => round(x.hotKeyRatio, 3)),
      bindingPeerOverPassthroughReqPerSec: round(median(usedRounds.map((x) => x.bindingRatio)), 3),
      hotKeyOverBindingPeerReqPerSec: round(hotOverBinding, 3),
      hrlPeerOverPassthroughReqPerSec: round(median(usedRounds.map((x) => x.hrlRatio)), 3),
      hotKeyOverHrlPeerReqPerSec: round(hotOverHrl, 3),
    },
    instrumentation,
    hotKey,
    hotKeyLeases: hotLeases,
    targets,
    workerdErrorLogs: logStats.errors,
  };

  mkdirSync(RESULTS_DIR, { recursive: true });
  const out = path.join(RESULTS_DIR, "latest.json");
  writeFileSync(out, JSON.stringify(results, null, 2) + "\n");
  printTable(results);
  log(`\nbench: wrote ${path.relative(ROOT, out)}`);
  if (failures.length > 0) {
    for (const failure of failures) process.stderr.write(`bench: INVALID RUN: ${failure}\n`);
    if (logStats.errors.length > 0) process.stderr.write(`bench: workerd error logs:\n  ${logStats.errors.join("\n  ")}\n`);
    process.exitCode = 1;
  }
}

function printTable(r) {
  const pad = (s, n) => String(s).padStart(n);
  const padEnd = (s, n) => String(s).padEnd(n);
  const p = r.scenarios.passthrough;
  const g = r.scenarios.gateway;
  const b = r.scenarios.bucket;
  const mark = (t) => (t.pass ? "PASS" : "MISS");
  log("");
  const rounds = r.rounds.noisyRun
    ? `all ${r.rounds.run} rounds (only ${r.rounds.clean} clean)`
    : `${r.rounds.used.length} ${r.rounds.run > r.rounds.used.length ? `clean rounds of ${r.rounds.run}` : "rounds"}`;
  if (!r.valid) log(`INVALID RUN — ${r.failures.join("; ")}`);
  log(`Composite gateway benchmark — ${rounds} × ${r.config.sliceSeconds} s per scenario, ${r.config.connections} connections, ${r.config.route}, origin over ${r.config.origin === "http" ? "HTTP (ORIGIN_URL)" : "the ORIGIN service binding"}, workerd ${r.machine.workerd}, ${r.machine.cpus} CPUs`);
  log("");
  log(`${padEnd("scenario", 12)}${pad("req/s (median)", 16)}${pad("p50 ms", 9)}${pad("p99 ms", 9)}${pad("CPU µs/req", 12)}${pad("non-2xx", 9)}${pad("requests", 10)}`);
  const c = r.scenarios.contract;
  const rows = [["passthrough", p], ["bucket", b], ["contract", c], ["headers", r.scenarios.headers], ["gateway", g], ["hotkey", r.scenarios.hotkey], ["binding", r.scenarios.binding], ["hrl", r.scenarios.hrl], ["coldkeys", r.scenarios.coldkeys], ["coldnolease", r.scenarios.coldnolease], ...(r.scenarios.baseline ? [["baseline", r.scenarios.baseline], ["coldbaseline", r.scenarios.coldbaseline]] : [])];
  for (const [name, s] of rows) {
    log(
      `${padEnd(name, 12)}${pad(s.median.reqPerSec.toFixed(0), 16)}${pad(s.median.p50Ms.toFixed(1), 9)}${pad(s.median.p99Ms.toFixed(1), 9)}` +
        `${pad(s.total.workerdCpuUsPerRequest.toFixed(0), 12)}${pad(s.total.non2xx + s.total.errors, 9)}${pad(s.total.completed, 10)}`,
    );
  }
  log("");
  const t = r.targets;
  log(`${padEnd("gateway / passthrough req/s (median of rounds)", 50)}${pad(t.ratio.value.toFixed(2), 8)}   target ${padEnd(t.ratio.target, 7)} ${mark(t.ratio)}`);
  log(`${padEnd("hot key (one key, all connections) / passthrough", 50)}${pad(t.hotKeyRatio.value.toFixed(2), 8)}   target ${padEnd(t.hotKeyRatio.target, 7)} ${mark(t.hotKeyRatio)}`);
  log(`${padEnd("hot key / Rate Limiting binding peer", 50)}${pad(t.aboveBindingPeer.value.toFixed(2), 8)}   target > 1    ${mark(t.aboveBindingPeer)}`);
  log(`${padEnd("hot key / hono-rate-limiter Durable Object peer", 50)}${pad(t.aboveDurableObjectPeer.value.toFixed(2), 8)}   target > 1    ${mark(t.aboveDurableObjectPeer)}`);
  log(
    `${padEnd(`cold keys (${r.config.coldKeys} in rotation) / passthrough`, 50)}${pad(t.coldKeysRatio.value.toFixed(2), 8)}   ` +
      `${padEnd(`${t.coldKeysRatio.overNoLeases.toFixed(2)} x no leases`, 15)}${mark(t.coldKeysRatio)}  (without leases: ${t.coldKeysRatio.noLeasesRatio.toFixed(2)}; target >= ${TARGETS.coldOverNoLease} x)`,
  );
  const bySecond = r.hotKeyLeases.bySliceSecond;
  log(
    `${padEnd("hot key: its KeyLimiter's calls per 1,000 requests", 50)}${pad(t.limiterCallsPer1000.value?.toFixed(2) ?? "-", 8)}   target ${padEnd(t.limiterCallsPer1000.target, 7)} ${mark(t.limiterCallsPer1000)}` +
      `  (slices' first second ${bySecond.first.per1000?.toFixed(1) ?? "-"}, after it ${bySecond.after.per1000?.toFixed(1) ?? "-"})`,
  );
  if (t.distanceP50DeltaMs.value !== null) {
    const d = t.distanceP50DeltaMs;
    log(
      `${padEnd(`hot key p50 − pass-through p50, objects ${r.config.limiterRttMs} ms away`, 50)}${pad(d.value.toFixed(1), 8)}   target <= 5   ${mark(d)}  ` +
        `(at ${r.config.latencyRate} req/s; p99 ${d.p99DeltaMs.toFixed(1)} ms; p50 over the headers reference ${d.overHeadersP50DeltaMs.toFixed(1)} ms)`,
    );
  }
  log(`${padEnd("hot key: D1 count = 2xx answers", 50)}${pad(String(t.d1Exact.value), 8)}   ${"".padEnd(15)}${mark(t.d1Exact)}  (D1 ${r.hotKeyLeases.inD1.requests} requests / ${r.hotKeyLeases.inD1.rejected} rejected; answered ${r.hotKeyLeases.answered2xx} 2xx / ${r.hotKeyLeases.answered429} 429)`);
  log(`${padEnd("D1 statements per 1,000 gateway requests", 50)}${pad(t.d1StatementsPer1000.value.toFixed(2), 8)}   target ${padEnd(t.d1StatementsPer1000.target, 7)} ${mark(t.d1StatementsPer1000)}`);
  log(`${padEnd("KV reads per 1,000 gateway requests", 50)}${pad(t.kvReadsPer1000.value.toFixed(2), 8)}   target ${padEnd(t.kvReadsPer1000.target, 7)} ${mark(t.kvReadsPer1000)}`);
  log(
    `${padEnd("workerd CPU per request, gateway / passthrough", 50)}${pad(r.ratio.workerdCpuPerRequest.toFixed(2), 8)}   (+${r.ratio.gatewayCpuOverheadUsPerRequest.toFixed(0)} µs per request)`,
  );
  log(`per-round ratios: ${r.ratio.perRound.map((x) => x.toFixed(2)).join(" ")}`);
  log(
    `reference: a minimal per-key token-bucket object (one RPC per request, nothing else) reaches ${r.ratio.bucketOverPassthroughReqPerSec.toFixed(2)} of the pass-through` +
      ` (+${r.ratio.bucketCpuOverheadUsPerRequest.toFixed(0)} µs per request); the gateway reaches ${r.ratio.gatewayOverBucketReqPerSec.toFixed(2)} of that`,
  );
  log(
    `contract: that bucket also sending the headers API.md requires (identity, rate limits, X-Request-Id; constant values) reaches ${r.ratio.contractOverPassthroughReqPerSec.toFixed(2)} of the pass-through` +
      ` (+${r.ratio.contractCpuOverheadUsPerRequest.toFixed(0)} µs per request over the bucket); the gateway reaches ${r.ratio.gatewayOverContractReqPerSec.toFixed(2)} of that`,
  );
  log(
    `headers: the pass-through sending those headers with no object call, as a key admitted from a lease does, reaches ${r.ratio.headersOverPassthroughReqPerSec.toFixed(2)} of the pass-through` +
      ` (+${r.ratio.headersCpuOverheadUsPerRequest.toFixed(0)} µs per request): the hot key's ceiling; the hot key reaches ${r.ratio.hotKeyOverHeadersReqPerSec.toFixed(2)} of it (+${r.ratio.hotKeyCpuOverHeadersUsPerRequest.toFixed(0)} µs per request)`,
  );
  if (r.ratio.baseline !== undefined) {
    log(
      `against the gateway at ${r.ratio.baseline} (same run, same slices): req/s ${r.ratio.gatewayOverBaselineReqPerSec.toFixed(3)} (rounds ${r.ratio.gatewayOverBaselinePerRound.map((x) => x.toFixed(2)).join(" ")}),` +
        ` CPU per request ${r.ratio.gatewayOverBaselineCpuPerRequest.toFixed(3)}`,
    );
    log(
      `cold keys against the gateway at ${r.ratio.baseline} on the same keys: req/s ${r.ratio.coldKeysOverBaselineReqPerSec.toFixed(3)} (rounds ${r.ratio.coldKeysOverBaselinePerRound.map((x) => x.toFixed(2)).join(" ")}),` +
        ` CPU per request ${r.ratio.coldKeysOverBaselineCpuPerRequest.toFixed(3)}`,
    );
  }
  const i = r.instrumentation;
  log(
    `counted over ${i.windowSeconds} s: ${i.gatewayRequests} gateway requests, ${i.d1Statements} D1 statements in ${i.d1Batches} batches` +
      ` (KeyLimiter alarm flushes ${i.keyLimiterFlushesCounted ? "seen" : "NOT seen"}), ${i.kvReads} KV reads, ${i.kvWrites} KV writes`,
  );
  const h = r.hotKey;
  const refused = h.statusCodes["429"] ?? 0;
  log(
    `hot key (one public key, 100/s, burst 1,000, all connections): ${Math.round(h.reqPerSec)} req/s, ${Math.round(h.admittedPerSecond)} admitted/s, ` +
      `${Math.round((refused / Math.max(1, h.completed)) * 100)} % 429; its KeyLimiter got ${h.limiterCallsPer1000} calls per 1,000 requests ` +
      `(${h.limiterCalls.admit} admits, ${h.limiterCalls.recordRefused} reports of ${h.limiterCalls.refusedReported} refusals made by the isolate); ` +
      `D1 counts ${h.countsExact ? "exact" : "WRONG"}: ${h.inD1.requests} requests, ${h.inD1.rejected} rejected`,
  );
  const pct = (x) => `${Math.round(x * 100)} %`;
  const util = (s) => `workerd ${pct(s.median.workerdCpuUtil)}, load generator ${pct(s.median.loaderCpuUtil)}, ${r.config.origin === "http" ? `HTTP origin ${pct(s.median.originCpuUtil)}, ` : ""}host ${pct(s.median.hostCpuUtil)}, other processes ${pct(s.median.foreignCpuUtil)}`;
  log(`CPU busy (median of slices, 100 % = one core): passthrough: ${util(p)}; bucket: ${util(b)}; contract: ${util(c)}; gateway: ${util(g)}`);
  if (r.rounds.noisyRun) {
    log(`WARNING: other processes used more than ${pct(r.rounds.noisyThresholdCores)} of a core during ${r.rounds.run - r.rounds.clean} of ${r.rounds.run} rounds; the figures above include those rounds and are less trustworthy — rerun on a quieter machine`);
  } else if (r.rounds.run > r.rounds.clean) {
    log(`${r.rounds.run - r.rounds.clean} noisy round(s) (other processes > ${pct(r.rounds.noisyThresholdCores)} of a core) were left out and replaced`);
  }
}

// ---------------------------------------------------------------------------------------------

const state = { mf: null, loader: null, origin: null };
let cleaning = null;
function cleanup() {
  cleaning ??= (async () => {
    if (state.loader) await state.loader.stop().catch(() => {});
    if (state.mf) await state.mf.dispose().catch(() => {});
    if (state.origin) await stopChild(state.origin).catch(() => {});
  })();
  return cleaning;
}
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, () => {
    process.stderr.write(`bench: ${signal}, stopping\n`);
    void cleanup().finally(() => process.exit(130));
  });
}

try {
  await main();
} catch (error) {
  process.stderr.write(`bench: FAILED: ${error?.stack ?? error}\n`);
  if (logStats.errors.length > 0) process.stderr.write(`bench: workerd error logs:\n  ${logStats.errors.join("\n  ")}\n`);
  process.exitCode = 1;
} finally {
  await cleanup();
}
