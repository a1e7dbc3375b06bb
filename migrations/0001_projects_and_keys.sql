-- Projects and their API keys.
-- Only a keyed hash of each key is stored (HMAC-SHA-256 with KEY_HASH_SECRET, hex): a dump of
-- this table cannot be replayed against the gateway. The plaintext is returned once, at creation.
CREATE TABLE projects (
  id          TEXT PRIMARY KEY,            -- proj_…
  name        TEXT NOT NULL,
  created_at  TEXT NOT NULL                -- ISO 8601, UTC
);

CREATE TABLE api_keys (
  id              TEXT PRIMARY KEY,        -- key_… (public id, safe to log)
  project_id      TEXT NOT NULL REFERENCES projects(id),
  key_hash        TEXT NOT NULL UNIQUE,    -- hex HMAC-SHA-256(KEY_HASH_SECRET, key)
  type            TEXT NOT NULL CHECK (type IN ('public', 'secret')),
  environment     TEXT NOT NULL CHECK (environment IN ('test', 'live')),
  label           TEXT NOT NULL,
  scopes          TEXT,                    -- JSON array; NULL = unrestricted (secret) / fixed set (public)
  allowed_origins TEXT,                    -- JSON array; NULL = any origin (public keys only)
  prefix          TEXT NOT NULL,           -- "sk_live_", for display
  last4           TEXT NOT NULL,           -- last 4 characters, for display
  status          TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'revoked')),
  created_at      TEXT NOT NULL,
  expires_at      TEXT,
  revoked_at      TEXT,
  last_used_at    TEXT
);

CREATE INDEX api_keys_by_project ON api_keys (project_id, created_at);
