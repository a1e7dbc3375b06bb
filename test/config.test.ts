/** The configuration module: defaults, ranges, loud errors that never repeat a secret, parse-once caching. */
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  CONFIG_VARIABLES,
  ConfigError,
  configOf,
  MIN_SECRET_LENGTH,
  ROUTE_CLASSES,
  type Config,
  type ConfigSource,
  type ConfigVariableName,
} from "../src/config";
import { ROUTES } from "../src/policy/routes";

const SECRETS = {
  KEY_HASH_SECRET: "config-test-key-hash-secret",
  ORIGIN_SIGNING_SECRET: "config-test-origin-signing-secret",
};

/** A fresh env object (so nothing cached) with the required secrets and the given vars. */
function source(vars: Record<string, unknown> = {}): ConfigSource {
  return { ...SECRETS, ...vars } as ConfigSource;
}

const parse = (vars: Record<string, unknown> = {}): Config => configOf(source(vars));

/** The ConfigError configOf throws for these vars (fails the test if it returns). */
function errorOf(vars: Record<string, unknown>): ConfigError {
  try {
    parse(vars);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error(`expected a ConfigError for ${JSON.stringify(vars)}`);
}

const named = (error: ConfigError) => error.problems.map((problem) => problem.variable).sort();

/** Asserts exactly one problem, for this variable, named in the message. */
function expectOnly(vars: Record<string, unknown>, name: ConfigVariableName): string {
  const error = errorOf(vars);
  expect(named(error), error.message).toEqual([name]);
  expect(error.message).toContain(`${name}: `);
  return error.problems[0]!.problem;
}

const NUMBERS = {
  ORIGIN_TIMEOUT_MS: { min: 1, max: 300_000, default: 30_000 },
  MAX_BODY_BYTES: { min: 1, max: 104_857_600, default: 1_048_576 },
  FAILED_AUTH_LIMIT: { min: 0, max: 1_000_000, default: 30 },
  FAILED_AUTH_WINDOW_S: { min: 1, max: 86_400, default: 60 },
  LEASE_MS: { min: 0, max: 2_000, default: 1_000 },
} as const;
type NumberName = keyof typeof NUMBERS;
const NUMBER_NAMES = Object.keys(NUMBERS) as NumberName[];

const numberOf = (config: Config, name: NumberName): number | null =>
  ({
    ORIGIN_TIMEOUT_MS: config.originTimeoutMs,
    MAX_BODY_BYTES: config.maxBodyBytes,
    FAILED_AUTH_LIMIT: config.failedAuth?.limit ?? 0,
    FAILED_AUTH_WINDOW_S: config.failedAuth === null ? null : config.failedAuth.windowMs / 1000,
    LEASE_MS: config.leaseMs,
  })[name];

describe("defaults", () => {
  it("with only the required secrets set, every var has its documented default", () => {
    const config = parse();
    expect(config.originUrl).toBeNull();
    expect(config.originTimeoutMs).toBe(30_000);
    expect(config.maxBodyBytes).toBe(1_048_576);
    expect([...config.failOpenClasses]).toEqual(["ingest"]);
    expect(config.failedAuth).toEqual({ limit: 30, windowMs: 60_000 });
    expect(config.leaseMs).toBe(1_000);
    expect(config.keyHashSecret).toBe(SECRETS.KEY_HASH_SECRET);
    expect(config.originSigningSecret).toBe(SECRETS.ORIGIN_SIGNING_SECRET);
    expect(config.operatorToken).toBeNull();
  });

  it("setting every var to its CONFIG_VARIABLES default changes nothing", () => {
    const defaults = Object.fromEntries(CONFIG_VARIABLES.filter((v) => v.default !== null).map((v) => [v.name, v.default]));
    expect(parse(defaults)).toEqual(parse());
  });

  it("the test Worker's env (wrangler.jsonc vars, vitest.config.ts secrets) parses, and wrangler.jsonc says the defaults", () => {
    const config = configOf(env);
    expect(config.operatorToken).toBe("test-operator-token");
    expect(config.keyHashSecret).toBe("test-key-hash-secret");
    for (const variable of CONFIG_VARIABLES) {
      if (variable.secret) continue;
      expect(env[variable.name], variable.name).toBe(variable.default);
    }
  });

  it("the config is frozen", () => {
    const config = parse();
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.failedAuth)).toBe(true);
  });
});

describe("CONFIG_VARIABLES", () => {
  it("lists each variable once, with a type, allowed values and a description", () => {
    const names = CONFIG_VARIABLES.map((v) => v.name);
    expect(new Set(names).size).toBe(names.length);
    for (const variable of CONFIG_VARIABLES) {
      expect(variable.type.length, variable.name).toBeGreaterThan(0);
      expect(variable.allowed.length, variable.name).toBeGreaterThan(0);
      expect(variable.description.length, variable.name).toBeGreaterThan(0);
    }
    expect(CONFIG_VARIABLES.filter((v) => v.secret).map((v) => v.name)).toEqual(["KEY_HASH_SECRET", "ORIGIN_SIGNING_SECRET", "OPERATOR_TOKEN"]);
    expect(CONFIG_VARIABLES.filter((v) => v.default === null).map((v) => v.name)).toEqual(["KEY_HASH_SECRET", "ORIGIN_SIGNING_SECRET"]);
  });

  it("every listed variable is checked: one bad value each, all named at once, each once", () => {
    const bad = Object.fromEntries(CONFIG_VARIABLES.map((v) => [v.name, "bad!"]));
    const error = errorOf(bad);
    expect(named(error)).toEqual(CONFIG_VARIABLES.map((v) => v.name).sort());
    for (const variable of CONFIG_VARIABLES) expect(error.message).toContain(`${variable.name}: `);
  });

  it("the number ranges in the table are the ones enforced", () => {
    for (const name of NUMBER_NAMES) {
      const { min, max } = NUMBERS[name];
      expect(CONFIG_VARIABLES.find((v) => v.name === name)!.allowed).toContain(`${min}–${max}`);
    }
  });

  it("ROUTE_CLASSES are exactly the classes of the route table", () => {
    expect(new Set(ROUTES.map((route) => route.class))).toEqual(new Set(ROUTE_CLASSES));
  });
});

describe("numbers", () => {
  const NOT_NUMBERS = ["", " ", "abc", "30abc", "1.5", "1.0", "-1", "+1", " 30", "30 ", "1e3", "030", "00", "0x10", "1_000", "1,000", "Infinity", "NaN", "٣٠"];

  for (const name of NUMBER_NAMES) {
    const { min, max } = NUMBERS[name];
    describe(name, () => {
      it("accepts the whole range, edges included", () => {
        for (const value of [min, max, Math.floor((min + max) / 2)]) {
          const config = parse({ [name]: String(value), FAILED_AUTH_LIMIT: name === "FAILED_AUTH_LIMIT" ? String(value) : "1" });
          if (name === "FAILED_AUTH_LIMIT" && value === 0) expect(config.failedAuth).toBeNull();
          else expect(numberOf(config, name)).toBe(value);
        }
      });

      it("refuses anything that is not a canonical whole number, naming the variable and the value", () => {
        for (const value of NOT_NUMBERS) {
          const problem = expectOnly({ [name]: value }, name);
          expect(problem).toContain("expected a whole number");
          expect(problem).toContain(`got ${JSON.stringify(value)}`);
        }
        expect(expectOnly({ [name]: "" }, name)).toContain(`leave the var out for the default, ${NUMBERS[name].default}`);
      });

      it("refuses values out of range, saying the range", () => {
        const outside = [max + 1, 10 * max, 2 ** 53 + 1].map(String);
        if (min > 0) outside.push(String(min - 1));
        outside.push("9".repeat(400));
        for (const value of outside) expect(expectOnly({ [name]: value }, name)).toContain(`from ${min}`);
        expect(expectOnly({ [name]: String(max + 1) }, name)).toContain(`to ${max}`);
      });

      it("refuses a non-string (a JSON number in wrangler.jsonc vars), asking for quotes", () => {
        expect(expectOnly({ [name]: 30 }, name)).toMatch(/expected a string .*got a number/);
      });
    });
  }

  it("FAILED_AUTH_LIMIT=0 turns the failed-auth guard off (it used to become 30)", () => {
    expect(parse({ FAILED_AUTH_LIMIT: "0" }).failedAuth).toBeNull();
    expect(parse({ FAILED_AUTH_LIMIT: "1", FAILED_AUTH_WINDOW_S: "5" }).failedAuth).toEqual({ limit: 1, windowMs: 5000 });
  });

  it("with the guard off, FAILED_AUTH_WINDOW_S is still checked", () => {
    expectOnly({ FAILED_AUTH_LIMIT: "0", FAILED_AUTH_WINDOW_S: "0" }, "FAILED_AUTH_WINDOW_S");
  });
});

describe("ORIGIN_URL", () => {
  it('"" or absent is none', () => {
    expect(parse({ ORIGIN_URL: "" }).originUrl).toBeNull();
    expect(parse({}).originUrl).toBeNull();
  });

  it("an http(s) URL, normalised to no trailing slash, path prefix kept", () => {
    expect(parse({ ORIGIN_URL: "https://api.example.com" }).originUrl).toBe("https://api.example.com");
    expect(parse({ ORIGIN_URL: "https://api.example.com/" }).originUrl).toBe("https://api.example.com");
    expect(parse({ ORIGIN_URL: "http://127.0.0.1:9" }).originUrl).toBe("http://127.0.0.1:9");
    expect(parse({ ORIGIN_URL: "https://API.example.com:443/base//" }).originUrl).toBe("https://api.example.com/base");
  });

  it("refuses anything else, naming the variable", () => {
    for (const value of [" ", "api.example.com", "ftp://example.com", "https://", "javascript:alert(1)", " https://api.example.com", "https://api.example.com/ "]) {
      expect(expectOnly({ ORIGIN_URL: value }, "ORIGIN_URL")).toContain("http:// or https:// URL");
    }
    expect(expectOnly({ ORIGIN_URL: "https://api.example.com/?x=1" }, "ORIGIN_URL")).toContain("query or fragment");
    expect(expectOnly({ ORIGIN_URL: "https://api.example.com/#top" }, "ORIGIN_URL")).toContain("query or fragment");
    expectOnly({ ORIGIN_URL: 1 }, "ORIGIN_URL");
  });

  it("does not repeat a URL with credentials", () => {
    const error = errorOf({ ORIGIN_URL: "https://admin:pa55word@api.example.com" });
    expect(named(error)).toEqual(["ORIGIN_URL"]);
    expect(error.message).toContain("user name or password");
    expect(error.message).not.toContain("pa55word");
  });

  it("property: any string is none, a normalised http(s) URL, or a ConfigError naming ORIGIN_URL", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.webUrl({ withQueryParameters: true, withFragments: true }), fc.webUrl()), (value) => {
        let config: Config;
        try {
          config = parse({ ORIGIN_URL: value });
        } catch (error) {
          expect(error).toBeInstanceOf(ConfigError);
          expect(named(error as ConfigError)).toEqual(["ORIGIN_URL"]);
          return;
        }
        if (value === "") expect(config.originUrl).toBeNull();
        else {
          expect(config.originUrl).toMatch(/^https?:\/\/[^/?#]+(\/[^?#]*[^/?#])?$/);
          expect(new URL(config.originUrl!).origin).toBe(new URL(value).origin);
        }
      }),
      { numRuns: 1000 },
    );
  });
});

describe("LIMITER_FAIL_OPEN", () => {
  const classes = (value: string) => [...parse({ LIMITER_FAIL_OPEN: value }).failOpenClasses].sort();

  it('a comma list of classes; "" and "none" mean no class', () => {
    expect(classes("ingest")).toEqual(["ingest"]);
    expect(classes(" ingest , read ")).toEqual(["ingest", "read"]);
    expect(classes("admin,write,read,ingest,read")).toEqual(["admin", "ingest", "read", "write"]);
    expect(classes("")).toEqual([]);
    expect(classes("none")).toEqual([]);
    expect(classes(" none ")).toEqual([]);
  });

  it("refuses unknown classes, naming every one of them", () => {
    const problem = expectOnly({ LIMITER_FAIL_OPEN: "ingest,bogus,Read" }, "LIMITER_FAIL_OPEN");
    expect(problem).toContain('"bogus"');
    expect(problem).toContain('"Read"');
    expect(problem).not.toContain('"ingest"');
    expect(problem).toContain("ingest, read, write, admin");
  });

  it('refuses empty entries and "none" mixed with classes', () => {
    expect(expectOnly({ LIMITER_FAIL_OPEN: "ingest," }, "LIMITER_FAIL_OPEN")).toContain("empty entry");
    expect(expectOnly({ LIMITER_FAIL_OPEN: ",read" }, "LIMITER_FAIL_OPEN")).toContain("empty entry");
    expect(expectOnly({ LIMITER_FAIL_OPEN: "none,ingest" }, "LIMITER_FAIL_OPEN")).toContain('"none" together');
    const both = expectOnly({ LIMITER_FAIL_OPEN: "ingest,Read," }, "LIMITER_FAIL_OPEN");
    expect(both).toContain('unknown route class "Read"');
    expect(both).toContain("empty entry");
    expectOnly({ LIMITER_FAIL_OPEN: ["ingest"] }, "LIMITER_FAIL_OPEN");
  });
});

describe("secrets", () => {
  it("KEY_HASH_SECRET and ORIGIN_SIGNING_SECRET are required, non-empty, at least MIN_SECRET_LENGTH characters", () => {
    for (const name of ["KEY_HASH_SECRET", "ORIGIN_SIGNING_SECRET"] as const) {
      expect(expectOnly({ [name]: undefined }, name)).toContain("missing");
      expect(expectOnly({ [name]: "" }, name)).toContain("empty");
      expect(expectOnly({ [name]: "x".repeat(MIN_SECRET_LENGTH - 1) }, name)).toContain("too short");
      expect(expectOnly({ [name]: 12345678901234567890 }, name)).toContain("expected a string");
      expect(parse({ [name]: "x".repeat(MIN_SECRET_LENGTH) })).toBeDefined();
    }
  });

  it('OPERATOR_TOKEN: absent or "" turns the operator API off; set, it must be long enough', () => {
    expect(parse({}).operatorToken).toBeNull();
    expect(parse({ OPERATOR_TOKEN: "" }).operatorToken).toBeNull();
    expect(parse({ OPERATOR_TOKEN: "t".repeat(MIN_SECRET_LENGTH) }).operatorToken).toBe("t".repeat(MIN_SECRET_LENGTH));
    expect(expectOnly({ OPERATOR_TOKEN: "short" }, "OPERATOR_TOKEN")).toContain("too short");
    expect(expectOnly({ OPERATOR_TOKEN: " " }, "OPERATOR_TOKEN")).toContain("too short");
  });

  it("the secrets of tests, `npm run dev` (43 characters) and the bench are long enough", () => {
    const used = ["test-key-hash-secret", "test-origin-signing-secret", "test-operator-token", "bench-operator-token-0123456789abcdef", "A".repeat(43)];
    for (const secret of used) expect(secret.length).toBeGreaterThanOrEqual(MIN_SECRET_LENGTH);
  });

  it("a secret's value never appears in an error, however it is wrong", () => {
    const values = { KEY_HASH_SECRET: "HUNTER2-KEYHASH", ORIGIN_SIGNING_SECRET: "HUNTER2-SIGNING", OPERATOR_TOKEN: "HUNTER2-OPERATR" };
    for (const value of Object.values(values)) expect(value.length).toBeLessThan(MIN_SECRET_LENGTH);
    const error = errorOf({ ...values, FAILED_AUTH_LIMIT: "abc" });
    expect(named(error)).toEqual(["FAILED_AUTH_LIMIT", "KEY_HASH_SECRET", "OPERATOR_TOKEN", "ORIGIN_SIGNING_SECRET"]);
    for (const text of [error.message, JSON.stringify(error.problems), String(error.stack)]) {
      expect(text).not.toContain("HUNTER2");
    }
  });
});

describe("several bad values", () => {
  it("are all named in one error, each with what is wrong and what is expected", () => {
    const error = errorOf({ ORIGIN_TIMEOUT_MS: "30s", MAX_BODY_BYTES: "-1", LIMITER_FAIL_OPEN: "ingest,reads", FAILED_AUTH_LIMIT: "1.5", KEY_HASH_SECRET: undefined });
    expect(named(error)).toEqual(["FAILED_AUTH_LIMIT", "KEY_HASH_SECRET", "LIMITER_FAIL_OPEN", "MAX_BODY_BYTES", "ORIGIN_TIMEOUT_MS"]);
    expect(error.name).toBe("ConfigError");
    expect(error.message).toContain('ORIGIN_TIMEOUT_MS: expected a whole number of milliseconds from 1 to 300000, written in digits only, got "30s"');
    expect(error.message).toContain('MAX_BODY_BYTES: expected a whole number of bytes from 1 to 104857600, written in digits only, got "-1"');
    expect(error.message).toContain('FAILED_AUTH_LIMIT: expected a whole number from 0 (0 = the guard off) to 1000000, written in digits only, got "1.5"');
    expect(error.message).toContain('LIMITER_FAIL_OPEN: expected a comma list of ingest, read, write, admin, or "none", got unknown route class "reads"');
    expect(error.message).toContain("KEY_HASH_SECRET: missing: set it with `npx wrangler secret put KEY_HASH_SECRET`");
  });
});

describe("parsed once per env object", () => {
  it("the same env object gives the same Config instance; another object is parsed anew", () => {
    const one = source({ FAILED_AUTH_LIMIT: "5" });
    const config = configOf(one);
    expect(configOf(one)).toBe(config);
    const other = { ...one };
    expect(configOf(other)).not.toBe(config);
    expect(configOf(other)).toEqual(config);
    expect(configOf(env)).toBe(configOf(env));
  });

  it("a bad env throws the same ConfigError every time", () => {
    const bad = source({ MAX_BODY_BYTES: "lots" });
    const first = (() => {
      try {
        configOf(bad);
      } catch (error) {
        return error;
      }
    })();
    expect(first).toBeInstanceOf(ConfigError);
    expect(() => configOf(bad)).toThrow(first as ConfigError);
  });
});

describe("property: a number var is its canonical value in range, or a ConfigError naming it — never a default", () => {
  const values = fc.oneof(
    fc.string(),
    fc.string({ unit: "binary" }),
    fc.stringMatching(/^[0-9]{1,10}$/),
    fc.integer({ min: -1000, max: 200_000_000 }).map(String),
    fc.double().map(String),
    fc.constantFrom("", " ", "0", "00", "-0", "1", "30", "60", "30000", "1048576", "1e3", "0x1f", "+5", "5 ", "٣٠", "Infinity", "NaN"),
  );

  for (const name of NUMBER_NAMES) {
    it(name, () => {
      const { min, max } = NUMBERS[name];
      fc.assert(
        fc.property(values, (value) => {
          // FAILED_AUTH_LIMIT 1 keeps the window observable when the window is the one under test.
          const vars = name === "FAILED_AUTH_WINDOW_S" ? { [name]: value, FAILED_AUTH_LIMIT: "1" } : { [name]: value };
          const valid = /^(0|[1-9][0-9]*)$/.test(value) && Number(value) >= min && Number(value) <= max;
          let config: Config;
          try {
            config = parse(vars);
          } catch (error) {
            expect(error).toBeInstanceOf(ConfigError);
            expect(named(error as ConfigError)).toEqual([name]);
            expect(valid).toBe(false);
            return;
          }
          expect(valid).toBe(true);
          expect(numberOf(config, name)).toBe(Number(value));
        }),
        { numRuns: 1000 },
      );
    });
  }
});
