-- The dashboard's usage charts (issue 16): refusals by 401/403 per key and day, and the last hour
-- minute by minute. Written only by each key's KeyLimiter alarm, in the batch that flushes the
-- day totals (never one write per request), as totals merged with max() like usage_daily.
ALTER TABLE usage_daily ADD COLUMN denied INTEGER NOT NULL DEFAULT 0;  -- refused 401/403 by the key's object

CREATE TABLE usage_minute (
  key_id      TEXT NOT NULL,
  project_id  TEXT NOT NULL,
  minute      TEXT NOT NULL,                 -- UTC, YYYY-MM-DDTHH:MM
  requests    INTEGER NOT NULL DEFAULT 0,    -- admitted
  rejected    INTEGER NOT NULL DEFAULT 0,    -- 429 by the rate limit or the daily quota
  denied      INTEGER NOT NULL DEFAULT 0,    -- 401/403 by the key's object
  PRIMARY KEY (key_id, minute)
);

-- Each flush deletes its key's rows older than two hours: the table stays about an hour deep.
CREATE INDEX usage_minute_by_project ON usage_minute (project_id, minute);
