// The pure part of the benchmark's profiling (bench/profile.mjs): self time by function from a
// V8 CPU profile, as `BENCH_PROFILE=v8 npm run bench` prints it.
import { describe, expect, it } from "vitest";
import { compilerInstructions, jsFunctionOf, PERF_STAGES, perfStacks, perfStageTable, perfTimeByStage, selfTimeByFunction, timeByStage } from "../bench/profile.mjs";

const frame = (functionName, url = "", lineNumber = 0) => ({ functionName, url, lineNumber, columnNumber: 0, scriptId: "1" });

describe("selfTimeByFunction", () => {
  it("counts samples per function (name, file:line), merges nodes of one function, largest first", () => {
    const profile = {
      nodes: [
        { id: 1, callFrame: frame("(root)"), children: [2, 3, 5] },
        { id: 2, callFrame: frame("handleGatewayRequest", "file:///x/gateway.js", 3114), children: [4] },
        { id: 3, callFrame: frame("(idle)") },
        // The same function reached by two paths is one row.
        { id: 4, callFrame: frame("logRequest", "file:///x/gateway.js", 3282) },
        { id: 5, callFrame: frame("logRequest", "file:///x/gateway.js", 3282) },
      ],
      samples: [2, 4, 4, 5, 3, 3, 3, 2, 4],
      startTime: 0,
      endTime: 9,
      timeDeltas: [],
    };
    expect(selfTimeByFunction(profile)).toEqual([
      { name: "logRequest gateway.js:3283", samples: 4, share: 4 / 9 },
      { name: "(idle)", samples: 3, share: 3 / 9 },
      { name: "handleGatewayRequest gateway.js:3115", samples: 2, share: 2 / 9 },
    ]);
  });

  it("names anonymous functions and native frames without a file", () => {
    const profile = {
      nodes: [
        { id: 1, callFrame: frame("(root)"), children: [2, 3] },
        { id: 2, callFrame: frame("", "file:///x/gateway.js", 10) },
        { id: 3, callFrame: frame("(garbage collector)") },
      ],
      samples: [2, 3, 3],
    };
    expect(selfTimeByFunction(profile).map((row) => row.name)).toEqual(["(garbage collector)", "(anonymous) gateway.js:11"]);
  });
});

describe("compilerInstructions", () => {
  const line = (count, fn) => `${count} ( 1.00%)  ???:${fn} [/x/workerd]`;
  it("sums the inclusive counts of TurboFan's and Maglev's background jobs, nothing else", () => {
    const report = [
      line("1,716,141,155", "PROGRAM TOTALS"),
      line("  230,240,769", "v8::internal::OptimizingCompileTaskExecutor::CompileTask::Run(v8::JobDelegate*)"),
      line("      402,901", "v8::internal::maglev::MaglevConcurrentDispatcher::JobTask::Run(v8::JobDelegate*)"),
      // Callers of the compile job and a recursion mark are other lines: not counted twice.
      line("  266,186,812", "workerd::jsg::V8PlatformWrapper::JobTaskWrapper::Run(v8::JobDelegate*)"),
      line("        1,000", "v8::internal::OptimizingCompileTaskExecutor::CompileTask::Run(v8::JobDelegate*)'2"),
      line("      150,124", "v8::internal::MinorGCJob::Task::RunInternal()"),
    ].join("\n");
    expect(compilerInstructions(report)).toBe(230_240_769 + 402_901);
  });

  it("is 0 when no compiler job ran in the slice", () => {
    expect(compilerInstructions(line("12,345", "PROGRAM TOTALS"))).toBe(0);
  });
});

describe("timeByStage", () => {
  it("gives each non-idle sample to the innermost stage on its stack; the stages and the rest partition the samples", () => {
    const profile = {
      nodes: [
        { id: 1, callFrame: frame("(root)"), children: [2, 6, 7, 8] },
        { id: 2, callFrame: frame("handleGatewayRequest", "file:///x/gateway.js", 1), children: [3] },
        { id: 3, callFrame: frame("forwardToOrigin", "file:///x/gateway.js", 2), children: [4, 5] },
        // The signature inside forwarding is its own stage, not forwarding's.
        { id: 4, callFrame: frame("addIdentity", "file:///x/gateway.js", 3), children: [9] },
        { id: 5, callFrame: frame("fetch") },
        // esbuild's digit suffix is ignored.
        { id: 6, callFrame: frame("requestContext2", "file:///x/gateway.js", 4) },
        { id: 7, callFrame: frame("(garbage collector)") },
        { id: 8, callFrame: frame("(idle)") },
        { id: 9, callFrame: frame("digest") },
      ],
      samples: [2, 3, 4, 9, 5, 5, 6, 7, 8, 8],
    };
    const rows = Object.fromEntries(timeByStage(profile).map((row) => [row.stage, row.samples]));
    expect(rows["handler, rest"]).toBe(1);
    expect(rows["identity headers + signature"]).toBe(2);
    expect(rows["forward: fetch and its wrapping"]).toBe(3);
    expect(rows["request id, log line"]).toBe(1);
    expect(rows["no stage (framework, runtime, GC)"]).toBe(1);
    expect(Object.values(rows).reduce((a, b) => a + b, 0)).toBe(8);
  });
});

// What `perf script -F ip,sym` prints: one block per sample, innermost frame first, blank line between.
const PERF_SCRIPT = [
  // The HMAC under addIdentity under forwardToOrigin: the signature's stage, C++ frames included.
  "\t    4b40000 workerd::api::SubtleCrypto::sign",
  "\t    561ae0f4 JS:*'hmacSha256Hex bench/.build/gateway.js:24229:29",
  "\t    561ae0f5 JS:+'addIdentity bench/.build/gateway.js:29202:27",
  "\t    561ae0f6 JS:*'forwardToOrigin bench/.build/gateway.js:29275:31",
  "",
  // A Headers copy the filter asks for, and esbuild's digit suffix on a function name.
  "\t    3f00000 workerd::api::Headers::Headers",
  "\t    561ae0f7 JS:^originHeaders2 bench/.build/gateway.js:29234:23",
  "",
  // Hono's dispatch inside the request-context middleware is Hono's, not the log line's.
  "\t    561ae0f8 JS:*dispatch bench/.build/gateway.js:1046:28",
  "\t    561ae0f9 JS:*'requestContext2 bench/.build/gateway.js:22293:52",
  "",
  // The log line's write to workerd's stdout has no JavaScript frame left on it.
  "\tffffffff8211f864 unix_stream_sendmsg",
  "\t           f838f __GI___libc_write",
  "\t3937313a22706d61 [unknown]",
  "",
  "\t    50c0000 v8::internal::Scavenger::ScavengePage",
  "\t    4c00000 v8::internal::MinorGCJob::Task::RunInternal",
  "",
  "\t    6900000 <kj_hyper::body::Head>::append",
  "\t    6900001 [unknown]",
  "",
  "\t    6a00000 kj::_::waitImpl",
  "",
].join("\n");

describe("perf's stacks by stage", () => {
  it("reads perf script's blocks as stacks, innermost frame first", () => {
    const stacks = perfStacks(PERF_SCRIPT);
    expect(stacks).toHaveLength(7);
    expect(stacks[0]).toEqual([
      "workerd::api::SubtleCrypto::sign",
      "JS:*'hmacSha256Hex bench/.build/gateway.js:24229:29",
      "JS:+'addIdentity bench/.build/gateway.js:29202:27",
      "JS:*'forwardToOrigin bench/.build/gateway.js:29275:31",
    ]);
  });

  it("names JavaScript frames of every tier, and nothing else", () => {
    expect(jsFunctionOf("JS:*'identifyCaller bench/.build/gateway.js:1:1")).toBe("identifyCaller");
    expect(jsFunctionOf("JS:+fetch bench/.build/gateway.js:1434:11")).toBe("fetch");
    expect(jsFunctionOf("JS:~requestContext2 gateway.js:3:3")).toBe("requestContext");
    expect(jsFunctionOf("workerd::api::Headers::Headers")).toBeNull();
    expect(jsFunctionOf("Builtins_RunMicrotasks")).toBeNull();
  });

  it("gives a sample to the innermost stage frame, else to the runtime's first bucket on its stack", () => {
    const rows = Object.fromEntries(perfTimeByStage(perfStacks(PERF_SCRIPT), PERF_STAGES).map((row) => [row.stage, row.samples]));
    expect(rows["identity headers + signature"]).toBe(1);
    expect(rows["origin headers (filter)"]).toBe(1);
    expect(rows["Hono: router, middleware chain"]).toBe(1);
    expect(rows["request id, log line"]).toBe(1);
    expect(rows["runtime: garbage collection"]).toBe(1);
    expect(rows["runtime: HTTP of both connections (hyper, sockets)"]).toBe(1);
    expect(rows["runtime: other"]).toBe(1);
    expect(rows["forward: fetch and its wrapping"]).toBe(0);
    expect(Object.values(rows).reduce((a, b) => a + b, 0)).toBe(7);
  });

  it("tabulates µs per answer: samples × the period ÷ answers, largest first, stages no scenario has left out", () => {
    const byScenario = {
      passthrough: { requests: 4, rows: [{ stage: "a", samples: 4 }, { stage: "b", samples: 0 }, { stage: "c", samples: 8 }] },
      gateway: { requests: 2, rows: [{ stage: "a", samples: 6 }, { stage: "b", samples: 0 }, { stage: "c", samples: 2 }] },
    };
    const table = perfStageTable(byScenario, 250);
    expect(table.scenarios).toEqual(["passthrough", "gateway"]);
    expect(table.rows).toEqual([
      { stage: "a", us: { passthrough: 250, gateway: 750 } },
      { stage: "c", us: { passthrough: 500, gateway: 250 } },
    ]);
    expect(table.total).toEqual({ passthrough: 750, gateway: 1000 });
  });
});
