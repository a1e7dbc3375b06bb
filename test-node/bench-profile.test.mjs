// The pure part of the benchmark's profiling (bench/profile.mjs): self time by function from a
// V8 CPU profile, as `BENCH_PROFILE=v8 npm run bench` prints it.
import { describe, expect, it } from "vitest";
import { compilerInstructions, selfTimeByFunction, timeByStage } from "../bench/profile.mjs";

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
