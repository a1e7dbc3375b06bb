#!/usr/bin/env node
// `npm run keys -- <command>`: manage projects and API keys through the gateway's operator API.
// Run `npm run keys -- --help` for usage, `npm run keys -- <command> --help` for a command's.
// The commands, their help and their checks are in cli/commands.mjs. Talks to a running gateway (`npm run dev`, or --url).
//
// The operator token: OPERATOR_TOKEN from the environment, else, for a gateway on this machine
// only, the OPERATOR_TOKEN line of the .dev.vars that `npm run dev` wrote — the project's own, or
// <dir>/.dev.vars when COMPOSITE_DEV_DIR=<dir> is set (the same variable that isolates `npm run
// dev`; the tests in test-node/ use it this way). The token never goes over plain HTTP to a host
// off this machine.

import { parseCommandLine, UsageError } from "./commands.mjs";
import {
  createOperatorClient,
  defaultGatewayUrl,
  DEV_VARS_PATH,
  devVarsPathFor,
  findOperatorToken,
  GatewayUnreachableError,
  insecureGatewayUrl,
  isolatedDevDir,
  isLoopbackUrl,
  OperatorApiError,
} from "./operator-client.mjs";

async function main(argv) {
  let command;
  try {
    command = parseCommandLine(argv, { defaultUrl: defaultGatewayUrl() });
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    // One line: what is wrong and the right form (`<command> --help` has the rest).
    process.stderr.write(`error: ${error.message}\n`);
    return 2;
  }
  if (command.help) {
    process.stdout.write(command.help);
    return 0;
  }
  const call = command.call;

  const baseUrl = command.url ?? defaultGatewayUrl();
  try {
    new URL(baseUrl);
  } catch {
    process.stderr.write(`error: --url is not a valid URL: ${baseUrl}\n`);
    return 2;
  }
  const insecure = insecureGatewayUrl(baseUrl);
  if (insecure !== null) {
    process.stderr.write(`error: ${insecure}\n`);
    return 2;
  }
  const found = findOperatorToken(baseUrl);
  if (!found) {
    process.stderr.write(
      isLoopbackUrl(baseUrl)
        ? `error: no operator token. Set OPERATOR_TOKEN, or run \`npm run dev\` once to generate ${isolatedDevDir() ? devVarsPathFor() : ".dev.vars"}.\n`
        : `error: no operator token for ${new URL(baseUrl).origin}: set OPERATOR_TOKEN (.dev.vars is used only for a gateway on this machine).\n`,
    );
    return 2;
  }
  const client = createOperatorClient({ baseUrl, token: found.token });

  try {
    const result = await call(client);
    process.stdout.write(JSON.stringify(result, null, 2) + "\n");
    return 0;
  } catch (error) {
    if (error instanceof OperatorApiError) {
      process.stderr.write((error.body ? JSON.stringify(error.body, null, 2) : error.text || `HTTP ${error.status}`) + "\n");
      if (error.status === 401 && found.source === ".dev.vars") {
        const file = found.path === DEV_VARS_PATH ? ".dev.vars" : found.path;
        process.stderr.write(`hint: the token came from ${file}; is the gateway at --url using the same .dev.vars?\n`);
      }
      return 1;
    }
    if (error instanceof GatewayUnreachableError) {
      process.stderr.write(`error: ${error.message}. Is \`npm run dev\` running? Or pass --url <gateway url>.\n`);
      return 1;
    }
    throw error;
  }
}

// `npm run keys -- list ... | head` closes stdout early; that is not an error.
process.stdout.on("error", (error) => {
  if (error.code === "EPIPE") process.exit(process.exitCode ?? 0);
  throw error;
});
process.exitCode = await main(process.argv.slice(2));
