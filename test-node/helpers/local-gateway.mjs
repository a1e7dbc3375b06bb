// `npm run dev` in an isolated COMPOSITE_DEV_DIR on a free port, for tests that need the real local
// gateway (the sample origin behind it, demo keys, the operator token for the keys CLI). Its
// lifecycle itself is proven in dev-and-cli.test.mjs; here it is only the thing tested against.

import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { anyFreePort, portIsFree } from "../../scripts/ports.mjs";
import { stopProcessGroup } from "../../scripts/process-group.mjs";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const READY_TIMEOUT_MS = 90_000;

/** The environment for our children: nothing of the developer's that would change their behaviour. */
export function cleanEnv(extra = {}) {
  const env = { ...process.env, NO_COLOR: "1", WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_HIDE_BANNER: "true", ...extra };
  for (const name of ["ORIGIN_URL", "OPERATOR_TOKEN", "FORCE_COLOR", "WRANGLER_REGISTRY_PATH", "CLOUDFLARE_INCLUDE_PROCESS_ENV", "COMPOSITE_API_KEY", "COMPOSITE_API_URL"]) {
    if (!(name in extra)) delete env[name];
  }
  return env;
}

/**
 * Starts `node scripts/dev.mjs` and resolves once it printed its summary:
 * { url, devDir, project, publicKey, publicId, secretKey, secretId, output(), stop() }.
 */
export async function startLocalGateway() {
  const devDir = mkdtempSync(path.join(os.tmpdir(), "composite-local-gateway-"));
  const tmp = path.join(devDir, "tmp");
  mkdirSync(tmp);
  let port = await anyFreePort();
  for (let attempt = 0; attempt < 20 && !(await portIsFree(port + 1)); attempt++) port = await anyFreePort();
  const dev = spawn(process.execPath, [path.join(ROOT, "scripts", "dev.mjs")], {
    cwd: ROOT,
    env: cleanEnv({ PORT: String(port), COMPOSITE_DEV_DIR: devDir, TMPDIR: tmp }),
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  const exited = new Promise((resolve) => dev.once("exit", (code, signal) => resolve([code, signal])));
  let text = "";
  let all = "";
  const summary = new Promise((resolve, reject) => {
    dev.stdout.setEncoding("utf8").on("data", (chunk) => {
      text += chunk;
      all += chunk;
      if (/\n\s*Stop\s+Ctrl-C/.test(text)) resolve(text);
    });
    dev.stderr.setEncoding("utf8").on("data", (chunk) => (all += chunk));
    exited.then(([code]) => reject(new Error(`scripts/dev.mjs exited (${code}) before it was ready:\n${all.slice(-3000)}`)));
    setTimeout(() => reject(new Error(`scripts/dev.mjs was not ready within ${READY_TIMEOUT_MS / 1000} s:\n${all.slice(-3000)}`)), READY_TIMEOUT_MS).unref();
  });

  async function stop() {
    await stopProcessGroup(dev, exited, { signal: "SIGINT", graceMs: 20_000 });
    rmSync(devDir, { recursive: true, force: true });
  }

  try {
    await summary;
  } catch (error) {
    await stop();
    throw error;
  }
  const grab = (regex) => regex.exec(text) ?? [];
  const [, publicKey, publicId] = grab(/Public test key\s+(pk_test_\w+)\s+(key_\w+)/);
  const [, secretKey, secretId] = grab(/Secret test key\s+(sk_test_\w+)\s+(key_\w+)/);
  const [, project] = grab(/Demo project\s+(proj_\w+)/);
  return { url: `http://127.0.0.1:${port}`, devDir, project, publicKey, publicId, secretKey, secretId, output: () => all, stop };
}
