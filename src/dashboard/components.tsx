/**
 * Pieces several dashboard pages share: how counts, times and permissions read, a key's status
 * badges and link, today against its quota, a countdown, and the roll and revoke forms.
 */
import type { FC } from "hono/jsx";
import type { KeyRecord, TrafficCount } from "../lifecycle";
import type { KeyName } from "./activity";
import { duration } from "./rotation";
import type { Unusual } from "./unusual";

export const count = (n: number) => n.toLocaleString("en-US");
export const when = (iso: string | null) => (iso === null ? "—" : iso.replace("T", " ").replace(/(:\d\d)(\.\d+)?Z$/, "$1 UTC"));
export const percent = (part: number, whole: number) => {
  const share = whole === 0 ? 0 : Math.min(100, (part / whole) * 100);
  return part > 0 && share < 0.1 ? "under 0.1 %" : `${share.toFixed(1)} %`;
};

export function permissions(record: KeyRecord): string {
  if (record.type === "public") return "public set";
  return record.scopes === null ? "full access" : record.scopes.join(", ");
}

/** A countdown the served script keeps current; the server's text stands without it. */
export const Countdown: FC<{ to: string }> = ({ to }) => {
  const left = Date.parse(to) - Date.now();
  return <span data-countdown-to={String(Date.parse(to))}>{left > 0 ? `in ${duration(left)}` : `${duration(left)} ago`}</span>;
};

export const Status: FC<{ record: KeyRecord; unusual?: Unusual | null }> = ({ record, unusual }) => (
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

export const KeyLink: FC<{ name: KeyName | { id: string } }> = ({ name }) =>
  "label" in name ? (
    <a href={`/dashboard/keys/${name.id}`}>
      '{name.label}' ({name.display})
    </a>
  ) : (
    <a href={`/dashboard/keys/${name.id}`}>{name.id}</a>
  );

/** Today against the daily quota, as a meter and in words. */
export const TodayAgainstQuota: FC<{ today: TrafficCount; daily: number }> = ({ today, daily }) => (
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

const ROLL_CHOICES = [
  [0, "at once"],
  [3_600, "in 1 hour"],
  [86_400, "in 24 hours"],
  [604_800, "in 7 days"],
] as const;

export const RollForm: FC<{ keyId: string }> = ({ keyId }) => (
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

export const RevokeForm: FC<{ keyId: string; safe?: boolean }> = ({ keyId }) => (
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

