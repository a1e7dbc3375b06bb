// The GitHub Actions workflow cannot run here (no GitHub, no Cloudflare account), so it is checked
// offline: against GitHub's workflow schema (action-validator, SchemaStore's schema compiled to
// WebAssembly, on npm), and for what README "Deploy" promises of it.

import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const VALIDATOR = path.join(ROOT, "node_modules", "@action-validator", "cli", "cli.mjs");
const WORKFLOWS = path.join(ROOT, ".github", "workflows");
const PACKAGE = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8"));

const validate = (file) => spawnSync(process.execPath, [VALIDATOR, file], { cwd: ROOT, encoding: "utf8" });
const workflowFiles = readdirSync(WORKFLOWS).filter((name) => /\.ya?ml$/.test(name));
const ci = parse(readFileSync(path.join(WORKFLOWS, "ci.yml"), "utf8"));
const stepsOf = (job) => ci.jobs[job].steps;
const runs = (job) => stepsOf(job).filter((step) => step.run).map((step) => step.run);

describe("GitHub Actions workflow", () => {
  it.each(workflowFiles)("%s is valid against the workflow schema", (file) => {
    const result = validate(path.join(WORKFLOWS, file));
    expect(result.status, result.stdout + result.stderr).toBe(0);
  });

  it("the validator refuses a broken workflow (so a pass means something)", () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "composite-workflow-"));
    try {
      const broken = path.join(dir, "broken.yml");
      writeFileSync(broken, readFileSync(path.join(WORKFLOWS, "ci.yml"), "utf8").replace("runs-on: ubuntu-24.04", "runs_on: ubuntu-24.04"));
      const result = validate(broken);
      expect(result.status).toBe(1);
      expect(result.stdout + result.stderr).toMatch(/runs_on/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("tests every push and pull request: npm ci, typecheck, npm test, the production dry run", () => {
    expect(Object.keys(ci.on)).toEqual(expect.arrayContaining(["push", "pull_request"]));
    expect(ci.on.push.branches).toEqual(["**"]);
    const commands = runs("test").join("\n");
    for (const command of ["npm ci", "npm run typecheck", "npm test", "npm run deploy -- --env production --dry-run"]) expect(commands).toContain(command);
    expect(ci.jobs.test.if).toBeUndefined();
  });

  it.each([
    ["deploy-staging", "staging", "github.ref == 'refs/heads/main'"],
    ["deploy-production", "production", "startsWith(github.ref, 'refs/tags/v')"],
  ])("%s deploys with wrangler-action and the repository's API token, then smoke-checks", (job, env, condition) => {
    expect(ci.jobs[job].needs).toBe("test");
    expect(ci.jobs[job].if).toContain(condition);
    expect(ci.jobs[job].if).toContain("github.event_name == 'push'");
    const steps = stepsOf(job);
    const secretsCheck = steps.findIndex((step) => step.run === `npm run deploy -- --env ${env} --secrets-only`);
    const deploy = steps.findIndex((step) => step.uses?.startsWith("cloudflare/wrangler-action@"));
    const smoke = steps.findIndex((step) => step.run?.startsWith("npm run smoke -- "));
    expect(secretsCheck).toBeGreaterThan(-1);
    expect(deploy).toBeGreaterThan(secretsCheck);
    expect(smoke).toBeGreaterThan(deploy);
    expect(steps[secretsCheck].env.CLOUDFLARE_API_TOKEN).toBe("${{ secrets.CLOUDFLARE_API_TOKEN }}");
    const action = steps[deploy].with;
    expect(action.apiToken).toBe("${{ secrets.CLOUDFLARE_API_TOKEN }}");
    expect(action.wranglerVersion).toBe(PACKAGE.devDependencies.wrangler);
    expect(action.command.trim().split("\n")).toEqual([`d1 migrations apply DB --remote --env ${env}`, `deploy --env ${env}`]);
    expect(steps[smoke].env.GATEWAY_URL).toContain(`steps.${steps[deploy].id}.outputs.deployment-url`);
  });

  it("pins every action to a commit and runs only npm scripts that exist", () => {
    const steps = Object.keys(ci.jobs).flatMap(stepsOf);
    for (const step of steps.filter((s) => s.uses)) expect(step.uses).toMatch(/^[\w.-]+\/[\w.-]+@[0-9a-f]{40}$/);
    const text = readFileSync(path.join(WORKFLOWS, "ci.yml"), "utf8");
    for (const line of text.split("\n").filter((l) => /uses: /.test(l))) expect(line).toMatch(/ # v\d+\.\d+\.\d+$/);
    for (const [, script] of text.matchAll(/npm run ([\w:-]+)/g)) expect(Object.keys(PACKAGE.scripts)).toContain(script);
    // Values from the context reach shells through env, never pasted into a script.
    for (const step of steps.filter((s) => s.run)) expect(step.run).not.toMatch(/\$\{\{/);
  });
});
