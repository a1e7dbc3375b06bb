// The keys CLI's commands: what each takes, its help, and the operator API call it makes. Pure:
// `parseCommandLine(argv)` answers what to do, or throws a UsageError whose message is the one line
// the CLI prints — what is wrong and the right form — never the whole help, never Node's parseArgs
// wording (issue 16). cli/keys.mjs runs the answer.

export class UsageError extends Error {}

const PROGRAM = "npm run keys --";
const PLAN_NAMES = ["free", "pro", "enterprise", "custom"];
const KEY_TYPES = ["public", "secret"];
const KEY_TYPE_PARTS = ["rate", "burst", "daily"];
const MAX_ROLL_SECONDS = 7 * 86_400;
const MAX_USAGE_DAYS = 90;

/** Options every command takes. */
const GLOBAL_OPTIONS = {
  url: { value: "<gateway url>", help: "the gateway (default http://127.0.0.1:${PORT:-8787})" },
  help: { flag: true, short: "h", help: "this command's help" },
};

const PLAN_LIMIT_OPTIONS = Object.fromEntries(
  KEY_TYPES.flatMap((type) =>
    KEY_TYPE_PARTS.map((part) => [
      `${type}-${part}`,
      { value: "<n>", help: `custom plan: ${type} keys' ${part === "daily" ? "requests per UTC day" : part === "rate" ? "tokens per second" : "bucket size"}` },
    ]),
  ),
);

/**
 * Every command: its positional arguments, its options, a one-line form (shown with every usage
 * error), a summary and further help (shown by `<command> --help`).
 */
export const COMMANDS = {
  "project create": {
    args: [],
    options: { name: { value: "<name>", required: true, help: "the project's name" } },
    summary: "Create a project (on the free plan)",
  },
  "project list": { args: [], options: {}, summary: "List projects, with their plans" },
  create: {
    args: [],
    options: {
      project: { value: "<project id>", required: true, help: "proj_…" },
      type: { value: "public|secret", required: true, choices: KEY_TYPES, help: "public (pk_) for browsers and apps, secret (sk_) for servers" },
      env: { value: "test|live", required: true, choices: ["test", "live"], help: "the key's environment" },
      label: { value: "<text>", required: true, help: "what the key is for" },
      scopes: { value: "a,b", help: "secret keys only; default unrestricted" },
      "expires-at": { value: "<ISO 8601>", help: "e.g. 2027-01-31T12:00:00Z, or 2027-01-31 (00:00 UTC)" },
      "allowed-origins": { value: "a,b", help: "public keys only; default any origin" },
    },
    summary: "Create a key; the plaintext key is shown ONCE",
  },
  list: { args: [], options: { project: { value: "<project id>", required: true, help: "proj_…" } }, summary: "List a project's keys (never a plaintext key)" },
  get: { args: ["<key id>"], options: {}, summary: "Show one key" },
  update: {
    args: ["<key id>"],
    options: {
      label: { value: "<text>", help: "a new label" },
      scopes: { value: "a,b|all", help: "secret keys: the scopes, or all (unrestricted)" },
      "allowed-origins": { value: "a,b|any", help: "public keys: the browser origins, or any" },
    },
    atLeastOne: true,
    summary: "Change a key's label, scopes or allowed origins (in force on its next request)",
  },
  roll: {
    args: ["<key id>"],
    options: {
      "expires-in": { value: "<duration>", required: true, help: "how long the old key keeps working: 0 (now), 90s, 30m, 1h, 24h, 7d (at most 7d)" },
    },
    summary: "Replace a key: a new key with the same settings (shown ONCE); the old one expires after --expires-in",
  },
  revoke: { args: ["<key id>"], options: {}, summary: "Revoke a key (refused from its next request on)" },
  limits: {
    args: ["<key id>"],
    options: {
      rate: { value: "<n>", help: "tokens per second, or default" },
      burst: { value: "<n>", help: "bucket size, or default" },
      daily: { value: "<n>", help: "requests per UTC day, or default" },
    },
    atLeastOne: true,
    summary: "Set a key's own limits; \"default\" returns one to the plan's (a key's own limits stay when the plan changes)",
  },
  usage: {
    args: [],
    optionalArgs: ["<key id>"],
    options: {
      days: { value: "<n>", help: `a key's last n UTC days, 1 … ${MAX_USAGE_DAYS} (default 30)` },
      project: { value: "<project id>", help: "instead of a key: every key of the project, per day" },
      from: { value: "YYYY-MM-DD", help: "with --project: the first UTC day (default: 30 days before --to)" },
      to: { value: "YYYY-MM-DD", help: `with --project: the last UTC day (default today; at most ${MAX_USAGE_DAYS} days in all)` },
    },
    form: `usage <key id> [--days <n>]  or  ${PROGRAM} usage --project <project id> [--from YYYY-MM-DD] [--to YYYY-MM-DD]`,
    summary: "Admitted and rate-limited requests per UTC day: of a key (and its last use), or of a project's keys",
  },
  plan: {
    args: ["<project id>"],
    optionalArgs: ["[free|pro|enterprise|custom]"],
    options: PLAN_LIMIT_OPTIONS,
    summary: "Show a project's plan, or set it: its keys' default limits follow (keys' own limits stay)",
    more: [
      "With no plan named, shows the project's plan and its limits per key type.",
      "custom takes any of --public-rate, --public-burst, --public-daily, --secret-rate, --secret-burst,",
      "--secret-daily; the limits left out stay as the project has them now.",
    ],
  },
};

/** The one-line form of a command: `create --project <project id> --type public|secret … [--scopes a,b]`. */
export function formOf(name) {
  const spec = COMMANDS[name];
  if (spec.form) return `${PROGRAM} ${spec.form}`;
  const parts = [name, ...spec.args, ...(spec.optionalArgs ?? [])];
  for (const [option, { value, required }] of Object.entries(spec.options)) {
    parts.push(required ? `--${option} ${value}` : `[--${option} ${value}]`);
  }
  return `${PROGRAM} ${parts.join(" ")}`;
}

export function commandHelp(name) {
  const spec = COMMANDS[name];
  const lines = [`${spec.summary}.`, "", `Usage: ${formOf(name)}`];
  const options = Object.entries({ ...spec.options, url: GLOBAL_OPTIONS.url, help: GLOBAL_OPTIONS.help });
  lines.push("", "Options:");
  for (const [option, { value, help, short }] of options) {
    const flag = `${short ? `-${short}, ` : ""}--${option}${value ? ` ${value}` : ""}`;
    lines.push(`  ${flag.padEnd(28)} ${help}`);
  }
  if (spec.more) lines.push("", ...spec.more);
  return lines.join("\n") + "\n";
}

export function generalHelp(defaultUrl) {
  const width = Math.max(...Object.keys(COMMANDS).map((name) => name.length)) + 2;
  return `Manage Composite projects, plans and API keys through the gateway's operator API.

Usage: ${PROGRAM} <command> [options]        ${PROGRAM} <command> --help for its options

Commands:
${Object.entries(COMMANDS)
  .map(([name, spec]) => `  ${name.padEnd(width)} ${spec.summary}`)
  .join("\n")}

Global options:
  --url <gateway url>   the gateway (default http://127.0.0.1:\${PORT:-8787}, now ${defaultUrl})
  -h, --help            this help, or a command's

The operator token is read from the OPERATOR_TOKEN environment variable, else — for a gateway on
this machine (localhost, 127.x.x.x, [::1]) only — from .dev.vars (written by \`npm run dev\`;
<dir>/.dev.vars when COMPOSITE_DEV_DIR=<dir> is set). Any other gateway needs https://. Output is the
JSON answer on stdout. Exit codes: 0 success, 1 error answer from the gateway (problem+json on
stderr) or gateway unreachable, 2 usage error.

Examples:
  ${PROGRAM} project create --name "Acme"
  ${PROGRAM} create --project proj_123 --type secret --env test --label "CI" --scopes events:read,users:read
  ${PROGRAM} roll key_123 --expires-in 24h
  ${PROGRAM} update key_123 --label "CI (old)" --scopes all
  ${PROGRAM} limits key_123 --rate 10 --burst 20 --daily default
  ${PROGRAM} usage key_123 --days 7
  ${PROGRAM} usage --project proj_123 --from 2026-11-01 --to 2026-11-30
  ${PROGRAM} plan proj_123 pro
`;
}

const COMMAND_LIST = Object.keys(COMMANDS).join(", ");
const usageError = (name, what) => new UsageError(`${what}. Usage: ${formOf(name)}`);

/**
 * Splits argv into positionals and options. An option takes the next word as its value (or
 * `--name=value`); one that is not known to any command is kept for the command to refuse by name.
 */
function tokenize(argv) {
  const positionals = [];
  const options = [];
  const valued = new Set(["url", ...Object.values(COMMANDS).flatMap((spec) => Object.keys(spec.options))]);
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i];
    if (word === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (word === "-h") {
      options.push({ name: "help", value: true });
      continue;
    }
    if (!word.startsWith("--") || word === "--") {
      if (word.startsWith("-") && word.length > 1 && !/^-\d/.test(word)) options.push({ name: word.replace(/^-+/, ""), value: undefined, unknown: true, written: word });
      else positionals.push(word);
      continue;
    }
    const eq = word.indexOf("=");
    const name = eq === -1 ? word.slice(2) : word.slice(2, eq);
    if (name === "help") {
      if (eq !== -1) options.push({ name, value: undefined, unknown: true, written: word });
      else options.push({ name, value: true });
      continue;
    }
    if (!valued.has(name)) {
      options.push({ name, value: undefined, unknown: true, written: `--${name}` });
      continue;
    }
    if (eq !== -1) {
      options.push({ name, value: word.slice(eq + 1) });
      continue;
    }
    const next = argv[i + 1];
    if (next === undefined || next.startsWith("--")) options.push({ name, value: undefined, missing: true });
    else {
      options.push({ name, value: next });
      i++;
    }
  }
  return { positionals, options };
}

/**
 * What the command line asks for: `{ help: text }`, or `{ name, url, call }` where `call(client)`
 * makes the operator API call. Every check that needs no gateway happens here, before any I/O.
 */
export function parseCommandLine(argv, { defaultUrl } = {}) {
  const { positionals, options } = tokenize(argv);
  const wantsHelp = options.some((option) => option.name === "help" && !option.unknown);

  const name = commandName(positionals, wantsHelp);
  if (name === null) return { help: generalHelp(defaultUrl) };
  if (wantsHelp) return { help: commandHelp(name) };

  const spec = COMMANDS[name];
  const values = {};
  for (const option of options) {
    if (option.unknown || (option.name !== "url" && !(option.name in spec.options))) {
      const known = Object.keys(spec.options).map((o) => `--${o}`);
      const takes = known.length === 0 ? `"${name}" takes no options` : `"${name}" takes ${known.join(", ")}`;
      throw usageError(name, `unknown option ${option.written ?? `--${option.name}`} (${takes})`);
    }
    if (option.missing) throw usageError(name, `--${option.name} needs a value`);
    if (option.name in values) throw usageError(name, `--${option.name} is given twice`);
    values[option.name] = option.value;
  }

  const args = positionals.slice(name.split(" ").length);
  const optional = spec.optionalArgs?.length ?? 0;
  if (args.length < spec.args.length || args.length > spec.args.length + optional) {
    const wanted = [...spec.args, ...(spec.optionalArgs ?? [])].join(" ");
    if (args.length < spec.args.length) throw usageError(name, `"${name}" needs ${spec.args.join(" ")}`);
    throw usageError(name, `"${name}" takes ${wanted === "" ? "no arguments" : `only ${wanted}`}, got: ${args.join(" ")}`);
  }
  for (const [option, { required }] of Object.entries(spec.options)) {
    if (required && (values[option] === undefined || values[option].trim() === "")) throw usageError(name, `--${option} is required`);
  }
  if (spec.atLeastOne && !Object.keys(spec.options).some((option) => values[option] !== undefined)) {
    throw usageError(name, `give at least one of ${Object.keys(spec.options).map((o) => `--${o}`).join(", ")}`);
  }
  return { name, url: values.url, call: callFor(name, args, values) };
}

function commandName(positionals, wantsHelp) {
  const [first, second] = positionals;
  if (first === undefined) {
    if (wantsHelp) return null;
    throw new UsageError(`no command given. Commands: ${COMMAND_LIST}. Run ${PROGRAM} --help`);
  }
  if (first === "help") return positionals.length > 1 && COMMANDS[positionals.slice(1).join(" ")] ? positionals.slice(1).join(" ") : null;
  if (first === "project") {
    const name = `project ${second ?? ""}`.trim();
    if (COMMANDS[name]) return name;
    throw new UsageError(
      second === undefined
        ? `"project" needs a subcommand: project create --name <name>, or project list`
        : `unknown command "project ${second}": project create --name <name>, or project list`,
    );
  }
  if (COMMANDS[first]) return first;
  throw new UsageError(`unknown command "${first}". Commands: ${COMMAND_LIST}. Run ${PROGRAM} --help`);
}

const list = (value) =>
  value
    .split(",")
    .map((item) => item.trim())
    .filter(Boolean);

/** A limit: a whole number from 1, or "default" (null: back to the plan's) where `allowDefault`. */
function limitValue(name, option, value, { allowDefault }) {
  const text = value.trim();
  if (allowDefault && text === "default") return null;
  if (!/^[1-9]\d*$/.test(text)) {
    throw usageError(name, `--${option} must be a whole number from 1${allowDefault ? ' or "default"' : ""}, got "${value}"`);
  }
  return Number(text);
}

/** "0", "90", "90s", "30m", "1h", "24h", "7d" → seconds. */
export function parseDuration(text) {
  const match = /^(\d+)\s*(s|m|h|d)?$/.exec(text.trim());
  if (!match) return null;
  const unit = { s: 1, m: 60, h: 3600, d: 86_400 }[match[2] ?? "s"];
  return Number(match[1]) * unit;
}

function callFor(name, args, values) {
  switch (name) {
    case "project create":
      return (client) => client.createProject(values.name);
    case "project list":
      return (client) => client.listProjects();
    case "create": {
      const oneOf = (option) => {
        const { choices } = COMMANDS.create.options[option];
        if (!choices.includes(values[option])) throw usageError(name, `--${option} must be ${choices.join(" or ")}, got "${values[option]}"`);
        return values[option];
      };
      const body = { project_id: values.project, type: oneOf("type"), environment: oneOf("env"), label: values.label };
      if (values.scopes !== undefined) body.scopes = list(values.scopes);
      if (values["allowed-origins"] !== undefined) body.allowed_origins = list(values["allowed-origins"]);
      if (values["expires-at"] !== undefined) {
        const expires = values["expires-at"].trim();
        if (Number.isNaN(Date.parse(expires))) {
          throw usageError(name, `--expires-at must be an ISO 8601 date-time or date, e.g. 2027-01-31T12:00:00Z or 2027-01-31 (00:00 UTC), got "${values["expires-at"]}"`);
        }
        body.expires_at = expires;
      }
      return (client) => client.createKey(body);
    }
    case "list":
      return (client) => client.listKeys(values.project);
    case "get":
      return (client) => client.getKey(args[0]);
    case "revoke":
      return (client) => client.revokeKey(args[0]);
    case "update": {
      const changes = {};
      if (values.label !== undefined) changes.label = values.label;
      if (values.scopes !== undefined) changes.scopes = values.scopes.trim() === "all" ? null : list(values.scopes);
      if (values["allowed-origins"] !== undefined) changes.allowed_origins = values["allowed-origins"].trim() === "any" ? null : list(values["allowed-origins"]);
      return (client) => client.updateKey(args[0], changes);
    }
    case "roll": {
      const seconds = parseDuration(values["expires-in"]);
      if (seconds === null || seconds > MAX_ROLL_SECONDS) {
        throw usageError(name, `--expires-in must be a duration from 0 to 7d (0, 90s, 30m, 1h, 24h, 7d), got "${values["expires-in"]}"`);
      }
      return (client) => client.rollKey(args[0], seconds);
    }
    case "limits": {
      const limits = {};
      for (const option of KEY_TYPE_PARTS) {
        if (values[option] !== undefined) limits[option] = limitValue(name, option, values[option], { allowDefault: true });
      }
      return (client) => client.setLimits(args[0], limits);
    }
    case "usage": {
      const [keyId] = args;
      if (keyId === undefined && values.project === undefined) throw usageError(name, `"usage" needs a <key id>, or --project <project id>`);
      if (keyId !== undefined && values.project !== undefined) throw usageError(name, `give a <key id> or --project, not both`);
      if (keyId !== undefined) {
        for (const option of ["from", "to"]) if (values[option] !== undefined) throw usageError(name, `--${option} applies with --project; for a key, use --days`);
        let days;
        if (values.days !== undefined) {
          days = Number(values.days.trim());
          if (!/^\d+$/.test(values.days.trim()) || days < 1 || days > MAX_USAGE_DAYS) {
            throw usageError(name, `--days must be a whole number from 1 to ${MAX_USAGE_DAYS}, got "${values.days}"`);
          }
        }
        return (client) => client.keyUsage(keyId, days);
      }
      if (values.days !== undefined) throw usageError(name, "--days applies to a key; for a project, use --from and --to");
      for (const option of ["from", "to"]) {
        const value = values[option];
        if (value !== undefined && (!/^\d{4}-\d{2}-\d{2}$/.test(value) || Number.isNaN(Date.parse(value)))) {
          throw usageError(name, `--${option} must be a UTC day, YYYY-MM-DD, got "${value}"`);
        }
      }
      return (client) => client.projectUsage(values.project, { from: values.from, to: values.to });
    }
    case "plan": {
      const [projectId, plan] = args;
      const given = Object.keys(PLAN_LIMIT_OPTIONS).filter((option) => values[option] !== undefined);
      if (plan === undefined) {
        if (given.length > 0) throw usageError(name, `--${given[0]} sets a custom plan's limit: name the plan custom`);
        return (client) => client.getProject(projectId);
      }
      if (!PLAN_NAMES.includes(plan)) throw usageError(name, `the plan must be ${PLAN_NAMES.slice(0, -1).join(", ")} or ${PLAN_NAMES.at(-1)}, got "${plan}"`);
      if (plan !== "custom") {
        if (given.length > 0) throw usageError(name, `--${given[0]} applies to the custom plan only (the ${plan} plan's limits are fixed)`);
        return (client) => client.setPlan(projectId, { plan });
      }
      if (given.length === 0) throw usageError(name, `a custom plan needs at least one of ${Object.keys(PLAN_LIMIT_OPTIONS).map((o) => `--${o}`).join(", ")}`);
      const limits = {};
      for (const option of given) {
        const [type, part] = option.split("-");
        limits[type] ??= {};
        limits[type][part] = limitValue(name, option, values[option], { allowDefault: false });
      }
      return (client) => client.setPlan(projectId, { plan, limits });
    }
  }
  throw new Error(`no call for ${name}`);
}
