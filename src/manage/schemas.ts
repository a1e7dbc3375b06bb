/**
 * Request and answer shapes of the management and operator APIs, once: zod schemas that
 * validate the requests (400 `invalid_request` naming the fields) and describe them in the
 * OpenAPI document (/openapi.json).
 */
import { z } from "@hono/zod-openapi";
import { GatewayError } from "../http/problem";
import type { KeyChanges, KeyRecord, NewKey } from "../lifecycle";
import { SCOPES } from "../policy/routes";
import { MAX_LIMITS, PLAN_NAMES } from "../policy/plans";

export const scopeSchema = z.enum(SCOPES, {
  error: () => `unknown scope; valid scopes are ${SCOPES.join(", ")}`,
});

/** A browser origin as the Origin header carries it: scheme://host[:port], nothing more. */
export const originSchema = z
  .string()
  .refine(
    (value) => {
      try {
        const url = new URL(value);
        return (url.protocol === "https:" || url.protocol === "http:") && url.origin === value;
      } catch {
        return false;
      }
    },
    { message: "must be an origin like https://app.example.com (scheme and host, no path or trailing slash)" },
  )
  .openapi({ example: "https://app.example.com" });

const label = z.string().trim().min(1).max(200);
const atLeastOneScope = { error: "list at least one scope, or leave scopes out for an unrestricted key" };

const keyFields = {
  type: z.enum(["public", "secret"]).openapi({ description: "`public` (pk_) for browsers and apps, `secret` (sk_) for servers" }),
  environment: z.enum(["test", "live"]),
  label,
  scopes: z
    .array(scopeSchema)
    .min(1, atLeastOneScope)
    .optional()
    .openapi({ description: "Secret keys only; omit for an unrestricted key" }),
  expires_at: z
    .union([z.iso.datetime({ offset: true }), z.iso.date()], {
      error: "expected an ISO 8601 date-time (2027-01-31T12:00:00Z) or date (2027-01-31, meaning 00:00 UTC)",
    })
    .optional()
    .openapi({ description: "ISO 8601 date-time, or a date (00:00 UTC that day); the key answers expired_api_key from then on" }),
  allowed_origins: z.array(originSchema).min(1).optional().openapi({ description: "Public keys only; omit for any origin" }),
};

type KeyFields = { type: "public" | "secret"; scopes?: unknown[]; allowed_origins?: unknown[]; expires_at?: string };

function keyRules(key: KeyFields, ctx: z.RefinementCtx): void {
  if (key.type === "public" && key.scopes !== undefined) {
    ctx.addIssue({ code: "custom", path: ["scopes"], message: "public keys have a fixed permission set; scopes apply to secret keys only" });
  }
  if (key.type === "secret" && key.allowed_origins !== undefined) {
    ctx.addIssue({ code: "custom", path: ["allowed_origins"], message: "allowed_origins applies to public keys only" });
  }
  if (key.expires_at !== undefined && Date.parse(key.expires_at) <= Date.now()) {
    ctx.addIssue({ code: "custom", path: ["expires_at"], message: "must be in the future" });
  }
}

export const newKeyBody = z.strictObject(keyFields).superRefine(keyRules).openapi("NewApiKey");
export const operatorNewKeyBody = z.strictObject({ project_id: z.string().min(1), ...keyFields }).superRefine(keyRules);

export const keyChangesBody = z
  .strictObject({
    label: label.optional(),
    scopes: z.array(scopeSchema).min(1, atLeastOneScope).nullable().optional().openapi({ description: "null makes a secret key unrestricted" }),
    allowed_origins: z.array(originSchema).min(1).nullable().optional().openapi({ description: "null allows any origin" }),
  })
  .refine((changes) => Object.keys(changes).length > 0, { message: "name at least one of label, scopes, allowed_origins" })
  .openapi("ApiKeyChanges");

const limit = (max: number) => z.number().int().positive().max(max).nullable().optional();
export const limitChangesBody = z
  .strictObject({ rate: limit(MAX_LIMITS.rate), burst: limit(MAX_LIMITS.burst), daily: limit(MAX_LIMITS.daily) })
  .refine((changes) => Object.keys(changes).length > 0, { message: "name at least one of rate, burst, daily (null restores the default)" });

const planLimit = (max: number) => z.number().int().positive().max(max).optional();
const planTypeLimits = z.strictObject({ rate: planLimit(MAX_LIMITS.rate), burst: planLimit(MAX_LIMITS.burst), daily: planLimit(MAX_LIMITS.daily) });

/**
 * PUT /_operator/projects/:id/plan. A named plan takes no limits; `custom` takes limits per key
 * type, and what it leaves out stays as the project has it now.
 */
export const planBody = z
  .strictObject({
    plan: z.enum(PLAN_NAMES, { error: `must be one of ${PLAN_NAMES.join(", ")}` }),
    limits: z.strictObject({ public: planTypeLimits.optional(), secret: planTypeLimits.optional() }).optional(),
  })
  .superRefine((body, ctx) => {
    if (body.plan !== "custom" && body.limits !== undefined) {
      ctx.addIssue({ code: "custom", path: ["limits"], message: `the ${body.plan} plan's limits are fixed; limits apply to the custom plan only` });
    }
    if (body.plan === "custom" && (body.limits === undefined || (body.limits.public === undefined && body.limits.secret === undefined))) {
      ctx.addIssue({ code: "custom", path: ["limits"], message: "a custom plan needs limits: {public?: {rate?, burst?, daily?}, secret?: {…}} (what is left out stays as it is)" });
    }
  });

export const MAX_ROLL_SECONDS = 7 * 86_400;
export const rollBody = z
  .strictObject({
    expires_in: z
      .number()
      .int()
      .min(0)
      .max(MAX_ROLL_SECONDS, { message: `at most ${MAX_ROLL_SECONDS} seconds (7 days)` })
      .openapi({ description: "Seconds the old key keeps working (0 … 604800)" }),
  })
  .openapi("RollApiKey");

export const keyView = z
  .object({
    id: z.string().openapi({ example: "key_3kq0ZyXbW1mT8vR2nL5p" }),
    project_id: z.string(),
    type: z.enum(["public", "secret"]),
    environment: z.enum(["test", "live"]),
    label: z.string(),
    scopes: z.array(z.string()).nullable(),
    allowed_origins: z.array(z.string()).nullable(),
    prefix: z.string().openapi({ example: "sk_live_" }),
    last4: z.string().openapi({ example: "9LmN" }),
    display: z.string().openapi({ example: "sk_live_…9LmN" }),
    status: z.enum(["active", "revoked", "expired"]),
    created_at: z.string(),
    expires_at: z.string().nullable(),
    revoked_at: z.string().nullable(),
    last_used_at: z.string().nullable().openapi({ description: "Updated within seconds of use" }),
    age_days: z.number().int(),
    rotation_due: z.boolean().openapi({ description: "Older than 90 days: roll it" }),
    rolled_to: z.string().nullable(),
    rolled_from: z.string().nullable(),
    limits: z.object({ rate: z.number(), burst: z.number(), daily: z.number() }),
    plan: z.enum(PLAN_NAMES).openapi({ description: "The project's plan, whose defaults are the key's limits where an operator did not set its own" }),
  })
  .openapi("ApiKey");

export const createdKeyView = keyView
  .extend({ key: z.string().openapi({ description: "The key itself — shown this once, never again", example: "sk_live_…" }) })
  .openapi("CreatedApiKey");

export const usageDay = z.object({ day: z.string().openapi({ example: "2026-11-26" }), requests: z.number().int(), rejected: z.number().int() });

/** A key record as the API shows it: operator-only fields (limit overrides) left out. */
export function toKeyView(record: KeyRecord): z.infer<typeof keyView> {
  const { limit_overrides: _overrides, version: _version, plan_limits: _planLimits, plan_revision: _planRevision, ...view } = record;
  return view;
}

const unique = <T>(list: T[] | undefined | null) => (list === undefined || list === null ? (list ?? null) : [...new Set(list)]);

export function toNewKey(projectId: string, body: z.infer<typeof newKeyBody>): NewKey {
  return {
    projectId,
    type: body.type,
    environment: body.environment,
    label: body.label,
    scopes: unique(body.scopes),
    expiresAt: body.expires_at === undefined ? null : new Date(body.expires_at).toISOString(),
    allowedOrigins: unique(body.allowed_origins),
  };
}

/**
 * The changes for this key, refusing fields that do not apply to its type (which never changes).
 * Whether the key may still be changed at all (a revoked key may not) is its object's to say.
 */
export function toKeyChanges(record: Pick<KeyRecord, "type">, body: z.infer<typeof keyChangesBody>): KeyChanges {
  if (body.scopes != null && record.type === "public") {
    throw new GatewayError("invalid_request", "scopes: public keys have a fixed permission set; scopes apply to secret keys only");
  }
  if (body.allowed_origins != null && record.type === "secret") {
    throw new GatewayError("invalid_request", "allowed_origins: applies to public keys only");
  }
  return {
    label: body.label,
    scopes: body.scopes === undefined ? undefined : unique(body.scopes),
    allowedOrigins: body.allowed_origins === undefined ? undefined : unique(body.allowed_origins),
  };
}
