#!/usr/bin/env node
// `npm run keys -- <command>`: manage projects and API keys through the gateway's operator API.
// Run `npm run keys -- --help` for usage. Talks to a running gateway (`npm run dev`, or --url).
//
// The operator token: OPERATOR_TOKEN from the environment, else, for a gateway on this machine
// only, the OPERATOR_TOKEN line of the .dev.vars that `npm run dev` wrote — the project's own, or
// <dir>/.dev.vars when COMPOSITE_DEV_DIR=<dir> is set (the same variable that isolates `npm run
// dev`; the tests in test-node/ use it this way). The token never goes over plain HTTP to a host
// off this machine.

import { parseArgs } from "node:util";
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

const USAGE = `Manage Composite projects and API keys through the gateway's operator API.

Usage: npm run keys -- <command> [options]

Commands:
  project create --name <name>                Create a project
  project list                                List projects
  create --project <id> --type public|secret --env test|live --label <text>
         [--scopes a,b] [--expires-at <ISO 8601>] [--allowed-origins a,b]
                                              Create a key; the plaintext key is shown ONCE.
                                              --scopes: secret keys only (default: unrestricted);
                                              --allowed-origins: public keys only (default: any)
  list --project <id>                         List a project's keys (no plaintext)
  get <key id>                                Show one key
  revoke <key id>                             Revoke a key (takes effect immediately)
  limits <key id> [--rate <n>] [--burst <n>] [--daily <n>]
                                              Override a key's limits (give at least one):
                                              tokens/second, bucket size, requests per UTC day;
                                              "default" removes an override

Global options:
  --url <gateway url>   Gateway base URL (default: http://127.0.0.1:\${PORT:-8787}, now ${defaultGatewayUrl()})
  --help                Show this help

The operator token is read from the OPERATOR_TOKEN environment variable, else — for a gateway on
this machine (localhost, 127.x.x.x, [::1]) only — from .dev.vars (written by \`npm run dev\`;
<dir>/.dev.vars when COMPOSITE_DEV_DIR=<dir> is set). Any other gateway needs https://. Output is the
JSON answer on stdout. Exit codes: 0 success, 1 error answer from the gateway (problem+json on
stderr) or gateway unreachable, 2 usage error.

Examples:
  npm run keys -- project create --name "Acme"
  npm run keys -- create --project proj_123 --type secret --env test --label "CI" --scopes events:read,users:read
  npm run keys -- create --project proj_123 --type public --env live --label web \\
      --allowed-origins https://app.example.com
  npm run keys -- limits key_123 --rate 10 --burst 20 --daily 10000
  npm run keys -- limits key_123 --daily default
`;

const OPTIONS = {
  url: { type: "string" },
  help: { type: "boolean", short: "h" },
  name: { type: "string" },
  project: { type: "string" },
  type: { type: "string" },
  env: { type: "string" },
  label: { type: "string" },
  scopes: { type: "string" },
  "expires-at": { type: "string" },
  "allowed-origins": { type: "string" },
  rate: { type: "string" },
  burst: { type: "string" },
  daily: { type: "string" },
};

// command -> [number of positional arguments after the command, options it accepts]
const COMMANDS = {
  "project create": [0, ["name"]],
  "project list": [0, []],
  create: [0, ["project", "type", "env", "label", "scopes", "expires-at", "allowed-origins"]],
  list: [0, ["project"]],
  get: [1, []],
  revoke: [1, []],
  limits: [1, ["rate", "burst", "daily"]],
};

class UsageError extends Error {}

function parseCommandLine(argv) {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError(error.message);
  }
  const { values, positionals } = parsed;
  if (values.help) return { help: true };
  if (positionals.length === 0) throw new UsageError("no command given");

  const name = positionals[0] === "project" ? `project ${positionals[1] ?? ""}`.trim() : positionals[0];
  const spec = COMMANDS[name];
  if (!spec && positionals[0] === "project") {
    throw new UsageError(`"project" needs a subcommand: project create --name <name>, or project list`);
  }
  if (!spec) throw new UsageError(`unknown command "${positionals.slice(0, 2).join(" ")}"`);
  const args = positionals.slice(name.split(" ").length);
  const [arity, allowed] = spec;
  if (args.length !== arity) {
    throw new UsageError(
      arity === 0 ? `"${name}" takes no arguments, got: ${args.join(" ")}` : `"${name}" needs exactly one <key id>`,
    );
  }
  for (const option of Object.keys(values)) {
    if (option !== "url" && !allowed.includes(option)) {
      throw new UsageError(`--${option} does not apply to "${name}"`);
    }
  }
  return { name, args, values };
}

const required = (values, option) => {
  const value = values[option];
  if (value === undefined || value.trim() === "") throw new UsageError(`--${option} is required`);
  return value;
};
const oneOf = (values, option, choices) => {
  const value = required(values, option);
  if (!choices.includes(value)) throw new UsageError(`--${option} must be ${choices.join(" or ")}, got "${value}"`);
  return value;
};
const list = (value) =>
  value === undefined
    ? undefined
    : value
        .split(",")
        .map((item) => item.trim())
        .filter(Boolean);
const count = (values, option) => {
  const value = values[option];
  if (value === undefined) return undefined;
  if (value.trim() === "default") return null; // null restores the gateway's default
  if (!/^[1-9]\d*$/.test(value.trim())) {
    throw new UsageError(`--${option} must be a positive integer or "default", got "${value}"`);
  }
  return Number(value);
};

// Validates the options and returns the API call to make (so usage errors come before any I/O).
function plan({ name, args, values }) {
  switch (name) {
    case "project create": {
      const projectName = required(values, "name");
      return (client) => client.createProject(projectName);
    }
    case "project list":
      return (client) => client.listProjects();
    case "create": {
      const body = {
        project_id: required(values, "project"),
        type: oneOf(values, "type", ["public", "secret"]),
        environment: oneOf(values, "env", ["test", "live"]),
        label: required(values, "label"),
      };
      if (values.scopes !== undefined) body.scopes = list(values.scopes);
      if (values["allowed-origins"] !== undefined) body.allowed_origins = list(values["allowed-origins"]);
      if (values["expires-at"] !== undefined) {
        const expires = values["expires-at"].trim();
        if (Number.isNaN(Date.parse(expires))) {
          throw new UsageError(`--expires-at must be an ISO 8601 date-time or date, e.g. 2027-01-31T12:00:00Z or 2027-01-31 (00:00 UTC)`);
        }
        body.expires_at = expires;
      }
      return (client) => client.createKey(body);
    }
    case "list": {
      const projectId = required(values, "project");
      return (client) => client.listKeys(projectId);
    }
    case "get":
      return (client) => client.getKey(args[0]);
    case "revoke":
      return (client) => client.revokeKey(args[0]);
    case "limits": {
      const limits = {};
      for (const option of ["rate", "burst", "daily"]) {
        const value = count(values, option);
        if (value !== undefined) limits[option] = value;
      }
      if (Object.keys(limits).length === 0) throw new UsageError("give at least one of --rate, --burst, --daily");
      return (client) => client.setLimits(args[0], limits);
    }
  }
}

async function main(argv) {
  let command, call;
  try {
    command = parseCommandLine(argv);
    if (!command.help) call = plan(command);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`error: ${error.message}\n\n${USAGE}`);
    return 2;
  }
  if (command.help) {
    process.stdout.write(USAGE);
    return 0;
  }

  const baseUrl = command.values.url ?? defaultGatewayUrl();
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
