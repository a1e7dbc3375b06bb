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
  lastDays,
  lastMinutes,
  listAudit,
  listKeys,
  projectTrafficByKey,
  readKey,
  revokeKey,
  rollKey,
  sessionEpoch,
  trafficSeries,
  updateKey,
  type AuditEntry,
  type KeyRecord,
  type TrafficCount,
} from "../lifecycle";
import { actorOf, requireEnvironment, visibleEnvironment, visibleKey } from "../manage/api/caller";
import { keyChangesBody, newKeyBody, rollBody, toKeyChanges, toNewKey } from "../manage/schemas";
import { invalidRequest } from "../manage/validation";
import { nameOf, type KeyName } from "./activity";
import { ASSETS } from "./assets";
import { keyEditForm, newKeyForm, type FormBody } from "./forms";
import { handOff, HANDOFF_PATH, takeHandedOff } from "./handoff";
import { offersFor } from "./offers";
import { Layout } from "./layout";
import { ActivityPage, CreatedKeyPage, ErrorPage, KeyPage, KeysPage, NewKeyPage, ShownOncePage, SignInPage, type KeyEdit, type KeyRow } from "./pages";
import { RotationPage } from "./rotation-page";
import { chartSeries, UsagePage, type KeyUsageRow } from "./usage-charts";
import { rotationOf } from "./rotation";
import { canChangeKeys, dashboardManager, endSession, openSession, readSession } from "./session";
import { unusualActivity } from "./unusual";

type DashboardContext = Context<AppEnv>;

const USAGE_DAYS = 30;
const USAGE_MINUTES = 60;
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
      // Scripts only with the page's nonce — the served uPlot and dashboard.js (assets.ts) carry it.
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

function page(c: DashboardContext, title: string, body: Child, status = 200, charts = false): Response | Promise<Response> {
  return c.html(
    <>
      {raw("<!doctype html>")}
      <Layout title={title} nonce={nonceOf(c)} viewer={c.get("viewer")} charts={charts}>
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

// ---- the dashboard's own scripts and styles (no session needed: constants, nothing of a project)

dashboard.get("/assets/:name", (c) => {
  const asset = ASSETS[c.req.param("name")];
  if (asset === undefined) throw new GatewayError("not_found", "No such dashboard file.");
  return c.body(asset.body, 200, { "content-type": asset.type, "x-content-type-options": "nosniff" });
});

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
  c.set("viewer", {
    display: record.display,
    projectId: record.project_id,
    environment: record.environment,
    canChange: canChangeKeys(manager),
    expiresAt: record.expires_at,
    limits: record.limits,
  });
  await next();
};

const requireChange: MiddlewareHandler<AppEnv> = async function requireChange(c, next) {
  if (!canChangeKeys(managerOf(c))) {
    throw new GatewayError("insufficient_permissions", "This key can only look (it lacks projects:write). Sign in with a key that has projects:write to change keys.");
  }
  await next();
};

for (const path of ["/keys", "/keys/*", "/activity", "/usage", "/usage/*"]) dashboard.use(path, requireSession);

function managerOf(c: DashboardContext): Manager {
  const manager = c.get("manager");
  if (manager === undefined) throw new Error("dashboard page reached without a session");
  return manager;
}

function viewerOf(c: DashboardContext) {
  const viewer = c.get("viewer");
  if (viewer === undefined) throw new Error("dashboard page reached without a session");
  return viewer;
}

const actor = (c: DashboardContext, action: AuditEntry["action"]) => actorOf(c, managerOf(c), action);

const NOTICES: Record<string, string> = {
  updated: "Saved. The new settings are in force on the key's next request, in every location (events a busy key is sending: within 2 seconds at most).",
  revoked: "Revoked. Every request with this key is refused from the next one on, in every location (events a busy key is sending: within 2 seconds at most).",
};

/** The keys the session may see, by id, as sentences and links name them. */
async function visibleKeys(c: DashboardContext): Promise<KeyRecord[]> {
  const manager = managerOf(c);
  return listKeys(c.env.DB, manager.facts.projectId, visibleEnvironment(manager));
}

const zero = (at: string): TrafficCount => ({ at, requests: 0, rejected: 0, denied: 0 });

/** Whole UTC days a key existed before today: how much history its "norm" can have. */
function historyDays(record: KeyRecord, now = Date.now()): number {
  return Math.max(0, Math.floor((Date.parse(lastDays(1, now).from) - Date.parse(record.created_at)) / 86_400_000) + 1);
}

dashboard.get("/keys", async (c) => {
  const manager = managerOf(c);
  const projectId = manager.facts.projectId;
  const { from, to } = lastDays(USAGE_DAYS);
  const [records, usage] = await Promise.all([
    visibleKeys(c),
    projectTrafficByKey(c.env.DB, projectId, from, to, visibleEnvironment(manager) ?? null),
  ]);
  const byKey = new Map<string, TrafficCount[]>();
  for (const day of usage) byKey.set(day.key_id, [...(byKey.get(day.key_id) ?? []), day]);
  const names = new Map(records.map((record) => [record.id, nameOf(record)]));
  const rows: KeyRow[] = records.map((record) => {
    const days = filledDays(byKey.get(record.id) ?? [], from, to);
    return {
      record,
      today: days.at(-1)!,
      last30: days.reduce((sum, day) => sum + day.requests, 0),
      unusual: unusualActivity(days, historyDays(record)),
      ...named("replaces", record.rolled_from, names),
      ...named("replacedBy", record.rolled_to, names),
    };
  });
  return page(c, "API Keys", <KeysPage rows={rows} canChange={canChangeKeys(manager)} />);
});

function named<K extends string>(field: K, id: string | null, names: ReadonlyMap<string, KeyName>): Partial<Record<K, KeyName>> {
  const name = id === null ? undefined : names.get(id);
  return name === undefined ? {} : ({ [field]: name } as Record<K, KeyName>);
}

/** Counted days → every day from `from` to `to`, zeros filled in, oldest first. */
function filledDays(counted: readonly TrafficCount[], from: string, to: string): TrafficCount[] {
  const byDay = new Map(counted.map((day) => [day.at, day]));
  const days: TrafficCount[] = [];
  for (let at = Date.parse(from); at <= Date.parse(to); at += 86_400_000) {
    const day = new Date(at).toISOString().slice(0, 10);
    days.push(byDay.get(day) ?? zero(day));
  }
  return days;
}

dashboard.get("/keys/new", requireChange, (c) => {
  const manager = managerOf(c);
  return page(c, "Create New Key", <NewKeyPage environments={environmentsFor(manager)} values={{ environment: manager.facts.environment }} />);
});

/** Post/redirect/get: the new key goes to the created page in the one-time handoff (handoff.ts), never in this answer. */
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
  await handOff(c, manager.facts.keyId, { keyId: created.record.id, key: created.key });
  return c.redirect(HANDOFF_PATH, 303);
});

/** Shows a new key once: a reload (or a copied cookie) finds its handoff taken and mints nothing. */
dashboard.get("/keys/created", async (c) => {
  const manager = managerOf(c);
  const handoff = await takeHandedOff(c, manager.facts.keyId);
  const record = handoff === null ? null : await readKey(c.env.DB, handoff.keyId);
  if (handoff === null || record === null) return page(c, "Key already shown", <ShownOncePage />, 410);
  const replaced = handoff.replaced === undefined ? undefined : ((await readKey(c.env.DB, handoff.replaced)) ?? undefined);
  const title = replaced ? "Replacement key created" : "Key created";
  return page(c, title, <CreatedKeyPage record={record} apiKey={handoff.key} replaced={replaced} />);
});

function environmentsFor(manager: Manager): readonly string[] {
  return manager.facts.environment === "test" ? ["test"] : ["test", "live"];
}

/** A key's traffic for its page: 30 days and the last hour. */
async function keyTraffic(c: DashboardContext, keyId: string): Promise<{ days: TrafficCount[]; minutes: TrafficCount[] }> {
  const day = lastDays(USAGE_DAYS);
  const minute = lastMinutes(USAGE_MINUTES);
  const [days, minutes] = await Promise.all([
    trafficSeries(c.env.DB, { keyId }, "day", day.from, day.to),
    trafficSeries(c.env.DB, { keyId }, "minute", minute.from, minute.to),
  ]);
  return { days, minutes };
}

/** Everything the key's page shows besides a notice or an edit in progress. */
async function keyPage(c: DashboardContext, record: KeyRecord, extra: { notice?: string; edit?: KeyEdit } = {}, status = 200) {
  const manager = managerOf(c);
  const [{ days, minutes }, replaces, replacedBy] = await Promise.all([
    keyTraffic(c, record.id),
    visibleOrNull(c, record.rolled_from),
    visibleOrNull(c, record.rolled_to),
  ]);
  const rotation = replacedBy === null ? undefined : rotationOf(record, replacedBy, minutes, days);
  return page(
    c,
    record.label,
    <KeyPage
      record={record}
      days={days}
      minutes={minutes}
      offers={offersFor(record, manager, viewerOf(c))}
      unusual={unusualActivity(days, historyDays(record))}
      {...(replaces === null ? {} : { replaces: nameOf(replaces) })}
      {...(replacedBy === null ? {} : { replacedBy: nameOf(replacedBy) })}
      {...(rotation === undefined ? {} : { rotation })}
      {...extra}
    />,
    status,
    true,
  );
}

/** A key the session may see, or null (none, another project's, a live key to a test session). */
async function visibleOrNull(c: DashboardContext, id: string | null): Promise<KeyRecord | null> {
  if (id === null) return null;
  const record = await readKey(c.env.DB, id);
  try {
    return visibleKey(managerOf(c), record);
  } catch {
    return null;
  }
}

async function keyOfPage(c: DashboardContext): Promise<KeyRecord> {
  return visibleKey(managerOf(c), await readKey(c.env.DB, c.req.param("id") ?? ""));
}

dashboard.get("/keys/:id", async (c) => {
  const notice = NOTICES[c.req.query("done") ?? ""];
  return keyPage(c, await keyOfPage(c), notice === undefined ? {} : { notice });
});

dashboard.post("/keys/:id/edit", requireChange, async (c) => {
  const record = await keyOfPage(c);
  const { values, body } = keyEditForm(record.type, (await c.req.parseBody({ all: true })) as FormBody);
  try {
    if (!offersFor(record, managerOf(c), viewerOf(c)).edit) throw notOffered(record, "changed");
    const parsed = keyChangesBody.safeParse(body);
    if (!parsed.success) throw invalidRequest(parsed.error, "form");
    await updateKey(c.env, record, toKeyChanges(record, parsed.data), actor(c, "key.update"));
  } catch (error) {
    if (!(error instanceof GatewayError)) throw error;
    noteRefusal(c, error);
    return keyPage(c, record, { edit: { values, error: error.detail } }, error.status);
  }
  return c.redirect(`/dashboard/keys/${record.id}?done=updated`, 303);
});

/** A form for a change the page did not offer (an old tab, a hand-made request): said in the dashboard's words. */
function notOffered(record: KeyRecord, what: string): GatewayError {
  if (record.rolled_to !== null) {
    return new GatewayError("conflict", `'${record.label}' has already been replaced, so it cannot be ${what}. Follow its rotation from the key's page.`);
  }
  if (record.status !== "active") return new GatewayError("conflict", `'${record.label}' is ${record.status}, so it cannot be ${what}.`);
  return new GatewayError("insufficient_permissions", `'${record.label}' cannot be ${what} with the key you signed in with.`);
}

dashboard.post("/keys/:id/roll", requireChange, async (c) => {
  const manager = managerOf(c);
  const old = await keyOfPage(c);
  if (!offersFor(old, manager, viewerOf(c)).roll) throw notOffered(old, "rolled");
  const form = await c.req.parseBody();
  const seconds = typeof form.expires_in === "string" && /^\d+$/.test(form.expires_in) ? Number(form.expires_in) : undefined;
  const parsed = rollBody.safeParse({ expires_in: seconds });
  if (!parsed.success) throw invalidRequest(parsed.error, "form");
  const rolled = await rollKey(c.env, old, parsed.data.expires_in, actor(c, "key.roll"));
  await handOff(c, manager.facts.keyId, { keyId: rolled.record.id, key: rolled.key, replaced: old.id });
  return c.redirect(HANDOFF_PATH, 303);
});

dashboard.post("/keys/:id/revoke", requireChange, async (c) => {
  const record = await keyOfPage(c);
  const form = await c.req.parseBody();
  if (form.confirm !== "yes") throw new GatewayError("invalid_request", "confirm: tick the box to confirm — revoking cannot be undone.");
  await revokeKey(c.env, record, actor(c, "key.revoke"));
  return c.redirect(`/dashboard/keys/${record.id}?done=revoked`, 303);
});

/** AUTH-DOCS' four rotation steps for one key: its replacement, whether the old key still gets traffic, the revoke. */
dashboard.get("/keys/:id/rotation", async (c) => {
  const old = await keyOfPage(c);
  const replacement = await visibleOrNull(c, old.rolled_to);
  const offers = offersFor(old, managerOf(c), viewerOf(c));
  if (replacement === null) return page(c, `Rotate '${old.label}'`, <RotationPage old={old} offers={offers} />);
  const [{ days, minutes }, replacementToday] = await Promise.all([keyTraffic(c, old.id), todayOf(c, replacement.id)]);
  return page(
    c,
    `Rotate '${old.label}'`,
    <RotationPage old={old} replacement={replacement} rotation={rotationOf(old, replacement, minutes, days)} offers={offers} replacementToday={replacementToday} />,
  );
});

async function todayOf(c: DashboardContext, keyId: string): Promise<TrafficCount> {
  const { to } = lastDays(1);
  return (await trafficSeries(c.env.DB, { keyId }, "day", to, to))[0] ?? zero(to);
}

/** The project's usage (the session's environment): charts, and today per key against its quota. */
async function projectTraffic(c: DashboardContext): Promise<{ days: TrafficCount[]; minutes: TrafficCount[] }> {
  const manager = managerOf(c);
  const scope = { projectId: manager.facts.projectId, environment: visibleEnvironment(manager) ?? null };
  const day = lastDays(USAGE_DAYS);
  const minute = lastMinutes(USAGE_MINUTES);
  const [days, minutes] = await Promise.all([
    trafficSeries(c.env.DB, scope, "day", day.from, day.to),
    trafficSeries(c.env.DB, scope, "minute", minute.from, minute.to),
  ]);
  return { days, minutes };
}

dashboard.get("/usage", async (c) => {
  const manager = managerOf(c);
  const { from, to } = lastDays(USAGE_DAYS);
  const [{ days, minutes }, records, perKey] = await Promise.all([
    projectTraffic(c),
    visibleKeys(c),
    projectTrafficByKey(c.env.DB, manager.facts.projectId, from, to, visibleEnvironment(manager) ?? null),
  ]);
  const byKey = new Map<string, TrafficCount[]>();
  for (const day of perKey) byKey.set(day.key_id, [...(byKey.get(day.key_id) ?? []), day]);
  const rows: KeyUsageRow[] = records
    .filter((record) => byKey.has(record.id))
    .map((record) => {
      const keyDays = filledDays(byKey.get(record.id)!, from, to);
      return { name: nameOf(record), today: keyDays.at(-1)!, daily: record.limits.daily, unusual: unusualActivity(keyDays, historyDays(record)) };
    })
    .filter((row) => row.today.requests + row.today.rejected + row.today.denied > 0);
  return page(c, "Usage", <UsagePage days={days} minutes={minutes} rows={rows} environment={manager.facts.environment} />, 200, true);
});

/** The charts' numbers as JSON: the project's (the session's environment), or one visible key's. */
dashboard.get("/usage/data", async (c) => {
  const keyId = c.req.query("key");
  const { days, minutes } = keyId === undefined ? await projectTraffic(c) : await keyTraffic(c, visibleKey(managerOf(c), await readKey(c.env.DB, keyId)).id);
  return c.json({ days: chartSeries("day", days), minutes: chartSeries("minute", minutes) });
});

dashboard.get("/activity", async (c) => {
  const manager = managerOf(c);
  const [entries, records] = await Promise.all([
    listAudit(c.env.DB, manager.facts.projectId, ACTIVITY_ENTRIES, visibleEnvironment(manager) ?? null),
    visibleKeys(c),
  ]);
  const keys = new Map(records.map((record) => [record.id, nameOf(record)]));
  return page(c, "Activity", <ActivityPage entries={entries} keys={keys} limit={ACTIVITY_ENTRIES} />);
});
