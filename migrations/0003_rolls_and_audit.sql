-- Rolling a key (Stripe's model): the replacement points back at the key it replaced, and the
-- old key at its replacement, so a key is rolled at most once and the chain can be followed.
ALTER TABLE api_keys ADD COLUMN rolled_to TEXT;
ALTER TABLE api_keys ADD COLUMN rolled_from TEXT;

-- Every management action, by whom (a key id — never the key — or "operator"), on what, when and
-- from which IP. `details` holds the changed fields (labels, scopes, limits), never a key or hash.
CREATE TABLE audit_log (
  id          TEXT PRIMARY KEY,              -- aud_…
  project_id  TEXT NOT NULL,
  actor       TEXT NOT NULL,                 -- key_… or "operator"
  action      TEXT NOT NULL,                 -- project.create, key.create, key.update, key.limits, key.roll, key.revoke
  target_id   TEXT,                          -- the key acted on
  ip          TEXT,                          -- CF-Connecting-IP, when there is one
  at          TEXT NOT NULL,                 -- ISO 8601, UTC
  details     TEXT                           -- JSON
);

CREATE INDEX audit_log_by_project ON audit_log (project_id, at);
