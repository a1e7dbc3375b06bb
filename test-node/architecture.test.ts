/**
 * The import graph of src/ (STYLE.md, issue 12): no cycles, and dependencies that point one way —
 * routes → the key lifecycle → records and the limiter client → storage. Read from the source
 * text (static imports, re-exports, dynamic imports; type-only imports count too: a type cycle
 * is still a cycle for a reader), so it needs no build and runs in a second.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = resolve(import.meta.dirname, "..");
const SRC = join(ROOT, "src");

type Graph = Map<string, Set<string>>;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return /\.(ts|tsx)$/.test(name) && !name.endsWith(".d.ts") ? [path] : [];
  });
}

const IMPORT = /(?:^|\n)\s*(?:import|export)\b[^'"]*?\bfrom\s*["']([^"']+)["']|\bimport\s*\(\s*["']([^"']+)["']\s*\)/g;

/** Relative specifiers of a file, resolved to files under src/ (packages are left out). */
function importsOf(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const found: string[] = [];
  for (const match of text.matchAll(IMPORT)) {
    const specifier = match[1] ?? match[2]!;
    if (!specifier.startsWith(".")) continue;
    const base = resolve(dirname(file), specifier);
    const target = [base, `${base}.ts`, `${base}.tsx`, join(base, "index.ts"), join(base, "index.tsx")].find((candidate) => {
      try {
        return statSync(candidate).isFile();
      } catch {
        return false;
      }
    });
    if (target === undefined) throw new Error(`${relative(ROOT, file)}: cannot resolve ${specifier}`);
    found.push(target);
  }
  return found;
}

function importGraph(): Graph {
  const graph: Graph = new Map();
  for (const file of sourceFiles(SRC)) {
    graph.set(rel(file), new Set(importsOf(file).map(rel)));
  }
  return graph;
}

const rel = (file: string) => relative(ROOT, file).replaceAll("\\", "/");

/** Strongly connected components with more than one file, or a file importing itself (Tarjan). */
export function cycles(graph: Graph): string[][] {
  let index = 0;
  const indices = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (node: string): void => {
    indices.set(node, index);
    low.set(node, index);
    index++;
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node) ?? []) {
      if (!indices.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node)!, low.get(next)!));
      } else if (onStack.has(next)) {
        low.set(node, Math.min(low.get(node)!, indices.get(next)!));
      }
    }
    if (low.get(node) === indices.get(node)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.push(member);
      } while (member !== node);
      if (component.length > 1 || graph.get(node)?.has(node)) found.push(component.sort());
    }
  };
  for (const node of graph.keys()) if (!indices.has(node)) visit(node);
  return found;
}

const graph = importGraph();
const importsFrom = (file: string) => [...(graph.get(file) ?? [])];
const filesUnder = (...prefixes: string[]) => [...graph.keys()].filter((file) => prefixes.some((prefix) => file.startsWith(prefix)));

describe("the cycle finder itself", () => {
  it("finds a loop of three, a self-import, and nothing in a tree", () => {
    const loop: Graph = new Map([
      ["a", new Set(["b"])],
      ["b", new Set(["c"])],
      ["c", new Set(["a", "d"])],
      ["d", new Set()],
      ["e", new Set(["e"])],
    ]);
    expect(cycles(loop)).toEqual([["a", "b", "c"], ["e"]]);
    const tree: Graph = new Map([
      ["a", new Set(["b", "c"])],
      ["b", new Set(["c"])],
      ["c", new Set()],
    ]);
    expect(cycles(tree)).toEqual([]);
  });

  it("reads the real tree: every src file, with the imports it has", () => {
    expect(graph.size).toBeGreaterThan(30);
    expect(importsFrom("src/gateway.ts")).toContain("src/limiter/client.ts");
    expect(importsFrom("src/limiter/key-limiter.ts")).toContain("src/keys/key-state.ts"); // a type-only import counts
  });
});

describe("src/ import graph", () => {
  it("has no import cycles", () => {
    expect(cycles(graph)).toEqual([]);
  });

  it("config.ts is a leaf: parsed once, imported by everyone, importing nothing of ours", () => {
    expect(importsFrom("src/config.ts")).toEqual([]);
  });

  it("the hot path (gateway.ts) sees the limiter only through its client", () => {
    const limiterImports = importsFrom("src/gateway.ts").filter((file) => file.startsWith("src/limiter/"));
    expect(limiterImports).toEqual(["src/limiter/client.ts"]);
  });

  it("routes change keys only through the key lifecycle, never records or the limiter's object", () => {
    const below = ["src/keys/key-records.ts", "src/keys/key-state.ts", "src/limiter/key-limiter.ts", "src/limiter/client.ts"];
    for (const route of filesUnder("src/manage/", "src/dashboard/")) {
      expect(importsFrom(route).filter((file) => below.includes(file)), route).toEqual([]);
    }
  });

  it("nothing below the routes imports a route, the gateway or the app", () => {
    const above = (file: string) =>
      file.startsWith("src/manage/") || file.startsWith("src/dashboard/") || file === "src/gateway.ts" || file === "src/index.ts";
    for (const file of filesUnder("src/keys/", "src/limiter/", "src/policy/", "src/http/", "src/proxy/", "src/crypto/", "src/guard/")) {
      expect(importsFrom(file).filter(above), file).toEqual([]);
    }
    expect(importsFrom("src/lifecycle.ts").filter(above)).toEqual([]);
    expect(importsFrom("src/context.ts").filter(above)).toEqual([]);
  });
});
