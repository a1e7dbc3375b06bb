/**
 * Following a rotation: the old key's summary on its page, and AUTH-DOCS' four steps as a
 * guided page (create the replacement, update applications, verify, revoke).
 */
import type { FC } from "hono/jsx";
import type { KeyRecord, TrafficCount } from "../lifecycle";
import { count, Countdown, RevokeForm, RollForm, Status, when } from "./components";
import type { Offers } from "./offers";
import { duration, type Rotation } from "./rotation";

const ROTATION_STATES = { revoked: "revoked", in_use: "still in use", safe_to_revoke: "safe to revoke" } as const;

export const RotationSummary: FC<{ rotation: Rotation; keyId: string }> = ({ rotation, keyId }) => (
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

