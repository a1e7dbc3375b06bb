-- Per-key limit overrides (NULL = the default for the key's type, API.md §3) and daily usage.
ALTER TABLE api_keys ADD COLUMN rate_limit INTEGER;    -- tokens per second
ALTER TABLE api_keys ADD COLUMN burst_limit INTEGER;   -- bucket size
ALTER TABLE api_keys ADD COLUMN daily_quota INTEGER;   -- admitted requests per UTC day

-- Written only by each key's KeyLimiter alarm, one upsert per key and day per flush. The values
-- are the day's running totals as the object counted them, merged with max(): a flush that is
-- repeated (alarms can run twice) or retried after a D1 failure writes the same or a larger
-- total, never a double count.
CREATE TABLE usage_daily (
  key_id      TEXT NOT NULL,
  project_id  TEXT NOT NULL,
  day         TEXT NOT NULL,                 -- UTC, YYYY-MM-DD
  requests    INTEGER NOT NULL DEFAULT 0,    -- admitted
  rejected    INTEGER NOT NULL DEFAULT 0,    -- refused by the rate limit or the daily quota (429)
  PRIMARY KEY (key_id, day)
);

CREATE INDEX usage_daily_by_project ON usage_daily (project_id, day);
