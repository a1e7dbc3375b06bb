// README "Deploy" may name only commands that exist: every `npx wrangler …` is a wrangler command
// that takes the flags shown (asked of wrangler's own --help, offline), every `npm run …` a script
// of package.json, and `npm run deploy -- …` flags that scripts/deploy.mjs accepts.

import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const README = readFileSync(path.join(ROOT, "README.md"), "utf8");
const PACKAGE = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8"));
const deploySection = README.slice(README.indexOf("\n## Deploy\n"), README.indexOf("\n## Tests and benchmark\n"));

const env = { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_HIDE_BANNER: "true", NO_COLOR: "1" };
const help = (script, args) => {
  const result = spawnSync(process.execPath, [script, ...args, "--help"], { cwd: ROOT, env, encoding: "utf8", timeout: 60_000 });
  return { status: result.status, text: result.stdout + result.stderr };
};

/** `npx wrangler …` commands of the section: the words of the command, and its flags. */
const wranglerCommands = [...new Set([...deploySection.matchAll(/npx wrangler ([^`\n|]+)/g)].map(([, rest]) => rest.trim()))].map((line) => {
  const words = line.split(/\s+/);
  const command = [];
  for (const word of words) {
    if (/[<"-]/.test(word) || /[A-Z]/.test(word[0])) break; // an argument: a name, a placeholder, a flag
    command.push(word);
  }
  return { line, command, flags: words.filter((word) => word.startsWith("--")) };
});

describe("README Deploy names only commands that exist", () => {
  it("has the commands it should", () => {
    expect(deploySection).toContain("npm run deploy -- --env");
    expect(wranglerCommands.map((c) => c.command.join(" "))).toEqual(expect.arrayContaining(["login", "kv namespace create", "d1 create", "secret put"]));
  });

  it.each(wranglerCommands.map((c) => [c.line, c]))("npx wrangler %s", (_, { command, flags }) => {
    const { status, text } = help(path.join(ROOT, "node_modules", "wrangler", "bin", "wrangler.js"), command);
    expect(status, text).toBe(0);
    expect(text).toContain(`wrangler ${command.join(" ")}`);
    for (const flag of flags) expect(text, `wrangler ${command.join(" ")} has no ${flag}`).toContain(flag);
  });

  it("npm run scripts and their flags", () => {
    for (const [, script] of deploySection.matchAll(/npm run ([\w:-]+)/g)) expect(Object.keys(PACKAGE.scripts)).toContain(script);
    const usage = help(path.join(ROOT, "scripts", "deploy.mjs"), []).text;
    for (const [, flags] of deploySection.matchAll(/npm run deploy -- ([^`\n]+)/g)) {
      for (const [flag] of flags.matchAll(/--[\w-]+/g)) expect(usage, `npm run deploy has no ${flag}`).toContain(flag);
    }
    // Flags mentioned alone (`--dry-run`, `--secrets-only`, `--url`) are the script's too.
    for (const flag of ["--dry-run", "--secrets-only", "--url"]) {
      expect(deploySection).toContain(`\`${flag}`);
      expect(usage).toContain(flag);
    }
  });
});
