/**
 * Operator API (API.md §6): `/_operator/*`, authenticated by the OPERATOR_TOKEN secret and
 * compared in constant time. Creates projects and their first keys, lists and revokes keys.
 * Deny by default: with no OPERATOR_TOKEN configured every call is refused.
 */
import { Hono, type MiddlewareHandler } from "hono";
import { z } from "zod";
import type { AppEnv } from "../env";
import { secretsEqual } from "../crypto/hmac";
import { GatewayError } from "../http/problem";
import {
  createKey,
  createProject,
  getKey,
  getProject,
  listKeys,
  listProjects,
  revokeKey,
  setKeyLimits,
  updateKey,
} from "../keys/key-records";
import { originSchema, scopeSchema, validate } from "./validation";

const OPERATOR_CHALLENGE = 'Bearer realm="composite-operator"';

const requireOperator: MiddlewareHandler<AppEnv> = async function requireOperator(c, next) {
  const expected = c.env.OPERATOR_TOKEN;
  if (!expected) {
    throw new GatewayError("operator_api_disabled", "The operator API is off: set the OPERATOR_TOKEN secret to turn it on.");
  }
  const header = c.req.header("authorization") ?? "";
  const presented = header.toLowerCase().startsWith("bearer ") ? header.slice(7) : "";
  if (!(await secretsEqual(presented, expected))) {
    throw new GatewayError("invalid_operator_token", "Send the operator token as `Authorization: Bearer <OPERATOR_TOKEN>`.", {
      headers: { "www-authenticate": OPERATOR_CHALLENGE },
    });
  }
  await next();
};

const newProject = z.strictObject({ name: z.string().trim().min(1).max(200) });

const newKey = z
  .strictObject({
    project_id: z.string().min(1),
    type: z.enum(["public", "secret"]),
    environment: z.enum(["test", "live"]),
    label: z.string().trim().min(1).max(200),
    scopes: z.array(scopeSchema).min(1).optional(),
    expires_at: z.iso.datetime({ offset: true }).optional(),
    allowed_origins: z.array(originSchema).min(1).optional(),
  })
  .refine((key) => key.type === "secret" || key.scopes === undefined, {
    path: ["scopes"],
    message: "public keys have a fixed permission set; scopes apply to secret keys only",
  })
  .refine((key) => key.type === "public" || key.allowed_origins === undefined, {
    path: ["allowed_origins"],
    message: "allowed_origins applies to public keys only",
  })
  .refine((key) => key.expires_at === undefined || Date.parse(key.expires_at) > Date.now(), {
    path: ["expires_at"],
    message: "must be in the future",
  });

const keyListQuery = z.object({ project_id: z.string().min(1) });

const keyChanges = z
  .strictObject({
    label: z.string().trim().min(1).max(200).optional(),
    scopes: z.array(scopeSchema).min(1).nullable().optional(),
    allowed_origins: z.array(originSchema).min(1).nullable().optional(),
  })
  .refine((changes) => Object.keys(changes).length > 0, { message: "name at least one of label, scopes, allowed_origins" });

const limit = (max: number) => z.number().int().positive().max(max).nullable().optional();
const limitChanges = z
  .strictObject({ rate: limit(1_000_000), burst: limit(10_000_000), daily: limit(1_000_000_000) })
  .refine((changes) => Object.keys(changes).length > 0, { message: "name at least one of rate, burst, daily (null restores the default)" });

export const operatorApi = new Hono<AppEnv>()
  .get("/health", (c) => c.json({ ok: true }))
  .use(requireOperator)
  .post("/projects", validate("json", newProject), async (c) => {
    return c.json(await createProject(c.env.DB, c.req.valid("json").name), 201);
  })
  .get("/projects", async (c) => c.json({ data: await listProjects(c.env.DB) }))
  .post("/keys", validate("json", newKey), async (c) => {
    const input = c.req.valid("json");
    if ((await getProject(c.env.DB, input.project_id)) === null) {
      throw new GatewayError("not_found", "No project has this id. Create it first with `npm run keys -- project create`.");
    }
    const { record, key } = await createKey(c.env, {
      projectId: input.project_id,
      type: input.type,
      environment: input.environment,
      label: input.label,
      scopes: input.scopes === undefined ? null : [...new Set(input.scopes)],
      expiresAt: input.expires_at === undefined ? null : new Date(input.expires_at).toISOString(),
      allowedOrigins: input.allowed_origins === undefined ? null : [...new Set(input.allowed_origins)],
    });
    c.header("cache-control", "no-store");
    return c.json({ ...record, key }, 201);
  })
  .get("/keys", validate("query", keyListQuery), async (c) => {
    return c.json({ data: await listKeys(c.env.DB, c.req.valid("query").project_id) });
  })
  .get("/keys/:id", async (c) => c.json(found(await getKey(c.env.DB, c.req.param("id")))))
  .patch("/keys/:id", validate("json", keyChanges), async (c) => {
    const id = c.req.param("id");
    const changes = c.req.valid("json");
    const record = found(await getKey(c.env.DB, id));
    if (changes.scopes != null && record.type === "public") {
      throw new GatewayError("invalid_request", "scopes: public keys have a fixed permission set; scopes apply to secret keys only");
    }
    if (changes.allowed_origins != null && record.type === "secret") {
      throw new GatewayError("invalid_request", "allowed_origins: applies to public keys only");
    }
    const updated = await updateKey(c.env, id, {
      label: changes.label,
      scopes: changes.scopes === undefined ? undefined : changes.scopes && [...new Set(changes.scopes)],
      allowedOrigins: changes.allowed_origins === undefined ? undefined : changes.allowed_origins && [...new Set(changes.allowed_origins)],
    });
    return c.json(found(updated));
  })
  .put("/keys/:id/limits", validate("json", limitChanges), async (c) => {
    const id = c.req.param("id");
    const changes = c.req.valid("json");
    const record = found(await getKey(c.env.DB, id));
    const current = record.limit_overrides;
    const overrides = {
      rate: changes.rate === undefined ? current.rate : changes.rate,
      burst: changes.burst === undefined ? current.burst : changes.burst,
      daily: changes.daily === undefined ? current.daily : changes.daily,
    };
    return c.json(found(await setKeyLimits(c.env, id, overrides)));
  })
  .delete("/keys/:id", async (c) => c.json(found(await revokeKey(c.env, c.req.param("id")))));

function found<T>(value: T | null): T {
  if (value === null) throw new GatewayError("not_found", "No key has this id. List the project's keys to find it.");
  return value;
}
