/**
 * The dashboard's pages, rendered on the server with hono/jsx: plain HTML forms that work with a
 * keyboard and without a script; the served script (assets.ts) adds copy buttons, countdowns and
 * the charts. Values are escaped by JSX. Tables are `cards` on a phone (layout.tsx).
 */
import type { FC } from "hono/jsx";
import type { AuditRecord, KeyRecord, TrafficCount } from "../lifecycle";
import { countOf } from "../http/plural";
import { SCOPES } from "../policy/routes";
import { describeEntry, type KeyName } from "./activity";
import { count, KeyLink, permissions, RevokeForm, RollForm, Status, TodayAgainstQuota, Countdown, when } from "./components";
import type { Offers } from "./offers";
import { PlanLimits } from "./plan";
import type { Rotation } from "./rotation";
import { RotationSummary } from "./rotation-page";
import type { Unusual } from "./unusual";
import { UsageCharts } from "./usage-charts";


export const SignInPage: FC<{ error?: string }> = ({ error }) => (
  <>
    <h1>Sign in</h1>
    {error && <p class="box error" role="alert">{error}</p>}
    <form method="post" action="/dashboard/login" class="box">
      <label for="api_key">Secret key of your project</label>
      <input id="api_key" name="api_key" type="password" autocomplete="off" required placeholder="sk_live_…" />
      <p class="muted">
        A secret key with projects:read lets you look, projects:write lets you create, roll and revoke keys. A test key (sk_test_…)
        shows test keys only; a live key shows live and test keys. The key is checked once; the browser keeps only a signed session
        cookie (8 hours) that ends as soon as the key is revoked.
      </p>
      <button type="submit">Sign in</button>
    </form>
  </>
);

export interface KeyRow {
  record: KeyRecord;
  today: TrafficCount;
  last30: number;
  unusual: Unusual | null;
  /** The keys it replaces and is replaced by, as visible to the session. */
  replaces?: KeyName;
  replacedBy?: KeyName;
}

export const KeysPage: FC<{ rows: KeyRow[]; canChange: boolean; notice?: string }> = ({ rows, canChange, notice }) => (
  <>
    <h1>API Keys</h1>
    {notice && <p class="box notice" role="status">{notice}</p>}
    {canChange && (
      <p>
        <a class="button" href="/dashboard/keys/new">Create New Key</a>
      </p>
    )}
    <table class="cards">
      <thead>
        <tr>
          <th scope="col">Label</th>
          <th scope="col">Key</th>
          <th scope="col">Type</th>
          <th scope="col">Permissions</th>
          <th scope="col">Status</th>
          <th scope="col">Requests today (UTC)</th>
          <th scope="col">Last 30 days</th>
          <th scope="col">Last used</th>
        </tr>
      </thead>
      <tbody>
        {rows.map(({ record, today, last30, unusual, replaces, replacedBy }) => (
          <tr data-key-id={record.id}>
            <td data-label="Label">
              <a href={`/dashboard/keys/${record.id}`}>{record.label}</a>
              {replacedBy && (
                <div class="muted">
                  replaced by <KeyLink name={replacedBy} />
                </div>
              )}
              {replaces && (
                <div class="muted">
                  replaces <KeyLink name={replaces} />
                </div>
              )}
            </td>
            <td data-label="Key">
              <code>{record.display}</code>
            </td>
            <td data-label="Type">
              {record.type} · {record.environment}
            </td>
            <td data-label="Permissions">{permissions(record)}</td>
            <td data-label="Status">
              <Status record={record} unusual={unusual} />
            </td>
            <td data-label="Today" data-today={String(today.requests)}>
              <TodayAgainstQuota today={today} daily={record.limits.daily} />
            </td>
            <td data-label="Last 30 days" data-last30={String(last30)}>
              {count(last30)}
            </td>
            <td data-label="Last used">{when(record.last_used_at)}</td>
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
    <input id="label" name="label" type="text" required maxlength={200} value={value ?? ""} placeholder="Production web app" />
  </>
);

/** Full access, or only the ticked scopes: what a secret key may do. */
const ScopeFields: FC<{ values: NewKeyValues; legend: string }> = ({ values, legend }) => (
  <fieldset>
    <legend>{legend}</legend>
    <label class="plain">
      <input type="radio" name="access" value="full" checked={values.access !== "scoped"} /> Full access
    </label>
    <label class="plain">
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
    <textarea id="allowed_origins" name="allowed_origins" rows={2} placeholder="https://app.example.com">
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
        <label class="plain">
          <input type="radio" name="type" value="public" checked={values.type !== "secret"} /> Public (pk_) — browsers and mobile apps
        </label>
        <label class="plain">
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
      {environments.length === 1 && <p class="muted">A test key creates test keys only; sign in with a live key to create live keys.</p>}
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

export const CreatedKeyPage: FC<{ record: KeyRecord; apiKey: string; replaced?: KeyRecord }> = ({ record, apiKey, replaced }) => (
  <>
    <h1>{replaced ? "Replacement key created" : "Key created"}</h1>
    <div class="box notice">
      <p>
        <strong>Copy the key now: it won't be shown again</strong> — not even if you reload this page. Store it in an environment
        variable, never in source code.
      </p>
      <code class="key" id="new-key">
        {apiKey}
      </code>
      <p>
        <button type="button" id="copy-key" data-copy="new-key">
          Copy
        </button>
      </p>
      {replaced && (
        <p>
          It replaces '{replaced.label}' ({replaced.display}), which works until {when(replaced.expires_at)}. Deploy the new key,
          check that everything uses it, then revoke the old one: <a href={`/dashboard/keys/${replaced.id}/rotation`}>follow the rotation</a>.
        </p>
      )}
    </div>
    <p>
      <a href={`/dashboard/keys/${record.id}`}>
        {record.label} ({record.type} · {record.environment})
      </a>{" "}
      · <a href="/dashboard/keys">All keys</a>
    </p>
  </>
);

/** The created page once its key has been shown (a reload, the back button, a copied cookie): nothing is minted again. */
export const ShownOncePage: FC = () => (
  <>
    <h1>Key already shown</h1>
    <p class="box warn" role="status">
      A new key is shown once, on the page right after it is created, and this one has been shown (or the minute to show it has
      passed). Reloading does not create another key. If you did not copy it, revoke it and create a new one.
    </p>
    <p>
      <a href="/dashboard/keys">Back to API Keys</a>
    </p>
  </>
);

export interface KeyEdit {
  values: NewKeyValues;
  error?: string;
}

/** A chart's data: one series per kind of outcome, aligned on `at`. */
export interface KeyPageProps {
  record: KeyRecord;
  days: TrafficCount[];
  minutes: TrafficCount[];
  offers: Offers;
  unusual: Unusual | null;
  replaces?: KeyName;
  replacedBy?: KeyName;
  /** This key's own rotation, once it has been replaced. */
  rotation?: Rotation;
  notice?: string;
  edit?: KeyEdit;
}

export const KeyPage: FC<KeyPageProps> = ({ record, days, minutes, offers, unusual, replaces, replacedBy, rotation, notice, edit = { values: editValues(record) } }) => (
  <>
    <h1>{record.label}</h1>
    {notice && <p class="box notice" role="status">{notice}</p>}
    {edit.error && <p class="box error" role="alert">{edit.error}</p>}
    {unusual && (
      <p class="box warn" role="status">
        <strong>Unusual activity:</strong> {unusual.reason} Check who uses this key; if it leaked, generate a replacement and revoke it.
      </p>
    )}
    <div class="box">
      <dl class="facts">
        <dt>Key</dt>
        <dd>
          <code>{record.display}</code>
        </dd>
        <dt>Key id</dt>
        <dd>
          <code id="key-id">{record.id}</code>{" "}
          <button type="button" class="secondary" data-copy="key-id" aria-label="Copy the key id">
            Copy
          </button>
        </dd>
        <dt>Type</dt>
        <dd>
          {record.type} · {record.environment}
        </dd>
        <dt>Permissions</dt>
        <dd>{permissions(record)}</dd>
        <dt>Allowed origins</dt>
        <dd>{record.allowed_origins === null ? "any" : record.allowed_origins.join(", ")}</dd>
        <dt>Status</dt>
        <dd>
          <Status record={record} unusual={unusual} />
        </dd>
        <dt>Plan</dt>
        <dd>
          <PlanLimits record={record} />
        </dd>
        <dt>Limits</dt>
        <dd data-limits>
          {count(record.limits.rate)} per second, burst {count(record.limits.burst)}, {count(record.limits.daily)} per day (UTC)
        </dd>
        <dt>Today</dt>
        <dd>
          <TodayAgainstQuota today={days.at(-1) ?? { at: "", requests: 0, rejected: 0, denied: 0 }} daily={record.limits.daily} />
        </dd>
        <dt>Created</dt>
        <dd>
          {when(record.created_at)} ({countOf(record.age_days, "day")} ago)
        </dd>
        <dt>Expires</dt>
        <dd>
          {when(record.expires_at)}
          {record.expires_at !== null && record.status !== "revoked" && (
            <>
              {" "}
              (<Countdown to={record.expires_at} />)
            </>
          )}
        </dd>
        <dt>Last used</dt>
        <dd>{when(record.last_used_at)}</dd>
        {replaces && (
          <>
            <dt>Replaces</dt>
            <dd>
              <KeyLink name={replaces} /> · <a href={`/dashboard/keys/${replaces.id}/rotation`}>rotation</a>
            </dd>
          </>
        )}
        {replacedBy && (
          <>
            <dt>Replaced by</dt>
            <dd>
              <KeyLink name={replacedBy} />
            </dd>
          </>
        )}
      </dl>
    </div>

    {rotation && <RotationSummary rotation={rotation} keyId={record.id} />}

    {offers.why && <p class="muted">{offers.why}</p>}
    {offers.edit && (
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
    )}
    {offers.roll && (
      <div class="box">
        <h2>Rotate</h2>
        <p>
          AUTH-DOCS: rotate keys every 90 days. <a href={`/dashboard/keys/${record.id}/rotation`}>Rotate step by step</a>, or:
        </p>
        <RollForm keyId={record.id} />
      </div>
    )}
    {offers.revoke && (
      <div class="box">
        <h2>Revoke (delete)</h2>
        <RevokeForm keyId={record.id} />
      </div>
    )}

    <UsageCharts days={days} minutes={minutes} what="this key" />
  </>
);

export const ActivityPage: FC<{ entries: AuditRecord[]; keys: ReadonlyMap<string, KeyName>; limit: number }> = ({ entries, keys, limit }) => (
  <>
    <h1>Activity</h1>
    <p class="muted">Every change to this project's keys, newest first (the last {limit}): who made it — a key of the project, or the operator — and from which address.</p>
    <ol class="box" reversed>
      {entries.map((entry) => {
        const sentence = describeEntry(entry, keys);
        return (
          <li data-audit-id={entry.id}>
            <span data-sentence>
              {sentence.verb}
              {sentence.target && (
                <>
                  {" "}
                  <KeyLink name={sentence.target} />
                </>
              )}
              {sentence.rest}.
            </span>{" "}
            <span class="muted">
              {when(entry.at)} · by {typeof sentence.actor === "string" ? sentence.actor : `'${sentence.actor.label}' (${sentence.actor.display})`}
              {entry.ip && ` · from ${entry.ip}`}
            </span>
          </li>
        );
      })}
    </ol>
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
