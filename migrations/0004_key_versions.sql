-- One writer per key (DESIGN.md): each key's KeyLimiter object applies every change to the key's
-- mutable state in order and numbers the result. A row records the version it holds, and is only
-- ever overwritten by a newer one (UPDATE … WHERE version < ?), so a late or repeated write of an
-- older state can never undo a newer one — a revoke above all. Existing rows start at 1.
ALTER TABLE api_keys ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
