/**
 * The dashboard's pages, rendered on the server with hono/jsx: plain HTML forms that work with a
 * keyboard and without a script; the served script (assets.ts) adds copy buttons, countdowns and
 * the charts. Values are escaped by JSX. Tables are `cards` on a phone (layout.tsx).
 */
import { raw } from "hono/html";
import type { FC } from "hono/jsx";
import type { AuditRecord, KeyRecord, TrafficCount } from "../lifecycle";
import { SCOPES } from "../policy/routes";
import { describeEntry, type KeyName } from "./activity";
import type { Offers } from "./offers";
import { duration, type Rotation } from "./rotation";
import type { Unusual } from "./unusual";

export { Layout } from "./layout";

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

const count = (n: number) => n.toLocaleString("en-US");
export const when = (iso: string | null) => (iso === null ? "—" : iso.replace("T", " ").replace(/(:\d\d)(\.\d+)?Z$/, "$1 UTC"));
const percent = (part: number, whole: number) => {
  const share = whole === 0 ? 0 : Math.min(100, (part / whole) * 100);
  return part > 0 && share < 0.1 ? "under 0.1 %" : `${share.toFixed(1)} %`;
};

function permissions(record: KeyRecord): string {
  if (record.type === "public") return "public set";
  return record.scopes === null ? "full access" : record.scopes.join(", ");
}

/** A countdown the served script keeps current; the server's text stands without it. */
const Countdown: FC<{ to: string }> = ({ to }) => {
  const left = Date.parse(to) - Date.now();
  return <span data-countdown-to={String(Date.parse(to))}>{left > 0 ? `in ${duration(left)}` : `${duration(left)} ago`}</span>;
};

const Status: FC<{ record: KeyRecord; unusual?: Unusual | null }> = ({ record, unusual }) => (
  <>
    <span class={`badge ${record.status}`}>{record.status}</span>
    {record.rotation_due && <span class="badge due">rotation due</span>}
    {record.rolled_to !== null && record.status === "active" && <span class="badge expiring">replaced</span>}
    {record.status === "active" && record.expires_at !== null && (
      <span class="badge expiring">
        expires <Countdown to={record.expires_at} />
      </span>
    )}
    {unusual && <span class="badge unusual" title={unusual.reason}>unusual activity</span>}
  </>
);

const KeyLink: FC<{ name: KeyName | { id: string } }> = ({ name }) =>
  "label" in name ? (
    <a href={`/dashboard/keys/${name.id}`}>
      '{name.label}' ({name.display})
    </a>
  ) : (
    <a href={`/dashboard/keys/${name.id}`}>{name.id}</a>
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

/** Today against the daily quota, as a meter and in words. */
const TodayAgainstQuota: FC<{ today: TrafficCount; daily: number }> = ({ today, daily }) => (
  <>
    {count(today.requests)} of {count(daily)} ({percent(today.requests, daily)})<br />
    <meter min={0} max={daily} value={today.requests} aria-label="Today against the daily quota"></meter>
    {today.rejected + today.denied > 0 && (
      <>
        <br />
        <span class="muted">
          refused: {count(today.rejected)} × 429, {count(today.denied)} × 401/403
        </span>
      </>
    )}
  </>
);

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

/** A chart's data: one series per kind of outcome, aligned on `at`. */
export interface ChartSeries {
  unit: "day" | "minute";
  at: string[];
  requests: number[];
  rejected: number[];
  denied: number[];
}

export function chartSeries(unit: "day" | "minute", slots: readonly TrafficCount[]): ChartSeries {
  return {
    unit,
    at: slots.map((slot) => slot.at),
    requests: slots.map((slot) => slot.requests),
    rejected: slots.map((slot) => slot.rejected),
    denied: slots.map((slot) => slot.denied),
  };
}

/** Usage as two charts (30 days, the last hour) with the same numbers as a table for screen readers and no-script. */
export const UsageCharts: FC<{ days: TrafficCount[]; minutes: TrafficCount[]; what: string }> = ({ days, minutes, what }) => {
  const data = { days: chartSeries("day", days), minutes: chartSeries("minute", minutes) };
  const total = (slots: TrafficCount[], pick: (slot: TrafficCount) => number) => count(slots.reduce((sum, slot) => sum + pick(slot), 0));
  return (
    <section aria-labelledby="usage-heading">
      <h2 id="usage-heading">Usage of {what}</h2>
      <p class="muted">
        Admitted requests, requests refused with 429 (rate limit or daily quota) and refused with 401/403 (revoked, expired, missing
        permission, origin not allowed). Counts reach these charts within seconds of the traffic. Times are UTC.
      </p>
      <div class="charts">
        <figure class="box">
          <figcaption>
            <strong>Last {days.length} days</strong>: {total(days, (d) => d.requests)} admitted, {total(days, (d) => d.rejected)} × 429,{" "}
            {total(days, (d) => d.denied)} × 401/403
          </figcaption>
          <div class="chart" data-series="days" role="img" aria-label={`Requests per day over the last ${days.length} days`}></div>
        </figure>
        <figure class="box">
          <figcaption>
            <strong>Last hour, per minute</strong>: {total(minutes, (d) => d.requests)} admitted, {total(minutes, (d) => d.rejected)} × 429,{" "}
            {total(minutes, (d) => d.denied)} × 401/403
          </figcaption>
          <div class="chart" data-series="minutes" role="img" aria-label="Requests per minute over the last hour"></div>
        </figure>
      </div>
      <script type="application/json" id="chart-data">
        {raw(JSON.stringify(data).replaceAll("<", "\\u003c"))}
      </script>
      <details>
        <summary>The days as a table</summary>
        <table class="cards">
          <thead>
            <tr>
              <th scope="col">Day</th>
              <th scope="col">Admitted</th>
              <th scope="col">Refused 429</th>
              <th scope="col">Refused 401/403</th>
            </tr>
          </thead>
          <tbody>
            {[...days].reverse().map((day) => (
              <tr data-day={day.at}>
                <td data-label="Day">{day.at}</td>
                <td data-label="Admitted">{count(day.requests)}</td>
                <td data-label="Refused 429">{count(day.rejected)}</td>
                <td data-label="Refused 401/403">{count(day.denied)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </details>
    </section>
  );
};

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
          {when(record.created_at)} ({record.age_days} days ago)
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

const RollForm: FC<{ keyId: string }> = ({ keyId }) => (
  <form method="post" action={`/dashboard/keys/${keyId}/roll`}>
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
);

const RevokeForm: FC<{ keyId: string; safe?: boolean }> = ({ keyId }) => (
  <form method="post" action={`/dashboard/keys/${keyId}/revoke`}>
    <label class="plain">
      <input type="checkbox" name="confirm" value="yes" required /> Every request with this key is refused from the next one on,
      everywhere (events a busy key is sending: within 2 seconds at most). This cannot be undone.
    </label>
    <button type="submit" class="danger">
      Revoke key
    </button>
  </form>
);

const ROTATION_STATES = { revoked: "revoked", in_use: "still in use", safe_to_revoke: "safe to revoke" } as const;

const RotationSummary: FC<{ rotation: Rotation; keyId: string }> = ({ rotation, keyId }) => (
  <div class="box" data-rotation={rotation.state}>
    <h2>
      Rotation: <span class={`badge ${rotation.state}`}>{ROTATION_STATES[rotation.state]}</span>
    </h2>
    <RotationFacts rotation={rotation} />
    <p>
      <a href={`/dashboard/keys/${keyId}/rotation`}>Follow the rotation step by step</a>
    </p>
  </div>
);

const RotationFacts: FC<{ rotation: Rotation }> = ({ rotation }) => (
  <dl class="facts">
    <dt>Replaced</dt>
    <dd>{when(rotation.rolledAt)}</dd>
    <dt>Stops working</dt>
    <dd>
      {rotation.expiresInMs === null ? "revoked" : rotation.expiresInMs > 0 ? `in ${duration(rotation.expiresInMs)}` : `${duration(rotation.expiresInMs)} ago (expired)`}
    </dd>
    <dt>Last used</dt>
    <dd>{when(rotation.lastUsedAt)}</dd>
    <dt>Traffic since the roll</dt>
    <dd data-since-roll={String(rotation.sinceRoll.requests)}>
      {count(rotation.sinceRoll.requests)} admitted, {count(rotation.sinceRoll.refused)} refused
      <span class="muted"> (counted from {when(rotation.sinceRoll.from)})</span>
    </dd>
  </dl>
);

/** AUTH-DOCS "Key Rotation", as four steps for one key and its replacement. */
export const RotationPage: FC<{ old: KeyRecord; replacement?: KeyRecord; rotation?: Rotation; offers: Offers; replacementToday?: TrafficCount }> = ({
  old,
  replacement,
  rotation,
  offers,
  replacementToday,
}) => {
  const done = (yes: boolean) => (yes ? <span class="done">✓ done</span> : null);
  return (
    <>
      <h1>Rotate '{old.label}'</h1>
      <p>
        <a href={`/dashboard/keys/${old.id}`}>
          {old.label} ({old.display})
        </a>{" "}
        <Status record={old} />
      </p>
      <ol class="steps">
        <li data-step="create">
          <h2>Create new key {done(replacement !== undefined)}</h2>
          {replacement ? (
            <p>
              Replaced by{" "}
              <a href={`/dashboard/keys/${replacement.id}`}>
                '{replacement.label}' ({replacement.display})
              </a>{" "}
              on {when(replacement.created_at)}, with the same settings.
            </p>
          ) : offers.roll ? (
            <>
              <p>The replacement gets this key's type, permissions, origins and limits; choose how long this key keeps working.</p>
              <RollForm keyId={old.id} />
            </>
          ) : (
            <p class="muted">{offers.why ?? "This key cannot be rolled."}</p>
          )}
        </li>
        <li data-step="update">
          <h2>Update applications</h2>
          <p>
            Deploy your applications with the new key: set it where they read it (an environment variable or your CI/CD secrets), never in
            source code.
            {old.expires_at !== null && old.status !== "revoked" && (
              <>
                {" "}
                The old key stops working <Countdown to={old.expires_at} /> ({when(old.expires_at)}).
              </>
            )}
          </p>
        </li>
        <li data-step="verify">
          {/* Verified: the new key carries traffic, and the old key's has stopped. */}
          <h2>Verify functionality {done(replacement?.last_used_at != null && (rotation?.state === "safe_to_revoke" || rotation?.state === "revoked"))}</h2>
          {rotation && replacement ? (
            <>
              <p>
                The new key: {count(replacementToday?.requests ?? 0)} admitted requests today, last used {when(replacement.last_used_at)}.
                The old key: <span class={`badge ${rotation.state}`}>{ROTATION_STATES[rotation.state]}</span>
              </p>
              {replacement.last_used_at === null && <p class="muted">No request with the new key has been counted yet (counts arrive within seconds).</p>}
              <RotationFacts rotation={rotation} />
              {rotation.state === "in_use" && (
                <p class="box warn">
                  Something still sends the old key. Find the application that does and deploy the new key there; this turns to "safe to
                  revoke" once the old key has had no traffic for 15 minutes.
                </p>
              )}
            </>
          ) : (
            <p class="muted">Once the replacement exists, this shows whether the old key still gets traffic.</p>
          )}
        </li>
        <li data-step="revoke">
          <h2>Revoke old key {done(old.status === "revoked")}</h2>
          {old.status === "revoked" ? (
            <p>Revoked on {when(old.revoked_at)}. The rotation is complete.</p>
          ) : offers.revoke && replacement ? (
            <>
              {rotation?.state === "safe_to_revoke" ? (
                <p class="box notice">Safe to revoke: the old key's traffic has stopped.</p>
              ) : (
                <p class="box warn">Not yet safe: the old key still gets traffic, and revoking it cuts those requests off at once.</p>
              )}
              <RevokeForm keyId={old.id} />
            </>
          ) : (
            <p class="muted">After the replacement is in use everywhere.</p>
          )}
        </li>
      </ol>
    </>
  );
};

export interface KeyUsageRow {
  name: KeyName;
  today: TrafficCount;
  daily: number;
  unusual: Unusual | null;
}

export const UsagePage: FC<{ days: TrafficCount[]; minutes: TrafficCount[]; rows: KeyUsageRow[]; environment: string }> = ({ days, minutes, rows, environment }) => (
  <>
    <h1>Usage</h1>
    <UsageCharts days={days} minutes={minutes} what={environment === "test" ? "the project's test keys" : "the whole project"} />
    <h2>Today, per key</h2>
    <table class="cards">
      <thead>
        <tr>
          <th scope="col">Key</th>
          <th scope="col">Today against the daily quota</th>
          <th scope="col">Flag</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((row) => (
          <tr data-key-id={row.name.id}>
            <td data-label="Key">
              <KeyLink name={row.name} />
            </td>
            <td data-label="Today">
              <TodayAgainstQuota today={row.today} daily={row.daily} />
            </td>
            <td data-label="Flag">{row.unusual ? <span class="badge unusual" title={row.unusual.reason}>unusual activity</span> : "—"}</td>
          </tr>
        ))}
      </tbody>
    </table>
    {rows.length === 0 && <p class="muted">No traffic today.</p>}
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
