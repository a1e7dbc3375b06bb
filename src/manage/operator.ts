/**
 * Operator API (API.md §6): `/_operator/*`, authenticated by the OPERATOR_TOKEN secret and
 * compared in constant time. Creates projects and their first keys, sets a project's plan, lists,
 * changes, rolls and revokes keys, sets per-key limits, reads usage and the audit log. Deny by default: with no OPERATOR_TOKEN
 * configured every call is refused, and plain HTTP to a non-local host is refused before the
 * token is looked at (403 https_required, as on the API).
 */
import { Hono, type Context, type MiddlewareHandler } from "hono";
import { z } from "zod";
import type { AppEnv } from "../context";
import { secretsEqual } from "../crypto/hmac";
import { GatewayError } from "../http/problem";
import { limitRequestBody } from "../http/body-limit";
import { requireHttps } from "../http/require-https";
import { configOf } from "../config";
import {
  createKey,
  createProject,
  customLimits,
  getProject,
  keyUsage,
  lastDays,
  listAudit,
  listKeys,
  listProjects,
  planLimits,
  projectUsage,
  readKey,
  revokeKey,
  rollKey,
  setKeyLimits,
  setProjectPlan,
  updateKey,
  type Actor,
  type AuditEntry,
  type KeyRecord,
  type Project,
} from "../lifecycle";
import { keyChangesBody, limitChangesBody, operatorNewKeyBody, planBody, rollBody, toKeyChanges, toNewKey } from "./schemas";
import { MAX_USAGE_DAYS } from "./api/v1_api_keys_usage";
import { day, usageRange } from "./api/v1_usage";
import { requireJsonBody, validate } from "./validation";

const OPERATOR_CHALLENGE = 'Bearer realm="composite-operator"';

const requireOperator: MiddlewareHandler<AppEnv> = async function requireOperator(c, next) {
  const expected = configOf(c.env).operatorToken;
  if (expected === null) {
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
const projectQuery = z.object({ project_id: z.string().min(1) });
const auditQuery = projectQuery.extend({ limit: z.coerce.number().int().min(1).max(1000).default(100) });
const projectUsageQuery = projectQuery.extend({ from: day.optional(), to: day.optional() });
const usageQuery = z.object({
  days: z.coerce
    .number({ error: "must be a whole number of days" })
    .int({ error: "must be a whole number of days" })
    .min(1, { error: "must be at least 1" })
    .max(MAX_USAGE_DAYS, { error: `must be at most ${MAX_USAGE_DAYS}` })
    .default(30),
});

/** The operator may change any key; only the audit entry says who did. */
function byOperator(c: Context<AppEnv>, action: AuditEntry["action"]): Actor {
  return { audit: { actor: "operator", action, ip: c.req.header("cf-connecting-ip") ?? null } };
}

const requireOperatorHttps: MiddlewareHandler<AppEnv> = async function requireOperatorHttps(c, next) {
  requireHttps(new URL(c.req.url), "operator token");
  await next();
};

export const operatorApi = new Hono<AppEnv>()
  .use(requireOperatorHttps)
  .get("/health", (c) => c.json({ ok: true }))
  .use(requireOperator)
  .use(limitRequestBody) // MAX_BODY_BYTES, chunked bodies included; after the token, so strangers send nothing to read
  .use(requireJsonBody)
  .post("/projects", validate("json", newProject), async (c) => {
    return c.json(await createProject(c.env.DB, c.req.valid("json").name, byOperator(c, "project.create").audit), 201);
  })
  .get("/projects", async (c) => c.json({ data: await listProjects(c.env.DB) }))
  .get("/projects/:id", async (c) => c.json(await existingProject(c)))
  .put("/projects/:id/plan", validate("json", planBody), async (c) => {
    const project = await existingProject(c);
    const body = c.req.valid("json");
    const limits = body.plan === "custom" ? customLimits(project.limits, body.limits!) : planLimits(body.plan, null);
    const { project: now, keys } = await setProjectPlan(c.env, project, { name: body.plan, limits }, byOperator(c, "project.plan"));
    return c.json({ ...now, keys });
  })
  .post("/keys", validate("json", operatorNewKeyBody), async (c) => {
    const { project_id, ...body } = c.req.valid("json");
    await requireProject(c, project_id);
    const { record, key } = await createKey(c.env, toNewKey(project_id, body), byOperator(c, "key.create"));
    c.header("cache-control", "no-store");
    return c.json({ ...record, key }, 201);
  })
  .get("/keys", validate("query", projectQuery), async (c) => {
    const { project_id } = c.req.valid("query");
    await requireProject(c, project_id);
    return c.json({ data: await listKeys(c.env.DB, project_id) });
  })
  .get("/keys/:id", async (c) => c.json(await existingKey(c)))
  .patch("/keys/:id", validate("json", keyChangesBody), async (c) => {
    const record = await existingKey(c);
    return c.json(await updateKey(c.env, record, toKeyChanges(record, c.req.valid("json")), byOperator(c, "key.update")));
  })
  .put("/keys/:id/limits", validate("json", limitChangesBody), async (c) => {
    return c.json(await setKeyLimits(c.env, await existingKey(c), c.req.valid("json"), byOperator(c, "key.limits")));
  })
  .post("/keys/:id/roll", validate("json", rollBody), async (c) => {
    const rolled = await rollKey(c.env, await existingKey(c), c.req.valid("json").expires_in, byOperator(c, "key.roll"));
    c.header("cache-control", "no-store");
    return c.json({ ...rolled.record, key: rolled.key }, 201);
  })
  .get("/keys/:id/usage", validate("query", usageQuery), async (c) => {
    const record = await existingKey(c);
    const { from, to } = lastDays(c.req.valid("query").days);
    return c.json({ key_id: record.id, data: await keyUsage(c.env.DB, record.id, from, to), last_used_at: record.last_used_at });
  })
  .delete("/keys/:id", async (c) => c.json(await revokeKey(c.env, await existingKey(c), byOperator(c, "key.revoke"))))
  .get("/usage", validate("query", projectUsageQuery), async (c) => {
    const { project_id, ...range } = c.req.valid("query");
    await requireProject(c, project_id);
    const { from, to } = usageRange(range);
    return c.json({ from, to, data: await projectUsage(c.env.DB, project_id, from, to, null) });
  })
  .get("/audit", validate("query", auditQuery), async (c) => {
    const { project_id, limit } = c.req.valid("query");
    await requireProject(c, project_id);
    return c.json({ data: await listAudit(c.env.DB, project_id, limit) });
  });

/** An unknown project is a 404, not an empty list: a mistyped id must not look like a project without keys. */
async function requireProject(c: Context<AppEnv>, projectId: string): Promise<void> {
  if ((await getProject(c.env.DB, projectId)) === null) {
    throw new GatewayError("not_found", "No project has this id. List projects with `npm run keys -- project list`, or create one with `npm run keys -- project create`.");
  }
}

async function existingProject(c: Context<AppEnv>): Promise<Project> {
  const project = await getProject(c.env.DB, c.req.param("id")!);
  if (project === null) {
    throw new GatewayError("not_found", "No project has this id. List projects with `npm run keys -- project list`.");
  }
  return project;
}

async function existingKey(c: Context<AppEnv>): Promise<KeyRecord> {
  const record = await readKey(c.env.DB, c.req.param("id")!);
  if (record === null) throw new GatewayError("not_found", "No key has this id. List the project's keys to find it.");
  return record;
}
