/**
 * The gateway's configuration: every var and secret, its type, default and range, in one place,
 * parsed once per isolate (configOf caches per env object) with zod.
 *
 * Why one module: the vars used to be read where they were needed, each with its own `Number(…) ||
 * default`, so a bad value silently became the default (FAILED_AUTH_LIMIT="0" meant 30, and the
 * failed-auth guard could not be turned off). Here a bad value is a ConfigError that names every
 * offending variable, says what is wrong and what is expected — and never repeats a secret.
 *
 * Rules: numbers are strings of digits (wrangler vars are strings); "", " ", "1.5", "-1", "30abc"
 * and "030" are errors, never coerced. To get a default, leave the var out; "" means "none" only
 * where the table says so (ORIGIN_URL, LIMITER_FAIL_OPEN, OPERATOR_TOKEN).
 *
 * A leaf module: it imports zod and nothing from this project (bindings are typed with the global
 * @cloudflare/workers-types), so anything may import it. README "Configure" mirrors
 * CONFIG_VARIABLES; keep the two in sync.
 */
import { z } from "zod";

/** Bindings, vars and secrets of the gateway Worker (see wrangler.jsonc and README "Configure"). */
export interface Env {
  KEYS: KVNamespace;
  DB: D1Database;
  /** KeyLimiter objects; the limiter client casts to its own stub type (this module stays a leaf). */
  KEY_LIMITER: DurableObjectNamespace;
  /** FailedAuthGuard objects, one per client IP. */
  FAILED_AUTH: DurableObjectNamespace;
  /** Optional service binding to the origin; wins over ORIGIN_URL when both are set. */
  ORIGIN?: Fetcher;
  ORIGIN_URL?: string;
  ORIGIN_TIMEOUT_MS?: string;
  MAX_BODY_BYTES?: string;
  /** Route classes that go through when the KeyLimiter cannot be reached; default "ingest". */
  LIMITER_FAIL_OPEN?: string;
  /** Failed authentications per client IP and window before 429 too_many_failed_attempts; "0" = off. */
  FAILED_AUTH_LIMIT?: string;
  FAILED_AUTH_WINDOW_S?: string;
  /** Longest life of a token lease on event-ingestion routes, ms; "0" = no leases. */
  LEASE_MS?: string;
  /** Secret: keys are stored as HMAC-SHA-256(KEY_HASH_SECRET, key). Changing it invalidates every key. */
  KEY_HASH_SECRET: string;
  /** Secret shared with the origin, which verifies X-Composite-Signature with it. */
  ORIGIN_SIGNING_SECRET: string;
  /** Secret for /_operator/*; when unset or "" the operator API refuses every call. */
  OPERATOR_TOKEN?: string;
}

/** What kind of traffic a route carries (policy/routes.ts); LIMITER_FAIL_OPEN lists some of them. */
export const ROUTE_CLASSES = ["ingest", "read", "write", "admin"] as const;
export type RouteClass = (typeof ROUTE_CLASSES)[number];

/** The configuration as the gateway uses it: parsed, typed, defaults applied. Frozen. */
export interface Config {
  /**
   * ORIGIN_URL normalised to scheme://host[:port][/path prefix] with no trailing slash, so the
   * forwarded URL is `originUrl + pathname + search`; null when none is set.
   */
  readonly originUrl: string | null;
  readonly originTimeoutMs: number;
  readonly maxBodyBytes: number;
  /** Route classes that go through (counted later) when a key's KeyLimiter cannot be reached. */
  readonly failOpenClasses: ReadonlySet<RouteClass>;
  /** The failed-auth guard per client IP; null when FAILED_AUTH_LIMIT is 0 (guard off). */
  readonly failedAuth: { readonly limit: number; readonly windowMs: number } | null;
  /** Longest life of a token lease (limiter/lease-ledger.ts); 0 = no leases, every request asks the key's object. */
  readonly leaseMs: number;
  readonly keyHashSecret: string;
  readonly originSigningSecret: string;
  /** null when OPERATOR_TOKEN is unset or "": the operator API is off. */
  readonly operatorToken: string | null;
}

export type ConfigVariableName =
  | "ORIGIN_URL"
  | "ORIGIN_TIMEOUT_MS"
  | "MAX_BODY_BYTES"
  | "LIMITER_FAIL_OPEN"
  | "FAILED_AUTH_LIMIT"
  | "FAILED_AUTH_WINDOW_S"
  | "LEASE_MS"
  | "KEY_HASH_SECRET"
  | "ORIGIN_SIGNING_SECRET"
  | "OPERATOR_TOKEN";

/** One row of README "Configure". */
export interface ConfigVariable {
  readonly name: ConfigVariableName;
  /** Secrets are set with `wrangler secret put` (locally .dev.vars) and never appear in an error. */
  readonly secret: boolean;
  readonly type: string;
  /** The value used when the variable is absent; null = required (no default). */
  readonly default: string | null;
  /** The values accepted. */
  readonly allowed: string;
  readonly description: string;
}

/** Shortest secret accepted: 128 bits of base64. `openssl rand -base64 32` gives 44 characters. */
export const MIN_SECRET_LENGTH = 16;

interface WholeNumberSpec {
  min: number;
  max: number;
  default: number;
  /** "a whole number of <unit>s"; omitted for plain counts. */
  unit?: string;
  /** What the lowest value means, if anything special. */
  minMeaning?: string;
}

const ORIGIN_TIMEOUT_MS: WholeNumberSpec = { min: 1, max: 300_000, default: 30_000, unit: "millisecond" };
/**
 * At most 100 MiB: the request body limit of Cloudflare's Free and Pro plans, and a chunked body is
 * buffered whole up to this limit (proxy/body-limit.ts) inside a Worker's 128 MB of memory.
 */
const MAX_BODY_BYTES: WholeNumberSpec = { min: 1, max: 104_857_600, default: 1_048_576, unit: "byte" };
const FAILED_AUTH_LIMIT: WholeNumberSpec = { min: 0, max: 1_000_000, default: 30, minMeaning: "the guard off" };
const FAILED_AUTH_WINDOW_S: WholeNumberSpec = { min: 1, max: 86_400, default: 60, unit: "second" };
/** API.md §3: a leased key stops within LEASE_MS of a change; the contract allows at most 2 s. */
const LEASE_MS: WholeNumberSpec = { min: 0, max: 2_000, default: 1_000, unit: "millisecond", minMeaning: "no leases" };

const DEFAULT_FAIL_OPEN = "ingest";

const range = (spec: WholeNumberSpec) => `${spec.min}–${spec.max}${spec.minMeaning ? ` (${spec.min} = ${spec.minMeaning})` : ""}`;

export const CONFIG_VARIABLES: readonly ConfigVariable[] = [
  {
    name: "ORIGIN_URL",
    secret: false,
    type: "URL",
    default: "",
    allowed: '"" (none), or an http:// or https:// URL, optionally with a path prefix; no user:password, query or fragment',
    description:
      "Where admitted requests go, e.g. https://api.example.com. A service binding named ORIGIN wins when bound; with neither, forwarded routes answer 502 origin_unavailable.",
  },
  {
    name: "ORIGIN_TIMEOUT_MS",
    secret: false,
    type: "whole number, ms",
    default: String(ORIGIN_TIMEOUT_MS.default),
    allowed: range(ORIGIN_TIMEOUT_MS),
    description:
      "How long a request waits for its key's limiter (past it the limiter counts as unreachable) and for the origin's response headers (past it 504 origin_timeout).",
  },
  {
    name: "MAX_BODY_BYTES",
    secret: false,
    type: "whole number, bytes",
    default: String(MAX_BODY_BYTES.default),
    allowed: `${range(MAX_BODY_BYTES)} (100 MiB: Cloudflare's request body limit on Free and Pro plans; chunked bodies are buffered up to it)`,
    description: "Largest request body forwarded; larger bodies get 413 payload_too_large.",
  },
  {
    name: "LIMITER_FAIL_OPEN",
    secret: false,
    type: "comma list",
    default: DEFAULT_FAIL_OPEN,
    allowed: `any of ${ROUTE_CLASSES.join(", ")}, comma-separated; "" or "none" = no class`,
    description:
      "Route classes that go through (counted once the limiter is back) when a key's KeyLimiter cannot be reached; every other class answers 503 limiter_unavailable. Unknown names are an error.",
  },
  {
    name: "FAILED_AUTH_LIMIT",
    secret: false,
    type: "whole number",
    default: String(FAILED_AUTH_LIMIT.default),
    allowed: range(FAILED_AUTH_LIMIT),
    description:
      "Failed authentications (unknown, revoked or expired keys) per client address (IPv6 per /64) and window; past it the address gets 429 too_many_failed_attempts for further failing keys until the window ends (its valid keys are still served). 0 turns the guard off.",
  },
  {
    name: "FAILED_AUTH_WINDOW_S",
    secret: false,
    type: "whole number, s",
    default: String(FAILED_AUTH_WINDOW_S.default),
    allowed: `${range(FAILED_AUTH_WINDOW_S)} (checked even when the guard is off)`,
    description: "The window of FAILED_AUTH_LIMIT.",
  },
  {
    name: "LEASE_MS",
    secret: false,
    type: "whole number, ms",
    default: String(LEASE_MS.default),
    allowed: range(LEASE_MS),
    description:
      "Longest life of a token lease: an isolate that sees a key's event-ingestion traffic often admits it from a few tokens leased from the key's object, with no call per request. A change to the key (revoke, scopes, origins, limits) stops such a key within this time; 0 = no leases, every change in force on the next request.",
  },
  {
    name: "KEY_HASH_SECRET",
    secret: true,
    type: "string",
    default: null,
    allowed: `required, at least ${MIN_SECRET_LENGTH} characters`,
    description: "Keys are stored as HMAC-SHA-256(this, key); a key derived from it signs dashboard sessions. Changing it invalidates every key and session.",
  },
  {
    name: "ORIGIN_SIGNING_SECRET",
    secret: true,
    type: "string",
    default: null,
    allowed: `required, at least ${MIN_SECRET_LENGTH} characters`,
    description: "Shared with the origin, which verifies X-Composite-Signature with it.",
  },
  {
    name: "OPERATOR_TOKEN",
    secret: true,
    type: "string",
    default: "",
    allowed: `"" (operator API off), or at least ${MIN_SECRET_LENGTH} characters`,
    description: "Bearer token of the operator API (/_operator/*); unset or \"\" = the operator API refuses every call.",
  },
];

// ---------------------------------------------------------------------------------------------
// The schema. Every message is written here (zod's own never reaches the user), and a secret's
// messages never include its value.

/** A non-secret value as shown in an error: quoted, cut short when long. */
function shown(value: string): string {
  const limit = 60;
  return value.length <= limit ? JSON.stringify(value) : `${JSON.stringify(value.slice(0, limit))}… (${value.length} characters)`;
}

function kindOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  const type = typeof value;
  return `${/^[aeiou]/.test(type) ? "an" : "a"} ${type}`;
}

/** The message for a value that is not a string (a JSON var in wrangler.jsonc, or a bad binding). */
function notAString(example: string) {
  return (issue: { input?: unknown }) => `expected a string such as ${JSON.stringify(example)} (quote it in wrangler.jsonc vars), got ${kindOf(issue.input)}`;
}

const CANONICAL_WHOLE_NUMBER = /^(0|[1-9][0-9]*)$/;

function wholeNumber(spec: WholeNumberSpec) {
  const unit = spec.unit ? ` of ${spec.unit}s` : "";
  const meaning = spec.minMeaning ? ` (${spec.min} = ${spec.minMeaning})` : "";
  const expected = `expected a whole number${unit} from ${spec.min}${meaning} to ${spec.max}`;
  const got = (input: unknown) => {
    const text = String(input);
    return `got ${shown(text)}${text === "" ? ` (leave the var out for the default, ${spec.default})` : ""}`;
  };
  return z
    .string({ error: notAString(String(spec.default)) })
    .regex(CANONICAL_WHOLE_NUMBER, { error: (issue) => `${expected}, written in digits only, ${got(issue.input)}`, abort: true })
    .refine((text) => Number(text) >= spec.min && Number(text) <= spec.max, { error: (issue) => `${expected}, ${got(issue.input)}` })
    .transform(Number)
    .prefault(String(spec.default));
}

function originUrlProblem(raw: string): string | null {
  const expected = 'expected "" or an http:// or https:// URL such as "https://api.example.com"';
  if (raw.trim() !== raw) return `${expected}, without surrounding spaces, got ${shown(raw)}`;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return `${expected}, got ${shown(raw)}`;
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return `${expected}, got ${shown(raw)}`;
  // Not repeated: it may carry a credential.
  if (url.username !== "" || url.password !== "") return `${expected}, got a URL with a user name or password (the origin authenticates the gateway by X-Composite-Signature)`;
  if (/[?#]/.test(raw)) return `${expected}, got a URL with a query or fragment (only a path prefix may follow the host)`;
  return null;
}

const originUrl = z
  .string({ error: notAString("https://api.example.com") })
  .transform((raw, ctx) => {
    if (raw === "") return null;
    const problem = originUrlProblem(raw);
    if (problem !== null) {
      ctx.addIssue({ code: "custom", message: problem, input: raw });
      return z.NEVER;
    }
    const url = new URL(raw);
    return url.origin + url.pathname.replace(/\/+$/, "");
  })
  .prefault("");

const failOpenClasses = z
  .string({ error: notAString(DEFAULT_FAIL_OPEN) })
  .transform((raw, ctx): ReadonlySet<RouteClass> => {
    const listed = raw.trim();
    if (listed === "" || listed === "none") return new Set();
    const entries = listed.split(",").map((entry) => entry.trim());
    const expected = `expected a comma list of ${ROUTE_CLASSES.join(", ")}, or "none"`;
    const unknown = entries.filter((entry) => entry !== "" && entry !== "none" && !(ROUTE_CLASSES as readonly string[]).includes(entry));
    const wrong = [
      ...(unknown.length > 0 ? [`unknown route class${unknown.length > 1 ? "es" : ""} ${unknown.map(shown).join(", ")}`] : []),
      ...(entries.includes("") ? [`an empty entry in ${shown(raw)}`] : []),
      ...(entries.includes("none") ? [`"none" together with route classes`] : []),
    ];
    if (wrong.length > 0) {
      ctx.addIssue({ code: "custom", message: `${expected}, got ${wrong.join(" and ")}`, input: raw });
      return z.NEVER;
    }
    return new Set(entries as RouteClass[]);
  })
  .prefault(DEFAULT_FAIL_OPEN);

const putSecret = (name: ConfigVariableName) =>
  `set it with \`npx wrangler secret put ${name}\` (locally in .dev.vars; generate one with \`openssl rand -base64 32\`)`;

/** A required secret. Its messages never include its value. */
function requiredSecret(name: ConfigVariableName) {
  return z
    .string({ error: (issue) => (issue.input === undefined ? `missing: ${putSecret(name)}` : "expected a string") })
    .min(MIN_SECRET_LENGTH, {
      error: (issue) =>
        issue.input === "" ? `empty: ${putSecret(name)}` : `too short: expected at least ${MIN_SECRET_LENGTH} characters; ${putSecret(name)}`,
    });
}

/** OPERATOR_TOKEN: absent or "" = off; its messages never include its value. */
const operatorToken = z
  .string({ error: "expected a string" })
  .refine((token) => token === "" || token.length >= MIN_SECRET_LENGTH, {
    error: `too short: expected "" (operator API off) or at least ${MIN_SECRET_LENGTH} characters; ${putSecret("OPERATOR_TOKEN")}`,
  })
  .transform((token) => (token === "" ? null : token))
  .prefault("");

const schema = z
  .object({
    ORIGIN_URL: originUrl,
    ORIGIN_TIMEOUT_MS: wholeNumber(ORIGIN_TIMEOUT_MS),
    MAX_BODY_BYTES: wholeNumber(MAX_BODY_BYTES),
    LIMITER_FAIL_OPEN: failOpenClasses,
    FAILED_AUTH_LIMIT: wholeNumber(FAILED_AUTH_LIMIT),
    FAILED_AUTH_WINDOW_S: wholeNumber(FAILED_AUTH_WINDOW_S),
    LEASE_MS: wholeNumber(LEASE_MS),
    KEY_HASH_SECRET: requiredSecret("KEY_HASH_SECRET"),
    ORIGIN_SIGNING_SECRET: requiredSecret("ORIGIN_SIGNING_SECRET"),
    OPERATOR_TOKEN: operatorToken,
  } satisfies Record<ConfigVariableName, z.ZodType>)
  .transform(
    (vars): Config =>
      Object.freeze({
        originUrl: vars.ORIGIN_URL,
        originTimeoutMs: vars.ORIGIN_TIMEOUT_MS,
        maxBodyBytes: vars.MAX_BODY_BYTES,
        failOpenClasses: vars.LIMITER_FAIL_OPEN,
        failedAuth: vars.FAILED_AUTH_LIMIT === 0 ? null : Object.freeze({ limit: vars.FAILED_AUTH_LIMIT, windowMs: vars.FAILED_AUTH_WINDOW_S * 1000 }),
        leaseMs: vars.LEASE_MS,
        keyHashSecret: vars.KEY_HASH_SECRET,
        originSigningSecret: vars.ORIGIN_SIGNING_SECRET,
        operatorToken: vars.OPERATOR_TOKEN,
      }),
  );

// ---------------------------------------------------------------------------------------------

export interface ConfigProblem {
  readonly variable: ConfigVariableName;
  /** What is wrong and what is expected; for a secret, never its value. */
  readonly problem: string;
}

/** A bad configuration: names every offending variable. Safe to log (no secret values in it). */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  readonly problems: readonly ConfigProblem[];

  constructor(problems: readonly ConfigProblem[]) {
    const lines = problems.map(({ variable, problem }) => `  ${variable}: ${problem}`);
    super(`Invalid gateway configuration (see README "Configure"):\n${lines.join("\n")}`);
    this.problems = problems;
  }
}

/** The variables configOf reads; an Env has them all. */
export type ConfigSource = Pick<Env, ConfigVariableName>;

const NAMES: readonly ConfigVariableName[] = CONFIG_VARIABLES.map((variable) => variable.name);

/** Parsed once per env object: the runtime hands every request of an isolate the same one. */
const parsed = new WeakMap<object, Config | ConfigError>();

/** The configuration of this env, or a ConfigError (the same one on every call) when a value is bad. */
export function configOf(env: ConfigSource): Config {
  let result = parsed.get(env);
  if (result === undefined) {
    result = parse(env);
    parsed.set(env, result);
  }
  if (result instanceof ConfigError) throw result;
  return result;
}

function parse(env: ConfigSource): Config | ConfigError {
  // Only the vars and secrets are read: the bindings are not zod's business.
  const vars: Record<string, unknown> = {};
  for (const name of NAMES) vars[name] = env[name];
  const result = schema.safeParse(vars);
  if (result.success) return result.data;
  return new ConfigError(
    result.error.issues.map((issue) => ({ variable: issue.path[0] as ConfigVariableName, problem: issue.message })),
  );
}
