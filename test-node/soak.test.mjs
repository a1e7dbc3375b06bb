// `npm run soak` in its short mode (README "Soak test"): mixed traffic from many keys against the
// real gateway in Miniflare — revokes and rolls during the run — then every 2xx and 429 counted
// in D1 exactly, no 5xx, every answer as API.md says, memory flat, no key in any log line.
// The run is soak/run.mjs itself, as a user starts it; this test only reads its verdict.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const SOAK = path.join(ROOT, "soak", "run.mjs");
/** The short mode's 20 s of traffic, setup and the D1 flush wait, with room for a busy machine. */
const TIMEOUT_MS = 150_000;

describe("npm run soak --short", () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "composite-soak-test-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("passes every check, and says so in its JSON", { timeout: TIMEOUT_MS + 10_000 }, async () => {
    const out = path.join(dir, "short.json");
    const child = spawn(process.execPath, [SOAK, "--short"], {
      cwd: ROOT,
      env: { ...process.env, SOAK_OUT: out, NO_COLOR: "1", WRANGLER_SEND_METRICS: "false" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk) => (output += chunk));
    child.stderr.on("data", (chunk) => (output += chunk));
    const timer = setTimeout(() => child.kill("SIGTERM"), TIMEOUT_MS);
    const code = await new Promise((resolve) => child.once("exit", (exitCode, signal) => resolve(exitCode ?? signal)));
    clearTimeout(timer);

    expect(code, output).toBe(0);
    const results = JSON.parse(readFileSync(out, "utf8"));
    expect(results.checks.filter((c) => !c.pass), output).toEqual([]);
    expect(results.passed).toBe(true);
    // What the run is for happened, and was counted.
    expect(results.counts.answered2xx).toBeGreaterThan(1000);
    expect(results.counts.answered429).toBeGreaterThan(0);
    expect(results.events.map((e) => e.what)).toEqual(["revoke", "roll", "revoke"]);
    // Key ids only: no key, hash or token in what the soak writes.
    const text = readFileSync(out, "utf8");
    expect(text).not.toMatch(/[ps]k_(?:test|live)_[0-9A-Za-z]/);
    expect(text).not.toMatch(/[0-9a-f]{64}/);
    expect(output).not.toMatch(/[ps]k_(?:test|live)_[0-9A-Za-z]/);
  });
});
