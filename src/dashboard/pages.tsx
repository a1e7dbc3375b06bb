/**
 * The dashboard's pages, rendered on the server with hono/jsx: plain HTML forms, no client-side
 * app, one inline script (the copy button) under the page's CSP nonce. Values are escaped by JSX.
 */
import { raw } from "hono/html";
import type { Child, FC } from "hono/jsx";
import type { Viewer } from "../context";
import type { AuditRecord, KeyRecord, UsageDay } from "../lifecycle";
import { SCOPES } from "../policy/routes";
import { countOf } from "../http/plural";
import { PlanLimits } from "./plan";

const STYLE = `
  body { font: 15px/1.5 system-ui, sans-serif; margin: 0; color: #1d2330; background: #f6f7f9; }
  header { background: #1d2330; color: #fff; padding: .75rem 1.5rem; display: flex; gap: 1rem; align-items: center; }
  header a { color: #fff; } header form { margin-left: auto; }
  main { max-width: 72rem; margin: 1.5rem auto; padding: 0 1.5rem; }
  table { border-collapse: collapse; width: 100%; background: #fff; }
  td code { white-space: nowrap; }
  th, td { text-align: left; padding: .4rem .6rem; border-bottom: 1px solid #e3e6eb; vertical-align: top; }
  .box { background: #fff; border: 1px solid #e3e6eb; border-radius: 6px; padding: 1rem 1.25rem; margin: 1rem 0; }
  .error { border-color: #c62828; background: #fdecea; } .notice { border-color: #2e7d32; background: #edf7ed; }
  .badge { font-size: .8em; padding: .1rem .4rem; border-radius: 4px; background: #e3e6eb; }
  .revoked, .expired { background: #fdecea; } .due { background: #fff4e5; }
  code.key { font-size: 1.1em; padding: .3rem .5rem; background: #f0f2f5; user-select: all; word-break: break-all; }
  label { display: block; margin: .6rem 0 .2rem; font-weight: 600; } fieldset { border: 1px solid #e3e6eb; }
  .plain { font-weight: normal; } progress { width: 12rem; }
  .muted { color: #667085; }
`;


export const Layout: FC<{ title: string; nonce: string; viewer?: Viewer; children?: Child }> = ({ title, nonce, viewer, children }) => (
  <html lang="en">
    <head>
      <meta charset="utf-8" />
      <meta name="viewport" content="width=device-width, initial-scale=1" />
      <title>{title} · Composite Analytics Dashboard</title>
      <style nonce={nonce}>{raw(STYLE)}</style>
    </head>
    <body>
      <header>
        <strong>Composite Analytics Dashboard</strong>
        {viewer && (
          <>
            <nav>
              Settings → <a href="/dashboard/keys">API Keys</a> · <a href="/dashboard/activity">Activity</a>
            </nav>
            <span class="muted">
              project {viewer.projectId} · signed in with {viewer.display}
              {viewer.canChange ? "" : " (read only)"}
            </span>
            <form method="post" action="/dashboard/logout">
              <button type="submit">Sign out</button>
            </form>
          </>
        )}
      </header>
      <main>{children}</main>
    </body>
  </html>
);

export const SignInPage: FC<{ error?: string }> = ({ error }) => (
  <>
    <h1>Sign in</h1>
    {error && <p class="box error" role="alert">{error}</p>}
    <form method="post" action="/dashboard/login" class="box">
      <label for="api_key">Secret key of your project</label>
      <input id="api_key" name="api_key" type="password" autocomplete="off" required size={60} placeholder="sk_live_…" />
      <p class="muted">
        A secret key with projects:read lets you look, projects:write lets you create, roll and revoke keys. The key is
        checked once; the browser keeps only a signed session cookie (8 hours) that ends as soon as the key is revoked.
      </p>
      <button type="submit">Sign in</button>
    </form>
  </>
);

const count = (n: number) => n.toLocaleString("en-US");
const when = (iso: string | null) => (iso === null ? "—" : iso.replace("T", " ").replace(/\.\d+Z$/, "Z"));

function permissions(record: KeyRecord): string {
  if (record.type === "public") return "public set";
  return record.scopes === null ? "full access" : record.scopes.join(", ");
}

const Status: FC<{ record: KeyRecord }> = ({ record }) => (
  <>
    <span class={`badge ${record.status}`}>{record.status}</span>
    {record.rotation_due && <span class="badge due"> rotation due</span>}
  </>
);

export interface KeyRow {
  record: KeyRecord;
  today: number;
  last30: number;
}

export const KeysPage: FC<{ rows: KeyRow[]; canChange: boolean; notice?: string }> = ({ rows, canChange, notice }) => (
  <>
    <h1>API Keys</h1>
    {notice && <p class="box notice" role="status">{notice}</p>}
    {canChange && (
      <p>
        <a href="/dashboard/keys/new">Create New Key</a>
      </p>
    )}
    <table>
      <thead>
        <tr>
          <th>Label</th>
          <th>Key</th>
          <th>Type</th>
          <th>Permissions</th>
          <th>Status</th>
          <th>Requests today</th>
          <th>Last 30 days</th>
          <th>Last used</th>
          <th>Created</th>
        </tr>
      </thead>
      <tbody>
        {rows.map(({ record, today, last30 }) => (
          <tr data-key-id={record.id}>
            <td>
              <a href={`/dashboard/keys/${record.id}`}>{record.label}</a>
            </td>
            <td>
              <code>{record.display}</code>
            </td>
            <td>
              {record.type} · {record.environment}
            </td>
            <td>{permissions(record)}</td>
            <td>
              <Status record={record} />
            </td>
            <td>{count(today)}</td>
            <td>{count(last30)}</td>
            <td>{when(record.last_used_at)}</td>
            <td>{when(record.created_at)}</td>
          </tr>
        ))}
      </tbody>
    </table>
    {rows.length === 0 && <p class="muted">No keys yet.</p>}
  </>
);

export interface NewKeyValues {
  type?: string;
  environment?: string;
  label?: string;
  access?: string;
  scopes?: string[];
  expires_at?: string;
  allowed_origins?: string;
}

const LabelField: FC<{ value: string | undefined }> = ({ value }) => (
  <>
    <label for="label">Label</label>
    <input id="label" name="label" required maxlength={200} size={50} value={value ?? ""} placeholder="Production web app" />
  </>
);

/** Full access, or only the ticked scopes: what a secret key may do. */
const ScopeFields: FC<{ values: NewKeyValues; legend: string }> = ({ values, legend }) => (
  <fieldset>
    <legend>{legend}</legend>
    <label>
      <input type="radio" name="access" value="full" checked={values.access !== "scoped"} /> Full access
    </label>
    <label>
      <input type="radio" name="access" value="scoped" checked={values.access === "scoped"} /> Only these scopes:
    </label>
    {SCOPES.map((scope) => (
      <label class="plain">
        <input type="checkbox" name="scopes" value={scope} checked={values.scopes?.includes(scope) ?? false} /> {scope}
      </label>
    ))}
  </fieldset>
);

/** The origins a public key may be used from; empty for any. */
const OriginsField: FC<{ values: NewKeyValues; label: string }> = ({ values, label }) => (
  <>
    <label for="allowed_origins">{label}</label>
    <textarea id="allowed_origins" name="allowed_origins" rows={2} cols={50} placeholder="https://app.example.com">
      {values.allowed_origins ?? ""}
    </textarea>
  </>
);

/** A key's current settings as the edit form shows them. */
export function editValues(record: KeyRecord): NewKeyValues {
  return {
    label: record.label,
    access: record.scopes === null ? "full" : "scoped",
    scopes: record.scopes ?? [],
    allowed_origins: (record.allowed_origins ?? []).join("\n"),
  };
}

export const NewKeyPage: FC<{ environments: readonly string[]; values: NewKeyValues; error?: string }> = ({ environments, values, error }) => (
  <>
    <h1>Create New Key</h1>
    {error && <p class="box error" role="alert">{error}</p>}
    <form method="post" action="/dashboard/keys" class="box">
      <fieldset>
        <legend>Key type</legend>
        <label>
          <input type="radio" name="type" value="public" checked={values.type !== "secret"} /> Public (pk_) — browsers and mobile apps
        </label>
        <label>
          <input type="radio" name="type" value="secret" checked={values.type === "secret"} /> Secret (sk_) — servers only
        </label>
      </fieldset>
      <label for="environment">Environment</label>
      <select id="environment" name="environment">
        {environments.map((environment) => (
          <option value={environment} selected={values.environment === environment}>
            {environment}
          </option>
        ))}
      </select>
      <LabelField value={values.label} />
      <ScopeFields values={values} legend="Permissions (secret keys)" />
      <OriginsField values={values} label="Allowed origins (public keys; optional, one per line)" />
      <label for="expires_at">Expires (optional)</label>
      <input id="expires_at" name="expires_at" type="date" value={values.expires_at ?? ""} />
      <p>
        <button type="submit">Create key</button>
      </p>
    </form>
  </>
);

export const CreatedKeyPage: FC<{ record: KeyRecord; apiKey: string; nonce: string; replaced?: KeyRecord }> = ({ record, apiKey, nonce, replaced }) => (
  <>
    <h1>{replaced ? "Replacement key created" : "Key created"}</h1>
    <div class="box notice">
      <p>
        <strong>Copy the key now: it won't be shown again.</strong> Store it in an environment variable, never in source code.
      </p>
      <p>
        <code class="key" id="new-key">
          {apiKey}
        </code>{" "}
        <button type="button" id="copy-key">
          Copy
        </button>
      </p>
      {replaced && (
        <p>
          It replaces {replaced.display} ({replaced.label}), which works until {when(replaced.expires_at)}. Deploy the new key,
          check that everything uses it, then revoke the old one.
        </p>
      )}
    </div>
    <p>
      <a href={`/dashboard/keys/${record.id}`}>
        {record.label} ({record.type} · {record.environment})
      </a>{" "}
      · <a href="/dashboard/keys">All keys</a>
    </p>
    <script nonce={nonce}>{raw(COPY_SCRIPT)}</script>
  </>
);

/** The page's one script: a constant, so nothing typed by a user can reach it. */
const COPY_SCRIPT = `document.getElementById("copy-key").addEventListener("click", async (event) => {
  await navigator.clipboard.writeText(document.getElementById("new-key").textContent.trim());
  event.target.textContent = "Copied";
});`;

const ROLL_CHOICES = [
  [0, "at once"],
  [3_600, "in 1 hour"],
  [86_400, "in 24 hours"],
  [604_800, "in 7 days"],
] as const;

export interface KeyEdit {
  values: NewKeyValues;
  error?: string;
}

export const KeyPage: FC<{ record: KeyRecord; usage: UsageDay[]; canChange: boolean; notice?: string; edit?: KeyEdit }> = ({
  record,
  usage,
  canChange,
  notice,
  edit = { values: editValues(record) },
}) => {
  const peak = Math.max(1, ...usage.map((day) => day.requests + day.rejected));
  return (
    <>
      <h1>{record.label}</h1>
      {notice && <p class="box notice" role="status">{notice}</p>}
      {edit.error && <p class="box error" role="alert">{edit.error}</p>}
      <table class="box">
        <tbody>
          <tr><th>Key</th><td><code>{record.display}</code> ({record.id})</td></tr>
          <tr><th>Type</th><td>{record.type} · {record.environment}</td></tr>
          <tr><th>Permissions</th><td>{permissions(record)}</td></tr>
          <tr><th>Allowed origins</th><td>{record.allowed_origins === null ? "any" : record.allowed_origins.join(", ")}</td></tr>
          <tr><th>Status</th><td><Status record={record} /></td></tr>
          <tr><th>Rate limit</th><td>{count(record.limits.rate)}/s, burst {count(record.limits.burst)}, {count(record.limits.daily)} per day (UTC)</td></tr>
          <tr><th>Plan</th><td><PlanLimits record={record} /></td></tr>
          <tr><th>Created</th><td>{when(record.created_at)} ({countOf(record.age_days, "day")} ago)</td></tr>
          <tr><th>Expires</th><td>{when(record.expires_at)}</td></tr>
          <tr><th>Last used</th><td>{when(record.last_used_at)}</td></tr>
          {record.rolled_from && <tr><th>Replaces</th><td><a href={`/dashboard/keys/${record.rolled_from}`}>{record.rolled_from}</a></td></tr>}
          {record.rolled_to && <tr><th>Replaced by</th><td><a href={`/dashboard/keys/${record.rolled_to}`}>{record.rolled_to}</a></td></tr>}
        </tbody>
      </table>

      {canChange && record.status === "active" && (
        <>
          <div class="box">
            <h2>Edit</h2>
            <form method="post" action={`/dashboard/keys/${record.id}/edit`}>
              <LabelField value={edit.values.label} />
              {record.type === "secret" ? (
                <ScopeFields values={edit.values} legend="Permissions — in force on the key's next request" />
              ) : (
                <OriginsField values={edit.values} label="Allowed origins (empty: any; one per line) — in force on the key's next request" />
              )}
              <p>
                <button type="submit">Save changes</button>
              </p>
            </form>
          </div>

          <div class="box">
            <h2>Rotate</h2>
            <form method="post" action={`/dashboard/keys/${record.id}/roll`}>
              <label for="expires_in">Generate a replacement key; this one stops working</label>
              <select id="expires_in" name="expires_in">
                {ROLL_CHOICES.map(([seconds, text]) => (
                  <option value={String(seconds)} selected={seconds === 86_400}>
                    {text}
                  </option>
                ))}
              </select>{" "}
              <button type="submit">Generate replacement</button>
            </form>
            <h2>Revoke (delete)</h2>
            <form method="post" action={`/dashboard/keys/${record.id}/revoke`}>
              <label class="plain">
                <input type="checkbox" name="confirm" value="yes" required /> Every request with this key is refused from the
                next one on, everywhere (events a busy key is sending: within 2 seconds at most). This cannot be undone.
              </label>
              <button type="submit">Revoke key</button>
            </form>
          </div>
        </>
      )}

      <h2>Usage, last {usage.length} days (UTC)</h2>
      <table>
        <thead>
          <tr><th>Day</th><th>Requests</th><th>Rejected (429)</th><th></th></tr>
        </thead>
        <tbody>
          {[...usage].reverse().map((day) => (
            <tr data-day={day.day}>
              <td>{day.day}</td>
              <td>{count(day.requests)}</td>
              <td>{count(day.rejected)}</td>
              <td><progress max={peak} value={day.requests + day.rejected}></progress></td>
            </tr>
          ))}
        </tbody>
      </table>
      <p class="muted">Counts reach this page within seconds of the traffic.</p>
    </>
  );
};

const ACTIONS: Record<string, string> = {
  "project.create": "project created",
  "project.plan": "plan changed",
  "key.create": "key created",
  "key.update": "key changed",
  "key.limits": "limits set",
  "key.roll": "key rolled",
  "key.revoke": "key revoked",
};

export const ActivityPage: FC<{ entries: AuditRecord[]; limit: number }> = ({ entries, limit }) => (
  <>
    <h1>Activity</h1>
    <p class="muted">
      Every change to this project's keys, newest first (the last {limit}): who made it — the key used, or the operator — and
      from which address.
    </p>
    <table>
      <thead>
        <tr><th>When (UTC)</th><th>What</th><th>Key</th><th>By</th><th>From</th><th>Details</th></tr>
      </thead>
      <tbody>
        {entries.map((entry) => (
          <tr data-audit-id={entry.id}>
            <td>{when(entry.at)}</td>
            <td>{ACTIONS[entry.action] ?? entry.action}</td>
            <td>{entry.target_id && entry.target_id.startsWith("key_") ? <a href={`/dashboard/keys/${entry.target_id}`}>{entry.target_id}</a> : (entry.target_id ?? "—")}</td>
            <td>{entry.actor}</td>
            <td>{entry.ip ?? "—"}</td>
            <td><code>{entry.details === null ? "" : JSON.stringify(entry.details)}</code></td>
          </tr>
        ))}
      </tbody>
    </table>
    {entries.length === 0 && <p class="muted">Nothing yet.</p>}
  </>
);

export const ErrorPage: FC<{ status: number; code: string; detail: string }> = ({ status, code, detail }) => (
  <>
    <h1>{status === 404 ? "Not found" : "Refused"}</h1>
    <p class="box error" role="alert">
      {detail} <span class="muted">({code})</span>
    </p>
    <p>
      <a href="/dashboard/keys">Back to API Keys</a>
    </p>
  </>
);
