/**
 * The Analytics Dashboard (AUTH-DOCS "API Key Management"): sign in with a secret key of the
 * project, then Settings → API Keys — create (type, label, permissions; the key shown once),
 * rotate, revoke, and each key's permissions and usage. Server-rendered forms over the same
 * records, rules and audit log as the management API (API.md §5): a test key manages only test
 * keys, no key creates or changes one that can do more than itself, projects:write to change.
 *
 * Browser hardening: strict CSP with a per-response nonce, no framing, no caching (a new key is
 * on the page once), SameSite=Strict session cookie plus hono's CSRF check on every form post,
 * https except on loopback, failed sign-ins counted per client IP like failed API requests.
 */
import { Hono, type Context, type MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { csrf } from "hono/csrf";
import { raw } from "hono/html";
import { HTTPException } from "hono/http-exception";
import type { Child } from "hono/jsx";
import { NONCE, secureHeaders } from "hono/secure-headers";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { AppEnv, Manager } from "../context";
import { recordFailedAttempt, refuseIfBlocked } from "../guard/failed-auth";
import { GatewayError } from "../http/problem";
import { renderError } from "../http/request-context";
import { requireHttps } from "../http/require-https";
import { readPastedKey, requireWellFormed } from "../keys/credentials";
import {
  createKey,
  endSessions,
  keyOfPresented,
  keyUsage,
  lastDays,
  listAudit,
  listKeys,
  projectUsage,
  readKey,
  revokeKey,
  rollKey,
  sessionEpoch,
  updateKey,
  type AuditEntry,
  type KeyRecord,
} from "../lifecycle";
import { actorOf, requireEnvironment, visibleEnvironment, visibleKey } from "../manage/api/caller";
import { keyChangesBody, newKeyBody, rollBody, toKeyChanges, toNewKey } from "../manage/schemas";
import { invalidRequest } from "../manage/validation";
import { keyEditForm, newKeyForm, type FormBody } from "./forms";
import { ActivityPage, CreatedKeyPage, ErrorPage, KeyPage, KeysPage, Layout, NewKeyPage, SignInPage, type KeyRow } from "./pages";
import { canChangeKeys, dashboardManager, endSession, openSession, readSession } from "./session";

type DashboardContext = Context<AppEnv>;

const USAGE_DAYS = 30;
const ACTIVITY_ENTRIES = 100;
/** The largest form the dashboard has (Create New Key, every scope ticked, a few origins) is ~1 KiB. */
const MAX_FORM_BYTES = 16 * 1024;

export const dashboard = new Hono<AppEnv>();

dashboard.use(
  secureHeaders({
    xFrameOptions: "DENY",
    contentSecurityPolicy: {
      defaultSrc: ["'none'"],
      styleSrc: [NONCE],
      scriptSrc: [NONCE],
      formAction: ["'self'"],
      frameAncestors: ["'none'"],
      baseUri: ["'none'"],
    },
  }),
  async function dashboardBasics(c, next) {
    requireHttps(new URL(c.req.url));
    c.set("route", "/dashboard");
    await next();
    c.header("cache-control", "no-store");
  },
  csrf(),
  bodyLimit({
    maxSize: MAX_FORM_BYTES,
    onError: () => {
      throw new GatewayError("payload_too_large", `A dashboard form is at most ${MAX_FORM_BYTES / 1024} KiB.`);
    },
  }),
);

dashboard.onError((err, c) => {
  // hono's csrf() is what throws a 403 HTTPException here.
  const error =
    err instanceof HTTPException && err.status === 403
      ? new GatewayError("cross_site_request", "This form was sent from another site. Use the dashboard's own pages.")
      : err;
  if (!(error instanceof GatewayError)) return renderError(err, c);
  noteRefusal(c, error);
  return page(c, "Refused", <ErrorPage status={error.status} code={error.code} detail={error.detail} />, error.status);
});

/** For the request log, and Retry-After on a 429: what a refusal carries besides its page. */
function noteRefusal(c: DashboardContext, error: GatewayError): void {
  c.set("errorCode", error.code);
  for (const [name, value] of Object.entries(error.extra.headers ?? {})) c.header(name, value);
}

function nonceOf(c: DashboardContext): string {
  return c.get("secureHeadersNonce") ?? "";
}

function page(c: DashboardContext, title: string, body: Child, status = 200): Response | Promise<Response> {
  return c.html(
    <>
      {raw("<!doctype html>")}
      <Layout title={title} nonce={nonceOf(c)} viewer={c.get("viewer")}>
        {body}
      </Layout>
    </>,
    status as ContentfulStatusCode,
  );
}

// ---- signing in and out

dashboard.get("/", (c) => c.redirect("/dashboard/keys", 303));

dashboard.get("/login", async (c) => ((await readSession(c)) === null ? page(c, "Sign in", <SignInPage />) : c.redirect("/dashboard/keys", 303)));

dashboard.post("/login", async (c) => {
  const form = await c.req.parseBody();
  try {
    const record = await keyForSignIn(c, typeof form.api_key === "string" ? form.api_key : "");
    await openSession(c, { keyId: record.id, epoch: await sessionEpoch(c.env.DB, record.id) });
    return c.redirect("/dashboard/keys", 303);
  } catch (error) {
    if (!(error instanceof GatewayError)) throw error;
    noteRefusal(c, error);
    return page(c, "Sign in", <SignInPage error={error.detail} />, error.status);
  }
});

/** Ends every session of the signed-in key, in every browser (a copied cookie included), then this one's cookie. */
dashboard.post("/logout", async (c) => {
  const session = await readSession(c);
  if (session !== null) await endSessions(c.env.DB, session.keyId);
  endSession(c);
  return c.redirect("/dashboard/login", 303);
});

/**
 * The gateway's own checks on a presented key (API.md §2), then the dashboard's: an active
 * secret key with projects:read. Unknown, revoked and expired keys count as failed attempts of
 * the client IP, so the sign-in form is no cheaper a way to probe keys than the API.
 */
async function keyForSignIn(c: DashboardContext, presented: string): Promise<KeyRecord> {
  const ip = c.req.header("cf-connecting-ip") ?? null;
  const key = readPastedKey(presented);
  requireWellFormed(key);
  const unlessBlocked = () => refuseIfBlocked(c.env, ip, Date.now()); // as on the API: valid keys pass a blocked address
  const record = await keyOfPresented(c.env, key, (promise) => c.executionCtx.waitUntil(promise), unlessBlocked);
  if (record === null) {
    throw await recordFailedAttempt(c.env, ip, new GatewayError("invalid_api_key", "This API key does not exist. Check that you copied it whole."));
  }
  try {
    dashboardManager(record);
  } catch (error) {
    const dead = error instanceof GatewayError && (error.code === "revoked_api_key" || error.code === "expired_api_key");
    throw dead ? await recordFailedAttempt(c.env, ip, error) : error;
  }
  return record;
}

// ---- signed in: Settings → API Keys

/**
 * Every page below needs a live session; its key and the key's session epoch are read again on
 * each page, so a revoke or a sign-out in any browser ends it at once.
 */
const requireSession: MiddlewareHandler<AppEnv> = async function requireSession(c, next) {
  const session = await readSession(c);
  if (session === null) return c.redirect("/dashboard/login", 303);
  const [record, epoch] = await Promise.all([readKey(c.env.DB, session.keyId), sessionEpoch(c.env.DB, session.keyId)]);
  let manager: Manager;
  try {
    if (record === null) throw new GatewayError("invalid_api_key", "The key of this session no longer exists.");
    if (epoch !== session.epoch) throw new GatewayError("invalid_api_key", "You signed out with this key. Sign in again.");
    manager = dashboardManager(record);
  } catch (error) {
    if (!(error instanceof GatewayError)) throw error;
    endSession(c);
    noteRefusal(c, error);
    return page(c, "Sign in", <SignInPage error={`Your session has ended. ${error.detail}`} />, 401);
  }
  c.set("manager", manager);
  c.set("keyId", record.id);
  c.set("projectId", record.project_id);
  c.set("viewer", { display: record.display, projectId: record.project_id, environment: record.environment, canChange: canChangeKeys(manager) });
  await next();
};

const requireChange: MiddlewareHandler<AppEnv> = async function requireChange(c, next) {
  if (!canChangeKeys(managerOf(c))) {
    throw new GatewayError("insufficient_permissions", "This key can only look (it lacks projects:write). Sign in with a key that has projects:write to change keys.");
  }
  await next();
};

dashboard.use("/keys", requireSession);
dashboard.use("/keys/*", requireSession);
dashboard.use("/activity", requireSession);

function managerOf(c: DashboardContext): Manager {
  const manager = c.get("manager");
  if (manager === undefined) throw new Error("dashboard page reached without a session");
  return manager;
}

const actor = (c: DashboardContext, action: AuditEntry["action"]) => actorOf(c, managerOf(c), action);

const NOTICES: Record<string, string> = {
  updated: "Saved. The new settings are in force on the key's next request, in every location (events a busy key is sending: within 2 seconds at most).",
  revoked: "Revoked. Every request with this key is refused from the next one on, in every location (events a busy key is sending: within 2 seconds at most).",
};

dashboard.get("/keys", async (c) => {
  const manager = managerOf(c);
  const projectId = manager.facts.projectId;
  const { from, to } = lastDays(USAGE_DAYS);
  const [records, usage] = await Promise.all([
    listKeys(c.env.DB, projectId, visibleEnvironment(manager)),
    projectUsage(c.env.DB, projectId, from, to, visibleEnvironment(manager) ?? null),
  ]);
  const totals = new Map<string, { today: number; last30: number }>();
  for (const day of usage) {
    const total = totals.get(day.key_id) ?? { today: 0, last30: 0 };
    total.last30 += day.requests;
    if (day.day === to) total.today = day.requests;
    totals.set(day.key_id, total);
  }
  const rows: KeyRow[] = records.map((record) => ({ record, ...(totals.get(record.id) ?? { today: 0, last30: 0 }) }));
  return page(c, "API Keys", <KeysPage rows={rows} canChange={canChangeKeys(manager)} />);
});

dashboard.get("/keys/new", requireChange, (c) => {
  const manager = managerOf(c);
  return page(c, "Create New Key", <NewKeyPage environments={environmentsFor(manager)} values={{ environment: manager.facts.environment }} />);
});

dashboard.post("/keys", requireChange, async (c) => {
  const manager = managerOf(c);
  const form = (await c.req.parseBody({ all: true })) as FormBody;
  const { values, body } = newKeyForm(form);
  let created: { record: KeyRecord; key: string };
  try {
    const parsed = newKeyBody.safeParse(body);
    if (!parsed.success) throw invalidRequest(parsed.error, "form");
    const input = toNewKey(manager.facts.projectId, parsed.data);
    requireEnvironment(manager, input.environment);
    created = await createKey(c.env, input, actor(c, "key.create"));
  } catch (error) {
    if (!(error instanceof GatewayError)) throw error;
    noteRefusal(c, error);
    return page(c, "Create New Key", <NewKeyPage environments={environmentsFor(manager)} values={values} error={error.detail} />, error.status);
  }
  return page(c, "Key created", <CreatedKeyPage record={created.record} apiKey={created.key} nonce={nonceOf(c)} />, 201);
});

function environmentsFor(manager: Manager): readonly string[] {
  return manager.facts.environment === "test" ? ["test"] : ["test", "live"];
}

dashboard.get("/keys/:id", async (c) => {
  const manager = managerOf(c);
  const record = visibleKey(manager, await readKey(c.env.DB, c.req.param("id")));
  const notice = NOTICES[c.req.query("done") ?? ""];
  return page(c, record.label, <KeyPage record={record} usage={await recentUsage(c, record.id)} canChange={canChangeKeys(manager)} notice={notice} />);
});

function recentUsage(c: DashboardContext, keyId: string) {
  const { from, to } = lastDays(USAGE_DAYS);
  return keyUsage(c.env.DB, keyId, from, to);
}

dashboard.post("/keys/:id/edit", requireChange, async (c) => {
  const manager = managerOf(c);
  const record = visibleKey(manager, await readKey(c.env.DB, c.req.param("id")));
  const { values, body } = keyEditForm(record.type, (await c.req.parseBody({ all: true })) as FormBody);
  try {
    const parsed = keyChangesBody.safeParse(body);
    if (!parsed.success) throw invalidRequest(parsed.error, "form");
    await updateKey(c.env, record, toKeyChanges(record, parsed.data), actor(c, "key.update"));
  } catch (error) {
    if (!(error instanceof GatewayError)) throw error;
    noteRefusal(c, error);
    return page(c, record.label, <KeyPage record={record} usage={await recentUsage(c, record.id)} canChange edit={{ values, error: error.detail }} />, error.status);
  }
  return c.redirect(`/dashboard/keys/${record.id}?done=updated`, 303);
});

dashboard.post("/keys/:id/roll", requireChange, async (c) => {
  const manager = managerOf(c);
  const old = visibleKey(manager, await readKey(c.env.DB, c.req.param("id")));
  const form = await c.req.parseBody();
  const seconds = typeof form.expires_in === "string" && /^\d+$/.test(form.expires_in) ? Number(form.expires_in) : undefined;
  const parsed = rollBody.safeParse({ expires_in: seconds });
  if (!parsed.success) throw invalidRequest(parsed.error, "form");
  const rolled = await rollKey(c.env, old, parsed.data.expires_in, actor(c, "key.roll"));
  return page(c, "Replacement key created", <CreatedKeyPage record={rolled.record} apiKey={rolled.key} nonce={nonceOf(c)} replaced={rolled.old} />, 201);
});

dashboard.post("/keys/:id/revoke", requireChange, async (c) => {
  const manager = managerOf(c);
  const record = visibleKey(manager, await readKey(c.env.DB, c.req.param("id")));
  const form = await c.req.parseBody();
  if (form.confirm !== "yes") throw new GatewayError("invalid_request", "confirm: tick the box to confirm — revoking cannot be undone.");
  await revokeKey(c.env, record, actor(c, "key.revoke"));
  return c.redirect(`/dashboard/keys/${record.id}?done=revoked`, 303);
});

dashboard.get("/activity", async (c) => {
  const manager = managerOf(c);
  const entries = await listAudit(c.env.DB, manager.facts.projectId, ACTIVITY_ENTRIES, visibleEnvironment(manager) ?? null);
  return page(c, "Activity", <ActivityPage entries={entries} limit={ACTIVITY_ENTRIES} />);
});
