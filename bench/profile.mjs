// CPU profiles of workerd isolates through its inspector (Chrome DevTools Protocol), for
// `BENCH_PROFILE=1 npm run bench`: where a scenario's CPU goes, by function, under load.
//
// workerd lists one inspector target per Worker at http://127.0.0.1:<port>/json; each profile is
// V8's sampling profiler (Profiler.start / Profiler.stop) over one slice of load.

import { writeFileSync } from "node:fs";

/** Connects to one Worker's inspector; resolves to a small CDP client. */
export async function connectInspector(port, workerName) {
  const targets = await (await fetch(`http://127.0.0.1:${port}/json`)).json();
  // Miniflare names a user Worker's service `core:user:<name>`.
  const target = targets.find((t) => t.title?.endsWith(`core:user:${workerName}`));
  if (target === undefined) throw new Error(`no inspector target for ${workerName} (have: ${targets.map((t) => t.title).join(", ")})`);
  const socket = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => {
    socket.addEventListener("open", resolve, { once: true });
    socket.addEventListener("error", () => reject(new Error(`inspector of ${workerName}: connection failed`)), { once: true });
  });
  let nextId = 1;
  const pending = new Map();
  socket.addEventListener("message", (event) => {
    const message = JSON.parse(String(event.data));
    const entry = pending.get(message.id);
    if (entry === undefined) return;
    pending.delete(message.id);
    if (message.error) entry.reject(new Error(`${message.error.message}`));
    else entry.resolve(message.result);
  });
  return {
    send(method, params = {}) {
      const id = nextId++;
      socket.send(JSON.stringify({ id, method, params }));
      return new Promise((resolve, reject) => pending.set(id, { resolve, reject }));
    },
    close() {
      socket.close();
    },
  };
}

/** Runs `work` with the sampling profiler on; returns the V8 CPU profile. */
export async function profileDuring(client, work, samplingIntervalUs = 100) {
  await client.send("Profiler.enable");
  await client.send("Profiler.setSamplingInterval", { interval: samplingIntervalUs });
  await client.send("Profiler.start");
  const result = await work();
  const { profile } = await client.send("Profiler.stop");
  await client.send("Profiler.disable");
  return { profile, result };
}

/**
 * Self time per function (name, file:line), largest first, as shares of all samples; idle and
 * program/GC samples are listed under their own names.
 */
export function selfTimeByFunction(profile) {
  const byNode = new Map(profile.nodes.map((node) => [node.id, node]));
  const counts = new Map();
  for (const id of profile.samples) counts.set(id, (counts.get(id) ?? 0) + 1);
  const byFunction = new Map();
  for (const [id, samples] of counts) {
    const { callFrame } = byNode.get(id);
    const file = callFrame.url ? callFrame.url.split("/").pop() : "";
    const name = `${callFrame.functionName || "(anonymous)"}${file ? ` ${file}:${callFrame.lineNumber + 1}` : ""}`;
    byFunction.set(name, (byFunction.get(name) ?? 0) + samples);
  }
  const total = profile.samples.length;
  return [...byFunction.entries()]
    .map(([name, samples]) => ({ name, samples, share: samples / total }))
    .sort((a, b) => b.samples - a.samples);
}

/**
 * The gateway's hot path (src/gateway.ts, top to bottom) as stages, by the functions that do
 * each; esbuild may suffix a name with a digit (requestContext2), which is ignored.
 */
export const GATEWAY_STAGES = [
  ["request id, log line", ["requestContext", "logRequest", "newRequestId"]],
  ["path safety", ["requireUnambiguousPath", "pathProblem"]],
  ["credentials, key elsewhere", ["readApiKey", "refuseKeyElsewhere", "guardSecretKey", "browserAccess"]],
  ["route, key cache, rest of identify", ["identifyCaller", "matchRoute", "cachedKey", "requireHttps"]],
  ["body", ["bodyToForward", "checkDeclaredLength"]],
  ["deadline timer", ["startDeadline", "within"]],
  ["admission (lease or object call)", ["admitCaller", "admitKey"]],
  ["origin headers (filter)", ["originHeaders"]],
  ["identity headers + signature", ["addIdentity", "sign", "signedPayload", "hmacSha256Hex"]],
  ["forward: fetch and its wrapping", ["forwardToOrigin", "originTarget"]],
  ["answer: re-wrap", ["toClientResponse"]],
  ["rate-limit headers", ["setRateLimitHeaders", "rateLimitHeaders"]],
  ["handler, rest", ["handleGatewayRequest"]],
];

/**
 * Non-idle samples per stage: each sample goes to the innermost frame of its stack that belongs
 * to a stage, so the stages partition the samples; what no stage holds (Hono's dispatch, the
 * runtime's own work between requests, GC) is the last row. An async function's code after an
 * await runs on a stack of its own with the function on it, so it is still that function's.
 */
export function timeByStage(profile, stages = GATEWAY_STAGES) {
  const stageOfFunction = new Map();
  for (const [stage, functions] of stages) for (const name of functions) stageOfFunction.set(name, stage);
  const byNode = new Map(profile.nodes.map((node) => [node.id, node]));
  const parentOf = new Map();
  for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id);
  const stageOfNode = new Map();
  const stageOf = (id) => {
    if (stageOfNode.has(id)) return stageOfNode.get(id);
    const name = byNode.get(id).callFrame.functionName.replace(/\d+$/, "");
    const parent = parentOf.get(id);
    const stage = stageOfFunction.get(name) ?? (parent === undefined ? null : stageOf(parent));
    stageOfNode.set(id, stage);
    return stage;
  };
  const counts = new Map([...stages.map(([stage]) => [stage, 0]), ["no stage (framework, runtime, GC)", 0]]);
  let busy = 0;
  for (const id of profile.samples) {
    if (byNode.get(id).callFrame.functionName === "(idle)") continue;
    busy++;
    const stage = stageOf(id) ?? "no stage (framework, runtime, GC)";
    counts.set(stage, counts.get(stage) + 1);
  }
  return [...counts.entries()].map(([stage, samples]) => ({ stage, samples, share: busy === 0 ? 0 : samples / busy }));
}

/** Writes the profile (open it in Chrome DevTools → Performance) and prints the top entries. */
export function reportProfile(profile, file, log, top = 30) {
  writeFileSync(file, JSON.stringify(profile));
  const rows = selfTimeByFunction(profile);
  const busy = rows.filter((r) => r.name !== "(idle)").reduce((a, r) => a + r.samples, 0);
  log(`  ${profile.samples.length} samples, ${busy} not idle; self time, share of non-idle samples:`);
  for (const row of rows.filter((r) => r.name !== "(idle)").slice(0, top)) {
    log(`  ${((row.samples / busy) * 100).toFixed(1).padStart(5)} %  ${row.name}`);
  }
  const stages = timeByStage(profile);
  if (stages.some((row) => row.stage !== "no stage (framework, runtime, GC)" && row.samples > 0)) {
    log("  the gateway's hot path by stage (src/gateway.ts), share of non-idle samples:");
    for (const row of stages) log(`  ${(row.share * 100).toFixed(1).padStart(5)} %  ${row.stage}`);
  }
  log(`  written to ${file}`);
}

/**
 * From `callgrind_annotate --inclusive=yes` output: the instructions under V8's background
 * compilers (TurboFan's and Maglev's job entry points), summed. Each entry point is listed once
 * with its inclusive count; recursion marks ('2) are other lines and are not matched.
 */
export function compilerInstructions(report) {
  let total = 0;
  for (const line of report.split("\n")) {
    if (!/:v8::internal::(OptimizingCompileTaskExecutor::CompileTask|maglev::MaglevConcurrentDispatcher::JobTask)::Run\(v8::JobDelegate\*\) /.test(line)) continue;
    total += Number(/^\s*([\d,]+) /.exec(line)?.[1].replaceAll(",", "") ?? 0);
  }
  return total;
}

/**
 * The stacks of `perf script -F ip,sym` output, one per sample, innermost frame first; each frame
 * is its symbol (`JS:*'identifyCaller gateway.js:…` for a JavaScript function when workerd runs
 * with V8's `--perf-basic-prof`, a C++ or Rust name otherwise, `[unknown]` where unwinding failed).
 */
export function perfStacks(text) {
  const stacks = [];
  let frames = [];
  for (const line of text.split("\n")) {
    const trimmed = line.trim();
    if (trimmed === "") {
      if (frames.length > 0) stacks.push(frames);
      frames = [];
      continue;
    }
    const space = trimmed.indexOf(" ");
    frames.push(space === -1 ? "" : trimmed.slice(space + 1));
  }
  if (frames.length > 0) stacks.push(frames);
  return stacks;
}

/**
 * What runs outside the gateway's JavaScript, by the first marker found anywhere on the stack,
 * in this order. A sample with no stage frame and no marker is "runtime: other".
 */
export const RUNTIME_BUCKETS = [
  // workerd writes each console.log line to its stdout, a Unix socket to the Node process that started it.
  ["request id, log line", /unix_stream_sendmsg/],
  ["runtime: garbage collection", /Heap::CollectGarbage|MinorGCJob|Scavenger|MarkCompact|ConcurrentMarking|IncrementalMarking|cppgc::internal|ArrayBufferSweeper|HeapTracer/],
  ["runtime: V8's compilers", /OptimizingCompileTaskExecutor|MaglevConcurrentDispatcher|compiler::Pipeline|maglev::/],
  // Not tokio:: (workerd runs every task inside its block_on) nor a type such as kj::HttpHeaders,
  // which C++ frames name among their parameters: each is on nearly every stack.
  ["runtime: HTTP of both connections (hyper, sockets)", /kj_hyper::|hyper::|hyper_util::|http::header|mio::net|tcp_sendmsg|tcp_recvmsg|tcp_v4_rcv/],
  ["runtime: fetch() and its response", /fetchImpl|handleHttpFetchResponse/],
  ["runtime: request dispatch and teardown", /WorkerEntrypoint|ServiceWorkerGlobalScope::request|IoContext_IncomingRequest|IoContext::~IoContext/],
];
const RUNTIME_OTHER = "runtime: other";

/** The function a `perf-basic-prof` JavaScript frame names, without esbuild's digit suffix; null for other frames. */
export function jsFunctionOf(frame) {
  const match = /^JS:[*+^~]?'?([^\s]*)/.exec(frame);
  return match === null ? null : match[1].replace(/\d+$/, "");
}

/**
 * Samples per stage from perf's stacks: a sample goes to the innermost JavaScript frame that
 * belongs to a stage (so C++ the gateway's code calls into, a Headers copy say, is that stage's),
 * else to the first runtime bucket whose marker is on its stack. Unlike V8's profiler this sees
 * the runtime's own work — HTTP, the subrequest, headers crossing into C++ and Rust, GC.
 */
export function perfTimeByStage(stacks, stages = GATEWAY_STAGES, buckets = RUNTIME_BUCKETS) {
  const stageOfFunction = new Map();
  for (const [stage, functions] of stages) for (const name of functions) stageOfFunction.set(name, stage);
  const counts = new Map([...stages.map(([stage]) => [stage, 0]), ...buckets.map(([bucket]) => [bucket, 0]), [RUNTIME_OTHER, 0]]);
  for (const frames of stacks) {
    let stage;
    for (const frame of frames) {
      const fn = jsFunctionOf(frame);
      stage = fn === null ? undefined : stageOfFunction.get(fn);
      if (stage !== undefined) break;
    }
    if (stage === undefined) {
      const joined = frames.join("\n");
      stage = buckets.find(([, marker]) => marker.test(joined))?.[0] ?? RUNTIME_OTHER;
    }
    counts.set(stage, counts.get(stage) + 1);
  }
  return [...counts.entries()].map(([stage, samples]) => ({ stage, samples }));
}

/**
 * Scenarios' stage rows as one table in µs per request (samples × the sampling period ÷ answers):
 * every stage some scenario spent time in, by its largest figure first, and a total line.
 */
export function perfStageTable(byScenario, periodUs) {
  const scenarios = Object.keys(byScenario);
  const perRequest = (scenario, samples) => (samples * periodUs) / byScenario[scenario].requests;
  const stages = byScenario[scenarios[scenarios.length - 1]].rows.map((row) => row.stage);
  const value = (scenario, stage) => perRequest(scenario, byScenario[scenario].rows.find((row) => row.stage === stage)?.samples ?? 0);
  const largest = (stage) => Math.max(...scenarios.map((scenario) => value(scenario, stage)));
  const ordered = stages.filter((stage) => largest(stage) > 0).sort((a, b) => largest(b) - largest(a));
  const rows = ordered.map((stage) => ({ stage, us: Object.fromEntries(scenarios.map((scenario) => [scenario, value(scenario, stage)])) }));
  const total = Object.fromEntries(scenarios.map((scenario) => [scenario, perRequest(scenario, byScenario[scenario].rows.reduce((sum, row) => sum + row.samples, 0))]));
  return { scenarios, rows, total };
}

/**
 * Stages for perf's view of every scenario: Hono's own dispatch, the gateway's stages, and the
 * reference Workers' code (bench/bare-forward.ts and contract-bucket.ts's amendments, whose
 * identity and rate-limit headers go through the gateway's own functions, so those rows compare).
 */
export const PERF_STAGES = [
  ["Hono: router, middleware chain", ["dispatch", "match", "search", "#pushHandlerSets", "getPath", "header"]],
  ...GATEWAY_STAGES,
  ["reference: bare forward (bench/bare-forward.ts)", ["forwardBare"]],
  ["reference: constant contract headers (bench/contract-bucket.ts)", ["amendments", "request", "response"]],
];
