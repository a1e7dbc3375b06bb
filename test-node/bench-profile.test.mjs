// The pure part of the benchmark's profiling (bench/profile.mjs): self time by function from a
// V8 CPU profile, as `BENCH_PROFILE=v8 npm run bench` prints it.
import { describe, expect, it } from "vitest";
import { compilerInstructions, selfTimeByFunction } from "../bench/profile.mjs";

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
